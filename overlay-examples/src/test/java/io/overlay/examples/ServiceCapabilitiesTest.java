package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The systemd unit's {@code CapabilityBoundingSet=} and {@code NoNewPrivileges=} are enough for everything the agent
 * does on a host: the launcher runs as root with exactly the capabilities the unit
 * ({@code packaging/systemd/overlay.service}) names, read from the file, and no new privileges (as {@code setpriv}
 * sets them), with {@code --ip-masq}, the default forward rules and {@code --bridge}, in a host namespace where
 * {@code net.ipv4.ip_forward} is 0. It must become ready with its nftables table, its iptables chain, the bridge and
 * the sysctl set, and remove its rules when it stops. (Without {@code CAP_NET_ADMIN} the TUN cannot be made; with it
 * alone iptables-nft works, and {@code CAP_NET_RAW} is what iptables-legacy needs besides, for its raw socket.)
 */
@Privileged
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class ServiceCapabilitiesTest {
    private static final Path UNIT = Path.of("..", "packaging", "systemd", "overlay.service");

    /** The unit's {@code CapabilityBoundingSet=} names, e.g. {@code [CAP_NET_ADMIN, CAP_NET_RAW]}. */
    private static List<String> unitCapabilities() throws Exception {
        final List<String> lines = Files.readAllLines(UNIT).stream()
            .filter(l -> l.startsWith("CapabilityBoundingSet=")).toList();
        assertThat(lines).as("one CapabilityBoundingSet= in %s", UNIT).hasSize(1);
        assertThat(Files.readAllLines(UNIT)).as("the unit sets NoNewPrivileges").contains("NoNewPrivileges=yes");
        return Arrays.asList(lines.get(0).substring("CapabilityBoundingSet=".length()).strip().split("\\s+"));
    }

    @Test
    void theUnitsCapabilitiesAreEnoughForMasqueradeForwardRulesBridgeAndIpForward() throws Exception {
        final List<String> caps = unitCapabilities();
        long mask = 0;
        final StringBuilder setpriv = new StringBuilder("-all");
        for (String c : caps) {
            assertThat(c).startsWith("CAP_");
            setpriv.append(",+").append(c.substring(4).toLowerCase(Locale.ROOT));
            mask |= 1L << switch (c) {
                case "CAP_NET_ADMIN" -> 12;
                case "CAP_NET_RAW" -> 13;
                default -> throw new AssertionError("a capability this test does not know: " + c);
            };
        }
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-service-capabilities")) {
            final Netns ns = overlay.underlayHost(1, 1500);
            assertThat(ns.exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).isEqualTo("0");
            final Path subnetEnv = Files.createDirectories(overlay.dir().resolve("h1")).resolve("subnet.env");
            final List<String> cmd = new ArrayList<>(List.of("setpriv", "--bounding-set=" + setpriv,
                "--inh-caps=-all", "--no-new-privs"));
            cmd.addAll(OverlayHosts.java(OverlayMain.class.getName(), "--etcd-endpoints", OverlayHosts.ETCD,
                "--iface", "eth0", "--bridge", "cbr0", "--ip-masq", "--subnet-file", subnetEnv.toString(),
                "--healthz-ip", "127.0.0.1", "--healthz-port", Integer.toString(OverlayHosts.HEALTH_PORT)));
            final Path log = overlay.logs().resolve("h1.log");
            final Process p = ns.spawn(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()));
            final OverlayHosts.Host h = new OverlayHosts.Host(1, ns, subnetEnv.getParent(), subnetEnv, p);

            OverlayHosts.await("/readyz 200", Duration.ofSeconds(60), () -> {
                assertThat(p.isAlive()).as("the launcher runs; log: %s", log).isTrue();
                return OverlayHosts.readyz(h) == 200;
            });
            // the process is the JVM itself (ip netns exec and setpriv exec), with exactly the unit's capabilities
            final String status = Files.readString(Path.of("/proc", Long.toString(p.pid()), "status"));
            assertThat(status).contains(String.format("CapEff:\t%016x", mask))
                .contains(String.format("CapBnd:\t%016x", mask)).contains("NoNewPrivs:\t1");
            assertThat(ns.exec("nft", "list", "table", "ip", "overlay")).contains("masquerade fully-random");
            assertThat(ns.exec("iptables", "-S")).contains("-A FORWARD -m comment --comment \"overlay forward\" "
                + "-j OVERLAY-FWD");
            assertThat(ns.exec("sysctl", "-n", "net.ipv4.ip_forward").strip()).isEqualTo("1");
            assertThat(ns.exec("ip", "-o", "-4", "addr", "show", "dev", "cbr0")).contains("inet 100.64.");
            assertThat(Files.readString(subnetEnv)).contains("FLANNEL_IPMASQ=true");

            p.destroy();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("exits on SIGTERM").isTrue();
            assertThat(p.exitValue()).as("exit status; log: %s", Files.readString(log)).isZero();
            assertThat(ns.exec("nft", "list", "ruleset")).doesNotContain("overlay");
            assertThat(ns.exec("iptables", "-S")).doesNotContain("OVERLAY-FWD");
        }
    }
}
