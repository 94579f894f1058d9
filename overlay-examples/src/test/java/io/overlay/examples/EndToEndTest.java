package io.overlay.examples;

import static io.overlay.testing.Await.awaitTrue;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The demo's scenario as a test: etcd in an infra namespace that owns the underlay bridge (198.18.0.254), three hosts
 * (198.18.0.1-3) each running {@link OverlayMain} as its own process ({@code ip netns exec <ns> java -cp <test class
 * path> io.overlay.examples.OverlayMain ...}) with a bridge, and two containers per host. Asserts what flanneld
 * would leave behind (etcd keys and values byte for byte, {@code subnet.env}), the health lines, reachability of every
 * container pair across hosts, that a SIGKILLed host comes back with the same subnet, and that SIGTERM exits cleanly
 * keeping the lease, and that a host whose key another host takes at runtime stops delivering for that subnet and
 * moves to a new one (subnet.env, bridge, TUN). Logs go to {@code target/e2e/}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class EndToEndTest {
    private static final String ETCD_IP = "198.18.0.254";
    private static final String ETCD = "http://" + ETCD_IP + ":2379";
    private static final String CONFIG = "{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}";
    private static final int HEALTH_PORT = 8471;
    private static final int HOSTS = 3;
    private static final int CONTAINERS = 2;
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
    private static final Pattern KV = Pattern.compile("\\{\"key\":\"([A-Za-z0-9+/=]*)\",[^{}]*?\"value\":\"([A-Za-z0-9+/=]*)\"");
    private static final Pattern SUBNET_KEY = Pattern.compile("/coreos\\.com/network/subnets/(100\\.64\\.\\d+\\.0-24)");

    private final Path logs = Path.of("target", "e2e").toAbsolutePath();
    private final List<Netns> namespaces = new ArrayList<>();
    private Path dir;
    private Netns infra;
    private final Host[] hosts = new Host[HOSTS + 1];
    private final Map<String, Container> containers = new TreeMap<>();

    /** One host namespace with its OverlayMain process. */
    private static final class Host {
        final int n;
        final Netns ns;
        final Path subnetEnv;
        Process process;
        int starts;

        Host(final int n, final Netns ns, final Path subnetEnv) {
            this.n = n;
            this.ns = ns;
            this.subnetEnv = subnetEnv;
        }

        String publicIp() {
            return "198.18.0." + n;
        }
    }

    /** A container namespace attached to its host's bridge. */
    private record Container(String name, int host, Netns ns, String address) {
    }

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        Files.createDirectories(logs);
        for (String log : List.of("etcd.log", "h1.log", "h2.log", "h3.log")) {
            Files.deleteIfExists(logs.resolve(log));
        }
        dir = Files.createTempDirectory("overlay-e2e-");
        infra = track(Netns.create());
        infra.exec("ip", "link", "add", "ul0", "type", "bridge");
        infra.exec("ip", "addr", "add", ETCD_IP + "/24", "dev", "ul0");
        infra.exec("ip", "link", "set", "ul0", "up");
        infra.spawn(new ProcessBuilder("/usr/bin/etcd", "--name", "e2e", "--data-dir", dir.resolve("etcd").toString(),
            "--listen-client-urls", ETCD, "--advertise-client-urls", ETCD,
            "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "e2e=http://127.0.0.1:2380").redirectErrorStream(true)
            .redirectOutput(logs.resolve("etcd.log").toFile()));
        awaitTrue("etcd health", Duration.ofSeconds(30), () -> {
            try {
                etcdctl("endpoint", "health");
                return true;
            } catch (IOException e) {
                return false;
            }
        });
        etcdctl("put", "/coreos.com/network/config", CONFIG);

        for (int h = 1; h <= HOSTS; h++) {
            final Netns ns = track(Netns.create());
            Netns.run("ip", "-n", infra.name(), "link", "add", "ul-h" + h, "type", "veth", "peer", "name", "eth0",
                "netns", ns.name());
            infra.exec("ip", "link", "set", "ul-h" + h, "master", "ul0", "up");
            ns.exec("ip", "addr", "add", "198.18.0." + h + "/24", "dev", "eth0");
            ns.exec("ip", "link", "set", "eth0", "mtu", "1500", "up");
            ns.exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
            hosts[h] = new Host(h, ns, dir.resolve("h" + h).resolve("subnet.env"));
            start(hosts[h]);
        }
        for (int h = 1; h <= HOSTS; h++) {
            awaitReady(hosts[h]);
        }
        for (int h = 1; h <= HOSTS; h++) {
            final Map<String, String> env = subnetEnv(hosts[h]);
            final String gateway = env.get("FLANNEL_SUBNET").split("/")[0];
            final String base = gateway.substring(0, gateway.lastIndexOf('.') + 1);
            final String mtu = env.get("FLANNEL_MTU");
            for (int c = 1; c <= CONTAINERS; c++) {
                final Netns ns = track(Netns.create());
                final String name = "h" + h + "c" + c;
                hosts[h].ns.exec("ip", "link", "add", "vc" + c, "type", "veth", "peer", "name", "eth0", "netns",
                    ns.name());
                hosts[h].ns.exec("ip", "link", "set", "vc" + c, "mtu", mtu, "master", "cbr0", "up");
                final String address = base + (c + 1);
                ns.exec("ip", "addr", "add", address + "/24", "dev", "eth0");
                ns.exec("ip", "link", "set", "eth0", "mtu", mtu, "up");
                ns.exec("ip", "route", "add", "default", "via", gateway);
                containers.put(name, new Container(name, h, ns, address));
            }
        }
    }

    @AfterAll
    void tearDown() throws IOException {
        for (int i = namespaces.size() - 1; i >= 0; i--) {
            namespaces.get(i).close();
        }
        if (dir != null) {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private Netns track(final Netns ns) {
        namespaces.add(ns);
        return ns;
    }

    private String etcdctl(final String... args) throws IOException {
        final List<String> cmd = new ArrayList<>(List.of("env", "ETCDCTL_API=3", "/usr/bin/etcdctl", "--endpoints",
            ETCD, "--dial-timeout", "2s", "--command-timeout", "5s"));
        cmd.addAll(List.of(args));
        return infra.exec(cmd.toArray(String[]::new));
    }

    private static List<String> java(final String mainClass, final String... args) {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isEmpty()) {
            cp = System.getProperty("java.class.path");
        }
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp, mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private void start(final Host host) throws IOException {
        host.starts++;
        host.process = host.ns.spawn(new ProcessBuilder(java(OverlayMain.class.getName(),
            "--etcd-endpoints", ETCD, "--iface", "eth0", "--bridge", "cbr0",
            "--subnet-file", host.subnetEnv.toString(), "--healthz-ip", "127.0.0.1",
            "--healthz-port", Integer.toString(HEALTH_PORT)))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(logs.resolve("h" + host.n + ".log").toFile())));
    }

    /** Runs {@code OverlayMain health} inside the host's namespace: exit status and printed line. */
    private Map.Entry<Integer, String> health(final Host host) throws Exception {
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", host.ns.name()));
        cmd.addAll(java(OverlayMain.class.getName(), "health", "--healthz-port", Integer.toString(HEALTH_PORT)));
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("health subcommand timed out in h" + host.n);
        }
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        return Map.entry(p.exitValue(), out);
    }

    private void awaitReady(final Host host) throws Exception {
        awaitTrue("subnet.env of h" + host.n, READY_TIMEOUT, () -> Files.size(host.subnetEnv) > 0
            || !host.process.isAlive());
        assertThat(host.process.isAlive()).as("OverlayMain of h%d runs (see target/e2e/h%d.log)", host.n, host.n)
            .isTrue();
        awaitTrue("/readyz of h" + host.n, READY_TIMEOUT, () -> readyz(host) == 200);
    }

    /**
     * Asks /readyz from inside the host namespace: HttpURLConnection connects on the calling thread, which
     * {@code NetnsThread} put into the namespace; "Connection: close" keeps the socket out of the JDK's keep-alive
     * cache, which is keyed by host and port only and would mix the hosts' namespaces.
     */
    private int readyz(final Host host) throws Exception {
        return io.overlay.tun.NetnsThread.call(host.ns.name(), () -> {
            final HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + HEALTH_PORT + "/readyz")
                .openConnection(java.net.Proxy.NO_PROXY);
            c.setConnectTimeout(1000);
            c.setReadTimeout(2000);
            c.setRequestProperty("Connection", "close");
            try {
                return c.getResponseCode();
            } catch (IOException notYet) {
                return -1;
            } finally {
                c.disconnect();
            }
        });
    }

    private static Map<String, String> subnetEnv(final Host host) throws IOException {
        return subnetEnv(host.subnetEnv);
    }

    private static Map<String, String> subnetEnv(final Path file) throws IOException {
        final Map<String, String> vars = new LinkedHashMap<>();
        for (String line : Files.readAllLines(file)) {
            final int eq = line.indexOf('=');
            vars.put(line.substring(0, eq), line.substring(eq + 1));
        }
        return vars;
    }

    /**
     * The subnet keys in etcd: subnet key suffix (e.g. {@code 100.64.7.0-24}) to the value's exact bytes as UTF-8
     * text, read with {@code etcdctl get -w json} (keys and values base64-encoded, so nothing is trimmed or escaped).
     */
    private Map<String, String> leases() throws IOException {
        final String json = etcdctl("get", "--prefix", "/coreos.com/network/subnets", "-w", "json");
        final Matcher kv = KV.matcher(json);
        final Map<String, String> result = new TreeMap<>();
        while (kv.find()) {
            final String key = new String(Base64.getDecoder().decode(kv.group(1)), StandardCharsets.UTF_8);
            final Matcher m = SUBNET_KEY.matcher(key);
            assertThat(m.matches()).as("subnet key %s", key).isTrue();
            result.put(m.group(1), new String(Base64.getDecoder().decode(kv.group(2)), StandardCharsets.UTF_8));
        }
        return result;
    }

    private static String keyOf(final Map<String, String> subnetEnv) {
        final Ipv4Prefix subnet = Ipv4Prefix.parseMasked(subnetEnv.get("FLANNEL_SUBNET"));
        return subnet.toString().replace('/', '-');
    }

    /**
     * Pings every container from every container on another host ({@code ping -c 2 -W 2}); pairs that fail are
     * retried for up to 15 s (a host that just became ready may still be learning its peers from etcd).
     *
     * @return the pairs still unreachable, e.g. {@code h1c1 100.64.7.2 -> h2c1 100.64.9.2}
     */
    private List<String> unreachablePairs() throws Exception {
        List<Container[]> pending = new ArrayList<>();
        for (Container src : containers.values()) {
            for (Container dst : containers.values()) {
                if (src.host() != dst.host()) {
                    pending.add(new Container[] {src, dst});
                }
            }
        }
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
            final List<Container[]> failed = new ArrayList<>();
            for (Container[] pair : pending) {
                try {
                    pair[0].ns().exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "-q", pair[1].address());
                } catch (IOException e) {
                    failed.add(pair);
                }
            }
            if (failed.isEmpty() || System.nanoTime() > deadline) {
                return failed.stream().map(p -> p[0].name() + " " + p[0].address() + " -> " + p[1].name() + " "
                    + p[1].address()).toList();
            }
            pending = failed;
            Thread.sleep(1000);
        }
    }

    @Test
    @Order(1)
    void hostsHoldDistinctSubnetsWrittenAsFlannelWritesThem() throws Exception {
        final Map<String, String> leases = leases();
        assertThat(leases).hasSize(HOSTS);
        assertThat(etcdctl("get", "/coreos.com/network/config", "--print-value-only").strip()).isEqualTo(CONFIG);
        final List<String> keys = new ArrayList<>();
        for (int h = 1; h <= HOSTS; h++) {
            final Map<String, String> env = subnetEnv(hosts[h]);
            final String key = keyOf(env);
            keys.add(key);
            assertThat(leases).containsEntry(key, "{\"PublicIP\":\"" + hosts[h].publicIp() + "\",\"PublicIPv6\":null}");
            final Ipv4Prefix subnet = Ipv4Prefix.parseMasked(env.get("FLANNEL_SUBNET"));
            assertThat(Files.readString(hosts[h].subnetEnv)).isEqualTo(
                "FLANNEL_NETWORK=100.64.0.0/16\n"
                    + "FLANNEL_SUBNET=" + subnet.toString().replaceFirst("\\.0/24$", ".1/24") + "\n"
                    + "FLANNEL_MTU=1472\n"
                    + "FLANNEL_IPMASQ=false\n");
            assertThat(subnet.length()).isEqualTo(24);
            assertThat(Ipv4Prefix.parse("100.64.0.0/16").contains(subnet)).isTrue();
            assertThat(subnet).isNotEqualTo(Ipv4Prefix.parse("100.64.0.0/24")); // SubnetMin skips the first
        }
        assertThat(keys).doesNotHaveDuplicates();
        // Attached to a 24 h etcd lease, as flannel's subnetTTL.
        final String json = etcdctl("get", "/coreos.com/network/subnets/" + keys.get(0), "-w", "json");
        final Matcher lease = Pattern.compile("\"lease\":(\\d+)").matcher(json);
        assertThat(lease.find()).as("key has an etcd lease: %s", json).isTrue();
        final String ttl = etcdctl("lease", "timetolive", Long.toHexString(Long.parseLong(lease.group(1))));
        assertThat(ttl).contains("granted with TTL(86400s)");
    }

    @Test
    @Order(2)
    void everyHostReportsTheReadyHealthLine() throws Exception {
        for (int h = 1; h <= HOSTS; h++) {
            final String fs = subnetEnv(hosts[h]).get("FLANNEL_SUBNET");
            final Map.Entry<Integer, String> health = health(hosts[h]);
            assertThat(health.getValue()).isEqualTo("ready cbr0:" + fs.split("/")[0] + " subnet:" + fs + " mtu:1472");
            assertThat(health.getKey()).isZero();
            assertThat(hosts[h].ns.exec("ip", "-4", "-o", "addr", "show", "dev", "cbr0"))
                .contains("inet " + fs + " ");
            assertThat(hosts[h].ns.exec("ip", "link", "show", "dev", "cbr0")).contains("mtu 1472");
            assertThat(hosts[h].ns.exec("ip", "-j", "link", "show", "dev", "flannel0"))
                .as("--tun-txqueuelen's default").contains("\"txqlen\":2000");
        }
    }

    @Test
    @Order(3)
    void everyContainerReachesEveryContainerOnOtherHosts() throws Exception {
        assertThat(containers).hasSize(HOSTS * CONTAINERS);
        assertThat(unreachablePairs()).isEmpty();
    }

    @Test
    @Order(4)
    void aKilledHostComesBackWithTheSameSubnetAndReachability() throws Exception {
        final Host h2 = hosts[2];
        final String envBefore = Files.readString(h2.subnetEnv);
        final Map<String, String> leasesBefore = leases();

        h2.process.destroyForcibly(); // SIGKILL: no clean-up at all
        assertThat(h2.process.waitFor(10, TimeUnit.SECONDS)).isTrue();
        final Map.Entry<Integer, String> down = health(h2);
        assertThat(down.getKey()).isEqualTo(1);
        assertThat(down.getValue()).startsWith("not-ready cannot reach");

        start(h2);
        awaitReady(h2);
        assertThat(Files.readString(h2.subnetEnv)).isEqualTo(envBefore);
        assertThat(leases()).isEqualTo(leasesBefore);
        assertThat(health(h2).getKey()).isZero();
        // The peers already route to h2's subnet; reachability returns as soon as h2 forwards again.
        assertThat(unreachablePairs()).isEmpty();
    }

    @Test
    @Order(5)
    void sigtermExitsCleanlyAndKeepsTheLease() throws Exception {
        final Host h3 = hosts[3];
        final String key = keyOf(subnetEnv(h3));
        h3.process.destroy(); // SIGTERM
        assertThat(h3.process.waitFor(20, TimeUnit.SECONDS)).as("exits within 20 s of SIGTERM").isTrue();
        assertThat(h3.process.exitValue()).as("exit status on SIGTERM (flanneld: 0, \"Exiting cleanly\")").isZero();
        assertThat(Files.readString(logs.resolve("h3.log"))).contains("Exiting cleanly");
        assertThat(leases()).containsKey(key);
        assertThat(hosts[3].ns.exec("ip", "-o", "link", "show")).doesNotContain("flannel0");
    }

    @Test
    @Order(6)
    void whenItsSubnetIsTakenAHostMovesToANewOneAndTheBridgeFollows() throws Exception {
        final Host h3 = hosts[3];
        assertThat(h3.process.isAlive()).as("h3 was stopped by the SIGTERM test").isFalse();
        final Map<String, String> before = subnetEnv(h3);
        final String oldKey = keyOf(before);
        // While h3 is down an operator hands its subnet to another host (a reservation: a key without etcd lease).
        etcdctl("del", "/coreos.com/network/subnets/" + oldKey);
        etcdctl("put", "/coreos.com/network/subnets/" + oldKey, "{\"PublicIP\":\"198.18.0.99\",\"PublicIPv6\":null}");

        start(h3);
        awaitReady(h3);
        final Map<String, String> after = subnetEnv(h3);
        final String newKey = keyOf(after);
        assertThat(newKey).isNotEqualTo(oldKey);
        assertThat(leases()).containsEntry(newKey, "{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null}")
            .containsEntry(oldKey, "{\"PublicIP\":\"198.18.0.99\",\"PublicIPv6\":null}");
        final String fs = after.get("FLANNEL_SUBNET");
        assertThat(health(h3).getValue()).isEqualTo("ready cbr0:" + fs.split("/")[0] + " subnet:" + fs + " mtu:1472");
        final String bridgeAddresses = h3.ns.exec("ip", "-4", "-o", "addr", "show", "dev", "cbr0");
        assertThat(bridgeAddresses).contains("inet " + fs + " ").doesNotContain("inet " + before.get("FLANNEL_SUBNET"));
        assertThat(bridgeAddresses.lines().count()).isEqualTo(1);

        // Containers re-addressed from the new subnet (as a CNI plugin would) are reachable from the other hosts.
        final String gateway = fs.split("/")[0];
        final String base = gateway.substring(0, gateway.lastIndexOf('.') + 1);
        for (int c = 1; c <= CONTAINERS; c++) {
            final Container old = containers.get("h3c" + c);
            final String address = base + (c + 1);
            old.ns().exec("ip", "addr", "flush", "dev", "eth0");
            old.ns().exec("ip", "addr", "add", address + "/24", "dev", "eth0");
            old.ns().exec("ip", "route", "replace", "default", "via", gateway);
            containers.put(old.name(), new Container(old.name(), 3, old.ns(), address));
        }
        assertThat(unreachablePairs()).isEmpty();
    }

    @Test
    @Order(7)
    void theEmbeddedAgentExampleJoinsTheOverlay() throws Exception {
        final Netns ns = track(Netns.create());
        Netns.run("ip", "-n", infra.name(), "link", "add", "ul-h4", "type", "veth", "peer", "name", "eth0", "netns",
            ns.name());
        infra.exec("ip", "link", "set", "ul-h4", "master", "ul0", "up");
        ns.exec("ip", "addr", "add", "198.18.0.4/24", "dev", "eth0");
        ns.exec("ip", "link", "set", "eth0", "mtu", "1500", "up");
        // The example picks the default route's interface; the infra namespace forwards nothing anywhere.
        ns.exec("ip", "route", "add", "default", "via", ETCD_IP);
        ns.exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
        final Path out = logs.resolve("agent.log");
        Files.deleteIfExists(out);
        final Path env = dir.resolve("h4").resolve("subnet.env");
        final Process agent = ns.spawn(new ProcessBuilder(java(EmbeddedAgentExample.class.getName(), ETCD, "agbr0",
            env.toString())).redirectErrorStream(true).redirectOutput(out.toFile()));

        awaitTrue("the agent's ready line", READY_TIMEOUT,
            () -> Files.readString(out).contains("agent: ready ") || !agent.isAlive());
        final String fs = subnetEnv(env).get("FLANNEL_SUBNET");
        final String gateway = fs.split("/")[0];
        final String subnet1 = Ipv4Prefix.parseMasked(subnetEnv(hosts[1]).get("FLANNEL_SUBNET")).toString();
        awaitTrue("the agent hears of h1", Duration.ofSeconds(10),
            () -> Files.readString(out).contains("agent: host joined: " + subnet1));
        assertThat(Files.readString(out)).contains("agent: ready agbr0:" + gateway + " subnet:" + fs + " mtu:1472");
        assertThat(leases()).containsEntry(keyOf(subnetEnv(env)), "{\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}");
        // A container on h1 reaches the agent host's bridge address across the overlay.
        final Container c = containers.get("h1c1");
        awaitTrue("h1c1 reaches the agent's bridge " + gateway, Duration.ofSeconds(15), () -> {
            c.ns().exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "-q", gateway);
            return true;
        });
    }

    @Test
    @Order(8)
    void aHostWhoseKeyIsTakenAtRuntimeStopsDeliveringForItAndMovesToANewSubnet() throws Exception {
        final Host h1 = hosts[1];
        assertThat(h1.process.isAlive()).isTrue();
        final Map<String, String> before = subnetEnv(h1);
        final String oldKey = keyOf(before);
        final Container target = containers.get("h1c1");
        final String sender = containers.get("h2c1").address();
        // Control: a flannel-format datagram from a known peer (h2) for h1c1 is written to h1's TUN.
        assertThat(deliveredToTun(h1, hosts[2], sender, target.address(), 0x4f01)).as("control").isTrue();

        // While h1 runs, another host's agent (or an operator) puts h1's key with its own PublicIP.
        etcdctl("put", "/coreos.com/network/subnets/" + oldKey, "{\"PublicIP\":\"198.18.0.99\",\"PublicIPv6\":null}");

        awaitTrue("h1 moves to another subnet", Duration.ofSeconds(30),
            () -> !keyOf(subnetEnv(h1)).equals(oldKey));
        awaitReady(h1);
        final Map<String, String> after = subnetEnv(h1);
        final String newKey = keyOf(after);
        final String fs = after.get("FLANNEL_SUBNET");
        assertThat(Files.readString(logs.resolve("h1.log")))
            .contains("Lease " + Ipv4Prefix.parseMasked(before.get("FLANNEL_SUBNET")) + " lost; delivering nothing");
        assertThat(leases()).containsEntry(newKey, "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}")
            .containsEntry(oldKey, "{\"PublicIP\":\"198.18.0.99\",\"PublicIPv6\":null}");
        assertThat(health(h1).getValue()).isEqualTo("ready cbr0:" + fs.split("/")[0] + " subnet:" + fs + " mtu:1472");
        final String bridgeAddresses = h1.ns.exec("ip", "-4", "-o", "addr", "show", "dev", "cbr0");
        assertThat(bridgeAddresses).contains("inet " + fs + " ").doesNotContain("inet " + before.get("FLANNEL_SUBNET"));
        assertThat(h1.ns.exec("ip", "-4", "-o", "addr", "show", "dev", "flannel0"))
            .contains("inet " + fs.replaceFirst("\\.1/24$", ".0/32"));

        // h1 no longer delivers anything for the subnet it lost, even from a known peer.
        assertThat(deliveredToTun(h1, hosts[2], sender, target.address(), 0x4f02)).as("after the takeover").isFalse();

        // Containers re-addressed from the new subnet (as a CNI plugin would) are reachable again.
        final String gateway = fs.split("/")[0];
        final String base = gateway.substring(0, gateway.lastIndexOf('.') + 1);
        for (int c = 1; c <= CONTAINERS; c++) {
            final Container old = containers.get("h1c" + c);
            final String address = base + (c + 1);
            old.ns().exec("ip", "addr", "flush", "dev", "eth0");
            old.ns().exec("ip", "addr", "add", address + "/24", "dev", "eth0");
            old.ns().exec("ip", "route", "replace", "default", "via", gateway);
            containers.put(old.name(), new Container(old.name(), 1, old.ns(), address));
        }
        assertThat(unreachablePairs()).isEmpty();
    }

    /**
     * Sends flannel udp datagrams (a bare IPv4 ICMP echo request as the payload) from {@code from}'s underlay address
     * to {@code to}'s port 8285 for up to 4 s, and watches {@code to}'s TUN with tcpdump for the inner packet.
     *
     * @return whether the engine wrote the inner packet to the TUN
     */
    private boolean deliveredToTun(final Host to, final Host from, final String src, final String dst, final int id)
        throws Exception {
        final Path err = dir.resolve("tcpdump-" + Integer.toHexString(id) + ".err");
        final Process dump = to.ns.spawn(new ProcessBuilder("tcpdump", "-i", "flannel0", "-n", "-l", "-c", "1",
            "icmp and dst host " + dst + " and icmp[4:2] == " + id).redirectError(err.toFile()));
        try {
            awaitTrue("tcpdump listening in h" + to.n, Duration.ofSeconds(10),
                () -> Files.exists(err) && Files.readString(err).contains("listening on"));
            final byte[] packet = io.overlay.testing.TestPackets.icmpEcho(io.overlay.core.net.Ipv4.parse(src),
                io.overlay.core.net.Ipv4.parse(dst), id, 1, 36);
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
            while (System.nanoTime() < deadline) {
                io.overlay.tun.NetnsThread.call(from.ns.name(), () -> {
                    try (java.net.DatagramSocket s = new java.net.DatagramSocket()) {
                        s.send(new java.net.DatagramPacket(packet, packet.length,
                            java.net.InetAddress.getByName(to.publicIp()), 8285));
                    }
                    return null;
                });
                if (dump.waitFor(200, TimeUnit.MILLISECONDS)) {
                    return dump.exitValue() == 0;
                }
            }
            return false;
        } finally {
            dump.destroyForcibly();
            dump.waitFor(5, TimeUnit.SECONDS);
        }
    }
}
