package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.testing.Privileged;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
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
 * LXC for real: two overlay hosts ({@link OverlayHosts}); in each host namespace LXC's own {@code lxc-net} script
 * (Debian's {@code /usr/libexec/lxc/lxc-net start}) reads the file {@code overlay lxc-net} made from the host's
 * {@code subnet.env} as {@code /etc/default/lxc-net} and makes the bridge, its nftables rules and its dnsmasq from
 * it; two containers per host are created offline from LXC's busybox template (Debian's busybox-static) with the
 * {@code overlay lxc-net --format container} lines, their root file systems in the test's directory. The containers'
 * udhcpc gets addresses from LXC's dnsmasq (checked in its lease file), every container pings every container on the
 * other host, and full-MTU packets with DF set cross both ways.
 *
 * <p>lxc-net runs under {@code ip netns exec} (the namespace's sysfs, where it looks its bridge up) in a mount
 * namespace of its own ({@code unshare --mount --propagation private}) where the generated file is bind-mounted on
 * {@code /etc/default/lxc-net} (Debian's {@code /etc/default/lxc}, which the script sources, sources it), a tmpfs
 * covers {@code /run} (its {@code /run/lxc/network_up} and dnsmasq pid file) and the host's directory covers
 * {@code /var/lib/misc} (dnsmasq's lease file): nothing of it reaches the machine's files or root namespace, and the
 * dnsmasq it leaves running is killed with the host namespace.
 *
 * <p>lxc-start runs in the host namespace with {@code ip netns exec}, whose sysfs is the namespace's (LXC looks
 * its bridge up in {@code /sys/class/net}); lxc-attach, lxc-info and lxc-stop run in that network namespace too,
 * since LXC's command socket is an abstract Unix socket, which belongs to a network namespace.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class LxcRuntimeTest {
    private static final int CONTAINERS = 2;
    private static final Pattern VAR = Pattern.compile("^([A-Z_]+)=\"([^\"]*)\"$");
    private static final Pattern INET = Pattern.compile("inet (\\d+\\.\\d+\\.\\d+\\.\\d+)/(\\d+)");
    /** Where LXC installs its lxc-net script: Debian 12 (lxc 5), then older multiarch paths. */
    private static final List<Path> LXC_NET = List.of(Path.of("/usr/libexec/lxc/lxc-net"),
        Path.of("/usr/lib/x86_64-linux-gnu/lxc/lxc-net"), Path.of("/usr/lib/aarch64-linux-gnu/lxc/lxc-net"),
        Path.of("/usr/lib/lxc/lxc-net"));

    private OverlayHosts overlay;
    /** This run's directory of LXC lock files, {@code /run/lxc/lock/<lxcpath>}. */
    private Path lockRun;
    private final Map<OverlayHosts.Host, Map<String, String>> settings = new LinkedHashMap<>();
    private final Map<String, Container> containers = new TreeMap<>();

    private record Container(String name, OverlayHosts.Host host, String address, int pid) {
    }

    @BeforeAll
    @Timeout(value = 200, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        overlay = OverlayHosts.start("lxc", 2);
        final Path lxcPath = Files.createDirectories(overlay.dir().resolve("lxc"));
        // LXC's lock files go under /run/lxc/lock/<lxcpath>: this run's (unique) directory there is removed on close,
        // and those of its parents that do not exist yet are removed again when empty (another run's keep them)
        lockRun = Path.of("/run/lxc/lock" + overlay.dir());
        final List<Path> newParents = new ArrayList<>();
        for (Path p = lockRun.getParent(); p != null && p.startsWith("/run/lxc"); p = p.getParent()) {
            if (!Files.exists(p)) {
                newParents.add(p); // deepest first
            }
        }
        overlay.onClose(() -> removeLockDirectories(lockRun, newParents));
        overlay.onClose(() -> stopContainers(lxcPath));
        for (OverlayHosts.Host h : overlay.hosts()) {
            final Path env = h.dir().resolve("lxc-net");
            final Path conf = h.dir().resolve("container.conf");
            assertThat(OverlayMain.commandLine(Map.of()).execute("lxc-net", "--subnet-file",
                h.subnetEnv().toString(), "-o", env.toString())).isZero();
            assertThat(OverlayMain.commandLine(Map.of()).execute("lxc-net", "--format", "container",
                "--subnet-file", h.subnetEnv().toString(), "-o", conf.toString())).isZero();
            final Map<String, String> v = new LinkedHashMap<>();
            for (String line : Files.readAllLines(env)) {
                final Matcher m = VAR.matcher(line);
                if (m.matches()) {
                    v.put(m.group(1), m.group(2));
                }
            }
            settings.put(h, v);
            startLxcNet(h, env);
            Files.writeString(h.dir().resolve("create.conf"), "lxc.apparmor.profile = unconfined\n"
                + Files.readString(conf));
            for (int c = 1; c <= CONTAINERS; c++) {
                final String name = "h" + h.n() + "c" + c;
                OverlayHosts.run(Duration.ofSeconds(120), List.of("lxc-create", "-P", lxcPath.toString(), "-n", name,
                    "-t", "busybox", "-f", h.dir().resolve("create.conf").toString()));
                OverlayHosts.run(Duration.ofSeconds(60), List.of("ip", "netns", "exec", h.ns().name(), "lxc-start",
                    "-P", lxcPath.toString(), "-n", name, "-d", "-l", "INFO", "-o",
                    overlay.logs().resolve(name + ".log").toString()));
            }
        }
        for (OverlayHosts.Host h : overlay.hosts()) {
            for (int c = 1; c <= CONTAINERS; c++) {
                final String name = "h" + h.n() + "c" + c;
                final List<String> addr = attach(h, lxcPath, name, "ip", "-4", "-o", "addr", "show", "dev", "eth0");
                OverlayHosts.await(name + " has a DHCP address (udhcpc from LXC's dnsmasq)", Duration.ofSeconds(60),
                    () -> ((String) OverlayHosts.runStatus(Duration.ofSeconds(10), addr.toArray(String[]::new))[1])
                        .contains("inet "));
                final Matcher m = INET.matcher(OverlayHosts.run(Duration.ofSeconds(30), addr));
                assertThat(m.find()).isTrue();
                final int pid = Integer.parseInt(OverlayHosts.run(Duration.ofSeconds(30), List.of("nsenter",
                    "--net=/var/run/netns/" + h.ns().name(), "lxc-info", "-P", lxcPath.toString(), "-n", name, "-p",
                    "-H")).strip());
                containers.put(name, new Container(name, h, m.group(1), pid));
            }
        }
    }

    /**
     * LXC's lxc-net script started in the host namespace with the generated file as {@code /etc/default/lxc-net}
     * (see the class comment); its output goes to {@code lxc-net-h<n>.log}.
     */
    private void startLxcNet(final OverlayHosts.Host h, final Path env) throws Exception {
        final Path script = LXC_NET.stream().filter(Files::isExecutable).findFirst().orElseThrow(() ->
            new IllegalStateException("LXC's lxc-net script is in none of " + LXC_NET + " (Debian package lxc)"));
        assertThat(Path.of("/etc/default/lxc-net")).as("lxc-net's settings file (Debian package lxc)").exists();
        final Path misc = Files.createDirectories(h.dir().resolve("misc"));
        final Path log = overlay.logs().resolve("lxc-net-h" + h.n() + ".log");
        OverlayHosts.run(Duration.ofSeconds(60), List.of("ip", "netns", "exec", h.ns().name(), "unshare", "--mount",
            "--propagation", "private", "sh", "-c", "set -e; mount --bind \"$1\" /etc/default/lxc-net; "
                + "mount -t tmpfs -o mode=0755 tmpfs /run; mount --bind \"$2\" /var/lib/misc; "
                + "\"$3\" start >\"$4\" 2>&1 || { cat \"$4\"; exit 1; }",
            "sh", env.toString(), misc.toString(), script.toString(), log.toString()));
    }

    /** The command line of the dnsmasq lxc-net left running in host {@code h}'s namespace, arguments by NUL. */
    private static String dnsmasqCommandLine(final OverlayHosts.Host h) throws Exception {
        final String pids = OverlayHosts.run(Duration.ofSeconds(10), List.of("ip", "netns", "pids", h.ns().name()));
        for (String pid : pids.split("\\s+")) {
            if (pid.matches("\\d+") && Files.readString(Path.of("/proc", pid, "comm")).strip().equals("dnsmasq")) {
                return Files.readString(Path.of("/proc", pid, "cmdline"));
            }
        }
        throw new AssertionError("no dnsmasq in h" + h.n() + "'s namespace: " + pids);
    }

    private static List<String> attach(final OverlayHosts.Host h, final Path lxcPath, final String name,
                                       final String... command) {
        final List<String> cmd = new ArrayList<>(List.of("nsenter", "--net=/var/run/netns/" + h.ns().name(),
            "lxc-attach", "-P", lxcPath.toString(), "-n", name, "--"));
        cmd.addAll(List.of(command));
        return cmd;
    }

    /** Stops (kills) and destroys every container, in its host's network namespace. */
    private void stopContainers(final Path lxcPath) {
        for (OverlayHosts.Host h : overlay.hosts()) {
            for (int c = 1; c <= CONTAINERS; c++) {
                final String name = "h" + h.n() + "c" + c;
                if (!Files.exists(lxcPath.resolve(name))) {
                    continue;
                }
                try {
                    OverlayHosts.runStatus(Duration.ofSeconds(30), "nsenter", "--net=/var/run/netns/" + h.ns().name(),
                        "lxc-stop", "-P", lxcPath.toString(), "-n", name, "-k");
                    OverlayHosts.run(Duration.ofSeconds(60), List.of("lxc-destroy", "-P", lxcPath.toString(), "-n",
                        name));
                } catch (Exception e) {
                    System.err.println("could not remove LXC container " + name + ": " + e);
                }
            }
        }
    }

    /** Removes {@code dir} with what is in it, then each of {@code parents} (deepest first) that is empty. */
    private static void removeLockDirectories(final Path dir, final List<Path> parents) throws IOException {
        if (Files.exists(dir)) {
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        for (Path p : parents) {
            try {
                Files.deleteIfExists(p);
            } catch (DirectoryNotEmptyException inUse) {
                // another LXC user's locks are in it
            }
        }
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
        if (lockRun != null) {
            assertThat(lockRun).as("LXC's lock files of this run, after the clean-up").doesNotExist();
        }
    }

    @Test
    @Order(1)
    void lxcNetStartedFromTheGeneratedSettings() throws Exception {
        for (OverlayHosts.Host h : overlay.hosts()) {
            final HostSubnet s = h.subnet();
            final Map<String, String> v = settings.get(h);
            final String bridge = v.get("LXC_BRIDGE");
            // the bridge lxc-net made: LXC_ADDR with LXC_NETMASK as lxc-net's _netmask2cidr turns it into a length
            assertThat(h.ns().exec("ip", "-4", "-o", "addr", "show", "dev", bridge)).contains("inet "
                + s.gatewayCidr() + " ");
            assertThat(h.ns().exec("ip", "-o", "link", "show", "master", bridge).lines().count())
                .as("container veths on %s", bridge).isEqualTo(CONTAINERS);
            // the dnsmasq lxc-net started: its range, lease limit, address and interface from the file
            final String cmd = dnsmasqCommandLine(h);
            assertThat(cmd).contains("\0--dhcp-range\0" + v.get("LXC_DHCP_RANGE") + "\0",
                "\0--dhcp-lease-max=" + v.get("LXC_DHCP_MAX") + "\0",
                "\0--listen-address\0" + Ipv4.format(s.gateway()) + "\0", "\0--interface=" + bridge + "\0");
            // lxc-net's masquerade rule (nftables or iptables-nft, in the host namespace) spares the whole Network
            assertThat(h.ns().exec("nft", "list", "ruleset"))
                .contains("ip saddr " + s.network() + " ip daddr != " + s.network() + " ");
        }
    }

    @Test
    @Order(2)
    void containersGetAddressesFromLxcsDnsmasqInTheHostsSubnet() throws Exception {
        for (Container c : containers.values()) {
            final HostSubnet s = c.host().subnet();
            final Map<String, String> v = settings.get(c.host());
            assertThat(v.get("LXC_ADDR")).isEqualTo(Ipv4.format(s.gateway()));
            final String[] range = v.get("LXC_DHCP_RANGE").split(",");
            final long a = Integer.toUnsignedLong(Ipv4.parse(c.address()));
            assertThat(a).as("%s %s in %s", c.name(), c.address(), v.get("LXC_DHCP_RANGE"))
                .isBetween(Integer.toUnsignedLong(Ipv4.parse(range[0])), Integer.toUnsignedLong(Ipv4.parse(range[1])));
            assertThat(s.subnet().contains(Ipv4.parse(c.address()))).isTrue();
            // handed out by the dnsmasq lxc-net started, not set by the test
            assertThat(Files.readString(c.host().dir().resolve("misc/dnsmasq." + v.get("LXC_BRIDGE") + ".leases")))
                .contains(" " + c.address() + " ");
            final String link = OverlayHosts.run(Duration.ofSeconds(30), List.of("nsenter", "--net=/proc/" + c.pid()
                + "/ns/net", "ip", "-o", "link", "show", "dev", "eth0"));
            assertThat(link).contains(" mtu " + s.mtu() + " ");
            assertThat(OverlayHosts.run(Duration.ofSeconds(30), List.of("nsenter", "--net=/proc/" + c.pid()
                + "/ns/net", "ip", "-4", "route", "show", "default"))).contains("via " + v.get("LXC_ADDR"));
            assertThat(c.host().ns().exec("ip", "-4", "-o", "addr", "show", "dev", v.get("LXC_BRIDGE")))
                .contains("inet " + s.gatewayCidr());
        }
    }

    @Test
    @Order(3)
    void everyContainerPingsEveryContainerOnTheOtherHost() throws Exception {
        final Path lxcPath = overlay.dir().resolve("lxc");
        for (Container a : containers.values()) {
            for (Container b : containers.values()) {
                if (a.host() != b.host()) {
                    OverlayHosts.awaitSuccess(a.name() + " -> " + b.name(), Duration.ofSeconds(30),
                        attach(a.host(), lxcPath, a.name(), "ping", "-c", "1", "-W", "1", b.address()));
                }
            }
        }
    }

    @Test
    @Order(4)
    void fullMtuPacketsWithDontFragmentCrossBothWays() throws Exception {
        final Container a = containers.get("h1c1");
        final Container b = containers.get("h2c1");
        final int payload = a.host().subnet().mtu() - 28;
        // busybox ping cannot set DF: iputils ping inside the container's network namespace
        for (Container[] pair : new Container[][] {{a, b}, {b, a}}) {
            OverlayHosts.awaitSuccess(pair[0].name() + " -> " + pair[1].name() + " DF", Duration.ofSeconds(30),
                List.of("nsenter", "--net=/proc/" + pair[0].pid() + "/ns/net", "ping", "-M", "do", "-c", "1", "-W",
                    "1", "-s", Integer.toString(payload), pair[1].address()));
        }
        final Object[] tooBig = OverlayHosts.runStatus(Duration.ofSeconds(10), "nsenter", "--net=/proc/" + a.pid()
            + "/ns/net", "ping", "-M", "do", "-c", "1", "-W", "1", "-s", Integer.toString(payload + 1), b.address());
        assertThat((int) tooBig[0]).as("one byte over the MTU with DF: %s", tooBig[1]).isNotZero();
    }
}
