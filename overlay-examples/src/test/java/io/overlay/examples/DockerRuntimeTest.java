package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.testing.Privileged;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
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
 * Docker for real: two overlay hosts ({@link OverlayHosts}), each running its own dockerd inside the host namespace
 * with the {@code daemon.json} that {@code overlay docker-opts --format daemon-json} made from its {@code subnet.env}
 * ({@code bip}, {@code mtu}), its own data root, exec root, pid file and socket, and a busybox image imported from a
 * locally made rootfs. Docker's own IPAM addresses two containers per host from the bridge's subnet; every container
 * pings every container on the other host and full-MTU packets with DF set cross both ways. Each dockerd finds
 * forwarding off, as at boot, and so leaves iptables' FORWARD policy at DROP: the containers reach each other through
 * the agents' default {@code --iptables-forward-rules}, and no longer once h2's agent runs without them. Host 2 runs
 * with {@code --ip-masq}, so its daemon.json also holds {@code "ip-masq": false}, and dockerd is checked to have read
 * it.
 *
 * <p>dockerd is started with {@code nsenter --net}, not {@code ip netns exec}: the latter mounts a fresh
 * {@code /sys}, which hides {@code /sys/fs/cgroup}, and dockerd then refuses to start ("Devices cgroup isn't
 * mounted"); {@code unshare --mount --propagation private} in front keeps the mounts dockerd makes under its exec
 * root out of the host's mount namespace. The vfs storage driver is used because the data root may itself be on
 * overlayfs.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class DockerRuntimeTest {
    private static final String IMAGE = "overlay/busybox:local";
    private static final int CONTAINERS = 2;

    private OverlayHosts overlay;
    private final Map<OverlayHosts.Host, Process> daemons = new java.util.LinkedHashMap<>();
    private final Map<String, Container> containers = new TreeMap<>();

    private record Container(String name, OverlayHosts.Host host, String address, int pid) {
    }

    @BeforeAll
    @Timeout(value = 200, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        // h2 masquerades itself (FLANNEL_IPMASQ=true), so daemon.json's "ip-masq": false is read by a dockerd too
        overlay = OverlayHosts.start("docker", 2, h -> h == 2 ? List.of("--ip-masq") : List.of());
        final Path rootfs = OverlayHosts.busyboxRootfs(overlay.dir());
        overlay.onClose(this::stopDaemons);
        for (OverlayHosts.Host h : overlay.hosts()) {
            final Path json = h.dir().resolve("daemon.json");
            assertThat(OverlayMain.commandLine(Map.of()).execute("docker-opts", "--format", "daemon-json",
                "--subnet-file", h.subnetEnv().toString(), "-o", json.toString())).isZero();
            // As on a host booting Docker: forwarding is off when dockerd starts, so dockerd turns it on and sets
            // iptables' FORWARD policy to DROP (libnetwork's setupIPForwarding does so only when it had to turn it
            // on). The agent, without --bridge, leaves ip_forward alone; its OVERLAY-FWD jump is already there.
            h.ns().exec("sysctl", "-qw", "net.ipv4.ip_forward=0");
            final Process d = new ProcessBuilder("unshare", "--mount", "--propagation", "private", "nsenter",
                "--net=/var/run/netns/" + h.ns().name(), "dockerd",
                "--config-file", json.toString(), "--data-root", h.dir().resolve("docker").toString(),
                "--exec-root", h.dir().resolve("exec").toString(), "--pidfile", h.dir().resolve("docker.pid")
                .toString(), "-H", "unix://" + sock(h), "--storage-driver", "vfs")
                .redirectErrorStream(true)
                .redirectOutput(overlay.logs().resolve("dockerd-h" + h.n() + ".log").toFile()).start();
            daemons.put(h, d);
        }
        for (OverlayHosts.Host h : overlay.hosts()) {
            OverlayHosts.awaitSuccess("dockerd of h" + h.n(), Duration.ofSeconds(60), docker(h, "version"));
            OverlayHosts.run(Duration.ofSeconds(60), docker(h, "import", "-c", "ENV PATH=/bin", rootfs.toString(),
                IMAGE));
            for (int c = 1; c <= CONTAINERS; c++) {
                final String name = "h" + h.n() + "c" + c;
                OverlayHosts.run(Duration.ofSeconds(60), docker(h, "run", "-d", "--name", name, IMAGE, "sleep",
                    "3600"));
                final String[] info = OverlayHosts.run(Duration.ofSeconds(30), docker(h, "inspect", "-f",
                    "{{.NetworkSettings.IPAddress}} {{.State.Pid}}", name)).strip().split(" ");
                containers.put(name, new Container(name, h, info[0], Integer.parseInt(info[1])));
            }
        }
    }

    private static String sock(final OverlayHosts.Host h) {
        return h.dir().resolve("docker.sock").toString();
    }

    private static List<String> docker(final OverlayHosts.Host h, final String... args) {
        final List<String> cmd = new ArrayList<>(List.of("/usr/bin/docker", "-H", "unix://" + sock(h)));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Removes the containers, then stops each dockerd (TERM, KILL after 30 s with what it started). */
    private void stopDaemons() {
        for (Map.Entry<OverlayHosts.Host, Process> e : daemons.entrySet()) {
            try {
                final String ids = OverlayHosts.run(Duration.ofSeconds(30), docker(e.getKey(), "ps", "-aq")).strip();
                if (!ids.isEmpty()) {
                    final List<String> rm = docker(e.getKey(), "rm", "-f");
                    rm.addAll(List.of(ids.split("\\s+")));
                    OverlayHosts.run(Duration.ofSeconds(60), rm);
                }
            } catch (Exception ex) {
                System.err.println("docker rm on h" + e.getKey().n() + " failed: " + ex);
            }
            final Process d = e.getValue();
            final List<ProcessHandle> started = d.descendants().toList();
            d.destroy();
            try {
                if (!d.waitFor(30, TimeUnit.SECONDS)) {
                    d.destroyForcibly();
                }
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
            started.forEach(ProcessHandle::destroyForcibly);
        }
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
    }

    @Test
    @Order(1)
    void dockersBridgeAndAddressesComeFromSubnetEnv() throws Exception {
        for (OverlayHosts.Host h : overlay.hosts()) {
            final HostSubnet s = h.subnet();
            // what dockerd read back from daemon.json
            assertThat(OverlayHosts.run(Duration.ofSeconds(30), docker(h, "network", "inspect", "-f",
                "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{index .Options "
                    + "\"com.docker.network.driver.mtu\"}}", "bridge")).strip())
                .isEqualTo(s.subnet() + " " + Ipv4.format(s.gateway()) + " " + s.mtu());
            assertThat(h.ns().exec("ip", "-4", "-o", "addr", "show", "dev", "docker0")).contains("inet "
                + s.gatewayCidr());
            // ip-masq as mk-docker-opts.sh sets it: off when the overlay masquerades (h2), Docker's default on h1
            assertThat(s.ipMasq()).as("FLANNEL_IPMASQ of h%d", h.n()).isEqualTo(h.n() == 2);
            assertThat(OverlayHosts.run(Duration.ofSeconds(30), docker(h, "network", "inspect", "-f",
                "{{index .Options \"com.docker.network.bridge.enable_ip_masquerade\"}}", "bridge")).strip())
                .isEqualTo(Boolean.toString(!s.ipMasq()));
            final String nat = h.ns().exec("iptables", "-t", "nat", "-S", "POSTROUTING");
            assertThat(nat.lines().filter(l -> l.startsWith("-A POSTROUTING -s " + s.subnet() + " ! -o docker0 ")
                && l.endsWith(" -j MASQUERADE")).count()).as("h%d's Docker masquerade rule: %s", h.n(), nat)
                .isEqualTo(s.ipMasq() ? 0 : 1);
        }
        for (Container c : containers.values()) {
            final HostSubnet s = c.host().subnet();
            assertThat(s.subnet().contains(Ipv4.parse(c.address()))).as("%s %s in %s", c.name(), c.address(),
                s.subnet()).isTrue();
            final String eth0 = OverlayHosts.run(Duration.ofSeconds(30), docker(c.host(), "exec", c.name(), "ip",
                "-o", "addr", "show", "dev", "eth0"));
            assertThat(eth0).contains("inet " + c.address() + "/" + s.subnet().length());
            assertThat(OverlayHosts.run(Duration.ofSeconds(30), docker(c.host(), "exec", c.name(), "ip", "-o",
                "link", "show", "dev", "eth0"))).contains(" mtu " + s.mtu() + " ");
        }
    }

    @Test
    @Order(2)
    void dockerSetItsDropPolicyAndTheAgentsAcceptRulesAreInItsForwardChain() throws Exception {
        for (OverlayHosts.Host h : overlay.hosts()) {
            assertThat(h.ns().exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).as("turned on by dockerd")
                .isEqualTo("1");
            assertThat(h.ns().exec("iptables", "-S", "FORWARD")).as("h%d's FORWARD chain", h.n())
                .contains("-P FORWARD DROP")
                .contains("-A FORWARD -j DOCKER-USER")
                .contains("-A FORWARD -m comment --comment \"overlay forward\" -j OVERLAY-FWD");
        }
    }

    @Test
    @Order(3)
    void everyContainerPingsEveryContainerOnTheOtherHost() throws Exception {
        for (Container a : containers.values()) {
            for (Container b : containers.values()) {
                if (a.host() != b.host()) {
                    OverlayHosts.awaitSuccess(a.name() + " -> " + b.name(), Duration.ofSeconds(30),
                        docker(a.host(), "exec", a.name(), "ping", "-c", "1", "-W", "1", b.address()));
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

    @Test
    @Order(5)
    void withoutTheForwardRulesDockersDropPolicyDropsTheOtherHostsTraffic() throws Exception {
        final Container a = containers.get("h1c1");
        final Container b = containers.get("h2c1");
        final OverlayHosts.Host h2 = overlay.restartWith(2, "--iptables-forward-rules=false");
        OverlayHosts.await("/readyz of h2 again", Duration.ofSeconds(60), () -> {
            assertThat(h2.process().isAlive()).as("h2's agent runs").isTrue();
            return OverlayHosts.readyz(h2) == 200;
        });
        assertThat(h2.ns().exec("iptables", "-S")).as("removed at the clean stop, not added again")
            .doesNotContain("OVERLAY-FWD").contains("-P FORWARD DROP");
        final List<String> ping = docker(a.host(), "exec", a.name(), "ping", "-c", "2", "-W", "1", b.address());
        final Object[] dropped = OverlayHosts.runStatus(Duration.ofSeconds(20), ping.toArray(String[]::new));
        assertThat((int) dropped[0]).as("h1c1 -> h2c1 with Docker's DROP and no forward rules: %s", dropped[1])
            .isNotZero();
        // control: the policy was the cause
        h2.ns().exec("iptables", "-P", "FORWARD", "ACCEPT");
        OverlayHosts.awaitSuccess("h1c1 -> h2c1 with policy ACCEPT", Duration.ofSeconds(30), ping);
    }
}
