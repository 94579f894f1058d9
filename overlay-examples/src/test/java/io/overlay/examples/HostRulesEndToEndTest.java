package io.overlay.examples;

import static io.overlay.testing.Await.awaitTrue;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The host rules on real hosts, all in namespaces this test makes (the agents, nft and iptables run only there): etcd
 * in an infra namespace owning the underlay bridge (198.18.0.254), an "outside" host on the underlay (198.18.0.100)
 * that is not in the overlay, and two hosts running {@link OverlayMain} as processes, each with a container on its
 * bridge. h1 runs with {@code --ip-masq}; h2 has iptables' FORWARD policy DROP with Docker-style chains made by hand
 * before it starts. What reaches the outside host and the far container is captured with tcpdump, not assumed.
 * Logs go to {@code target/e2e-host-rules/}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class HostRulesEndToEndTest {
    private static final String ETCD_IP = "198.18.0.254";
    private static final String ETCD = "http://" + ETCD_IP + ":2379";
    private static final String OUTSIDE = "198.18.0.100";
    private static final String CONFIG = "{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}";

    private final Path logs = Path.of("target", "e2e-host-rules").toAbsolutePath();
    private final List<Netns> namespaces = new ArrayList<>();
    private Path dir;
    private Netns infra;
    private Netns outside;
    private final Netns[] hosts = new Netns[3];
    private final Process[] agents = new Process[3];
    private final Netns[] containers = new Netns[3];
    private final String[] containerIps = new String[3];
    private final int[] readyBefore = new int[3];

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        Files.createDirectories(logs);
        for (String log : List.of("etcd.log", "h1.log", "h2.log")) {
            Files.deleteIfExists(logs.resolve(log));
        }
        dir = Files.createTempDirectory("overlay-host-rules-");
        infra = track(Netns.create());
        infra.exec("ip", "link", "add", "ul0", "type", "bridge");
        infra.exec("ip", "addr", "add", ETCD_IP + "/24", "dev", "ul0");
        infra.exec("ip", "link", "set", "ul0", "up");
        infra.spawn(new ProcessBuilder("/usr/bin/etcd", "--name", "hr", "--data-dir", dir.resolve("etcd").toString(),
            "--listen-client-urls", ETCD, "--advertise-client-urls", ETCD,
            "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "hr=http://127.0.0.1:2380").redirectErrorStream(true)
            .redirectOutput(logs.resolve("etcd.log").toFile()));
        awaitTrue("etcd", Duration.ofSeconds(30), () -> {
            etcdctl("endpoint", "health");
            return true;
        });
        etcdctl("put", "/coreos.com/network/config", CONFIG);
        outside = track(Netns.create());
        underlay(outside, "ul-out", OUTSIDE);

        for (int h = 1; h <= 2; h++) {
            hosts[h] = track(Netns.create());
            underlay(hosts[h], "ul-h" + h, "198.18.0." + h);
        }
        // h2 as Docker leaves a host (iptables-nft): FORWARD policy DROP behind DOCKER-USER and DOCKER chains
        for (String[] cmd : new String[][] {{"-N", "DOCKER"}, {"-N", "DOCKER-USER"},
            {"-N", "DOCKER-ISOLATION-STAGE-1"}, {"-A", "DOCKER-USER", "-j", "RETURN"},
            {"-A", "DOCKER-ISOLATION-STAGE-1", "-j", "RETURN"}, {"-A", "FORWARD", "-j", "DOCKER-USER"},
            {"-A", "FORWARD", "-j", "DOCKER-ISOLATION-STAGE-1"}, {"-P", "FORWARD", "DROP"}}) {
            final List<String> c = new ArrayList<>(List.of("iptables"));
            c.addAll(List.of(cmd));
            hosts[2].exec(c.toArray(String[]::new));
        }
        start(1, "--ip-masq");
        start(2);
        for (int h = 1; h <= 2; h++) {
            awaitRunning(h);
            final String gateway = subnetEnv(h).get("FLANNEL_SUBNET").split("/")[0];
            containerIps[h] = gateway.substring(0, gateway.lastIndexOf('.') + 1) + "2";
            containers[h] = track(Netns.create());
            hosts[h].exec("ip", "link", "add", "vc1", "type", "veth", "peer", "name", "eth0", "netns",
                containers[h].name());
            hosts[h].exec("ip", "link", "set", "vc1", "mtu", "1472", "master", "cbr0", "up");
            containers[h].exec("ip", "addr", "add", containerIps[h] + "/24", "dev", "eth0");
            containers[h].exec("ip", "link", "set", "eth0", "mtu", "1472", "up");
            containers[h].exec("ip", "route", "add", "default", "via", gateway);
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

    @Test
    @Order(1)
    void theMasqueradingHostSaysSoInSubnetEnvAndSetsIpForward() throws Exception {
        assertThat(subnetEnv(1)).containsEntry("FLANNEL_IPMASQ", "true");
        assertThat(subnetEnv(2)).containsEntry("FLANNEL_IPMASQ", "false");
        for (int h = 1; h <= 2; h++) {
            assertThat(hosts[h].exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).isEqualTo("1");
            assertThat(log(h)).contains("net.ipv4.ip_forward was 0; set it to 1");
        }
        assertThat(hosts[1].exec("nft", "list", "table", "ip", "overlay")).contains("masquerade fully-random");
        assertThat(hosts[2].exec("nft", "list", "ruleset")).doesNotContain("table ip overlay");
        assertThat(hosts[2].exec("iptables", "-S", "FORWARD")).contains("-P FORWARD DROP")
            .containsSubsequence("-j DOCKER-USER", "-j DOCKER-ISOLATION-STAGE-1", "-j OVERLAY-FWD");
    }

    @Test
    @Order(2)
    void aContainerReachesTheOutsideHostAsItsHostsUnderlayAddress() throws Exception {
        final String seen = capture(outside, "eth0", "icmp[icmptype] == icmp-echo and dst host " + OUTSIDE,
            () -> containers[1].exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "-q", OUTSIDE));
        assertThat(seen).contains("IP 198.18.0.1 > " + OUTSIDE + ": ICMP echo request");
    }

    @Test
    @Order(3)
    void containerToContainerKeepsTheSourceAcrossADockerDropPolicy() throws Exception {
        final String seen = capture(containers[2], "eth0", "icmp[icmptype] == icmp-echo",
            () -> containers[1].exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "-q", containerIps[2]));
        assertThat(seen).contains("IP " + containerIps[1] + " > " + containerIps[2] + ": ICMP echo request");
    }

    @Test
    @Order(4)
    void afterNftFlushRulesetTheRulesComeBackWithinTheRecheckPeriod() throws Exception {
        final String before = hosts[1].exec("nft", "list", "table", "ip", "overlay");
        final String handle = hosts[1].exec("nft", "-a", "list", "table", "ip", "overlay").lines().findFirst().get();
        hosts[1].exec("nft", "flush", "ruleset");
        final long flushed = System.nanoTime();
        // a new table (a new handle) proves the flush removed it and the re-check made it again
        awaitTrue("h1's nft table back", Duration.ofSeconds(15),
            () -> hosts[1].exec("nft", "list", "ruleset").contains("table ip overlay")
                && !hosts[1].exec("nft", "-a", "list", "table", "ip", "overlay").lines().findFirst().get()
                    .equals(handle));
        assertThat(Duration.ofNanos(System.nanoTime() - flushed)).as("the default --iptables-resync is 5 s")
            .isLessThan(Duration.ofSeconds(7));
        assertThat(hosts[1].exec("nft", "list", "table", "ip", "overlay")).isEqualTo(before);
        assertThat(hosts[1].exec("iptables", "-S")).contains("-A OVERLAY-FWD -s 100.64.0.0/16");
        final String seen = capture(outside, "eth0", "icmp[icmptype] == icmp-echo and dst host " + OUTSIDE,
            () -> containers[1].exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "-q", OUTSIDE));
        assertThat(seen).contains("IP 198.18.0.1 > " + OUTSIDE);
    }

    @Test
    @Order(5)
    void withoutForwardRulesTheDropPolicyDropsAndACleanExitLeavesNoRule() throws Exception {
        stop(2);
        assertThat(hosts[2].exec("iptables", "-S")).doesNotContain("OVERLAY-FWD").contains("-P FORWARD DROP");
        start(2, "--iptables-forward-rules=false");
        awaitRunning(2);
        assertThat(hosts[2].exec("iptables", "-S")).doesNotContain("OVERLAY-FWD");
        assertThat(ping(containers[1], containerIps[2])).as("dropped by h2's FORWARD policy").isFalse();
        hosts[2].exec("iptables", "-P", "FORWARD", "ACCEPT");
        assertThat(ping(containers[1], containerIps[2])).as("control: the policy was the cause").isTrue();

        stop(1);
        assertThat(hosts[1].exec("nft", "list", "ruleset")).doesNotContain("overlay").doesNotContain("OVERLAY");
        assertThat(hosts[1].exec("iptables", "-S")).doesNotContain("OVERLAY");
        assertThat(log(1)).contains("Masquerade rules removed").contains("Exiting cleanly");
    }

    @Test
    @Order(6)
    void theAgentChoosesItsInterfaceByRegexOrRouteAndExits1WhenNothingMatches() throws Exception {
        final Netns h3 = track(Netns.create());
        underlay(h3, "ul-h3", "198.18.0.3");
        // no default route in h3: 203.0.113.9 is unreachable
        record Case(String option, String value, String expected) {
        }
        for (Case c : List.of(
            new Case("--iface-regex", "^wlan", "--iface-regex ^wlan matches no IPv4 address and no interface name"),
            new Case("--iface-can-reach", "203.0.113.9", "--iface-can-reach 203.0.113.9: no route reaches it"))) {
            final Path log = logs.resolve("h3" + c.option() + ".log");
            Files.deleteIfExists(log);
            final Process p = h3.spawn(new ProcessBuilder(agent(3, c.option(), c.value())).redirectErrorStream(true)
                .redirectOutput(log.toFile()));
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("%s %s exits", c.option(), c.value()).isTrue();
            assertThat(p.exitValue()).as("%s %s", c.option(), c.value()).isEqualTo(1);
            assertThat(Files.readString(log)).contains(c.expected()).contains("eth0 198.18.0.3")
                .contains("Fix the option, or name the interface with --iface");
        }
        for (String[] c : new String[][] {{"--iface-regex", "^198\\.18\\.0\\."}, {"--iface-can-reach", ETCD_IP}}) {
            final Path log = logs.resolve("h3" + c[0] + "-ok.log");
            Files.deleteIfExists(log);
            final Process p = h3.spawn(new ProcessBuilder(agent(3, c[0], c[1])).redirectErrorStream(true)
                .redirectOutput(log.toFile()));
            try {
                awaitTrue("h3 running with " + c[0], Duration.ofSeconds(60), () -> {
                    assertThat(p.isAlive()).as("h3 with %s runs; see %s", c[0], log).isTrue();
                    return Files.readString(log).contains("Running: ready");
                });
                assertThat(Files.readString(log)).contains("Using interface eth0 address 198.18.0.3 (MTU 1500)");
            } finally {
                p.destroy();
                assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            }
        }
    }

    private Netns track(final Netns ns) {
        namespaces.add(ns);
        return ns;
    }

    private void underlay(final Netns ns, final String bridgePort, final String address) throws IOException {
        Netns.run("ip", "-n", infra.name(), "link", "add", bridgePort, "type", "veth", "peer", "name", "eth0",
            "netns", ns.name());
        infra.exec("ip", "link", "set", bridgePort, "master", "ul0", "up");
        ns.exec("ip", "addr", "add", address + "/24", "dev", "eth0");
        ns.exec("ip", "link", "set", "eth0", "up");
    }

    private String etcdctl(final String... args) throws IOException {
        final List<String> cmd = new ArrayList<>(List.of("env", "ETCDCTL_API=3", "/usr/bin/etcdctl", "--endpoints",
            ETCD, "--dial-timeout", "2s", "--command-timeout", "5s"));
        cmd.addAll(List.of(args));
        return infra.exec(cmd.toArray(String[]::new));
    }

    private void start(final int h, final String... extra) throws IOException {
        readyBefore[h] = Files.exists(logs.resolve("h" + h + ".log")) ? countRunning(h) : 0;
        final List<String> cmd = agent(h, "--iface", "eth0");
        cmd.addAll(List.of(extra));
        agents[h] = hosts[h].spawn(new ProcessBuilder(cmd).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(logs.resolve("h" + h + ".log").toFile())));
    }

    /** The agent's command line for host {@code h}: etcd, a bridge, its own subnet.env, then {@code options}. */
    private List<String> agent(final int h, final String... options) {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isEmpty()) {
            cp = System.getProperty("java.class.path");
        }
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
            OverlayMain.class.getName(), "--etcd-endpoints", ETCD, "--bridge", "cbr0",
            "--subnet-file", dir.resolve("h" + h).resolve("subnet.env").toString()));
        cmd.addAll(List.of(options));
        return cmd;
    }

    private void stop(final int h) throws Exception {
        final int runs = countRunning(h);
        agents[h].destroy(); // SIGTERM
        assertThat(agents[h].waitFor(30, TimeUnit.SECONDS)).as("h%d exits on SIGTERM", h).isTrue();
        assertThat(agents[h].exitValue()).isZero();
        awaitTrue("h" + h + " logs its clean exit", Duration.ofSeconds(5),
            () -> log(h).split("Exiting cleanly", -1).length - 1 == runs);
    }

    private int countRunning(final int h) throws IOException {
        return log(h).split("Running: ready", -1).length - 1;
    }

    /** Waits until the agent started last logs its ready line (logged once the host rules are in place). */
    private void awaitRunning(final int h) throws Exception {
        awaitTrue("h" + h + " running", Duration.ofSeconds(60), () -> {
            if (!agents[h].isAlive()) {
                throw new AssertionError("h" + h + " exited; see " + logs.resolve("h" + h + ".log"));
            }
            return countRunning(h) > readyBefore[h];
        });
    }

    private String log(final int h) throws IOException {
        return Files.readString(logs.resolve("h" + h + ".log"));
    }

    private Map<String, String> subnetEnv(final int h) throws IOException {
        final Map<String, String> vars = new LinkedHashMap<>();
        for (String line : Files.readAllLines(dir.resolve("h" + h).resolve("subnet.env"))) {
            final int eq = line.indexOf('=');
            vars.put(line.substring(0, eq), line.substring(eq + 1));
        }
        return vars;
    }

    private static boolean ping(final Netns from, final String to) {
        try {
            from.exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "-q", to);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Runs {@code action} while tcpdump listens in {@code ns}; returns the first captured packet's line. */
    private String capture(final Netns ns, final String dev, final String filter, final Action action)
        throws Exception {
        final Path out = Files.createTempFile(dir, "tcpdump", ".out");
        final Path err = Files.createTempFile(dir, "tcpdump", ".err");
        final Process dump = ns.spawn(new ProcessBuilder("tcpdump", "-i", dev, "-n", "-l", "-c", "1", filter)
            .redirectOutput(out.toFile()).redirectError(err.toFile()));
        try {
            awaitTrue("tcpdump listening", Duration.ofSeconds(10), () -> Files.readString(err).contains("listening on"));
            action.run();
            assertThat(dump.waitFor(10, TimeUnit.SECONDS)).as("tcpdump captured a packet").isTrue();
            return Files.readString(out);
        } finally {
            dump.destroyForcibly();
        }
    }

    @FunctionalInterface
    private interface Action {
        void run() throws Exception;
    }
}
