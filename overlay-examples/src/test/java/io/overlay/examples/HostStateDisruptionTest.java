package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Privileged;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Someone else changes what a running agent set up on its host (an admin, NetworkManager, a clean-up script), as
 * operators meet it on real hosts: two {@link OverlayMain} processes with {@code --bridge cbr0} in namespaces, real
 * etcd, pinging each other's bridge address across the overlay. Each test breaks one thing on h1 and checks that the
 * agent puts it back within a bounded time, with a WARN naming what it restored, and that traffic flows again both
 * ways; the last one deletes the TUN device, which cannot be restored in place (its descriptor is dead): the agent must
 * turn not-ready with the reason and exit with status 1 so that systemd's {@code Restart=on-failure} restarts it.
 * {@code --iptables-resync 1} makes the agents check every second. Logs go to {@code target/e2e-host-disruption/}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostStateDisruptionTest {
    private static final Duration RESTORED_WITHIN = Duration.ofSeconds(10);

    private OverlayHosts overlay;
    private OverlayHosts.Host h1;
    private OverlayHosts.Host h2;
    private Path log1;
    private String tun1;
    private String bridge1;
    private String bridge2;
    private String network;
    /** Length of h1's log before the current test, so a test only looks at its own lines. */
    private long logMark;

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        overlay = OverlayHosts.start("e2e-host-disruption", 2, h -> List.of("--bridge", "cbr0",
            "--iptables-resync", "1", "--iptables-forward-rules=false"));
        h1 = overlay.hosts().get(0);
        h2 = overlay.hosts().get(1);
        log1 = overlay.logs().resolve("h1.log");
        tun1 = OverlayHosts.tunAddress(h1) + "/32";
        bridge1 = io.overlay.core.net.Ipv4.format(h1.subnet().gateway()) + "/" + h1.subnet().subnet().length();
        bridge2 = io.overlay.core.net.Ipv4.format(h2.subnet().gateway());
        network = "100.64.0.0/16";
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
    }

    @BeforeEach
    void bothWays() throws Exception {
        awaitBothWays();
        OverlayHosts.await("h1 ready", RESTORED_WITHIN, () -> OverlayHosts.readyz(h1) == 200);
        logMark = Files.size(log1);
    }

    /**
     * Puts h1 back by hand where the agent did not (so that one failing test does not fail the next ones too); a
     * no-op after a passing test.
     */
    @AfterEach
    void repairByHand() throws Exception {
        if (!h1.process().isAlive()) {
            return;
        }
        h1.ns().exec("sh", "-c", "ip link set flannel0 mtu 1472 up; ip addr replace " + tun1 + " dev flannel0; "
            + "ip route replace " + network + " dev flannel0; ip link show cbr0 >/dev/null 2>&1 || "
            + "ip link add cbr0 mtu 1472 type bridge; ip addr replace " + bridge1 + " dev cbr0; ip link set cbr0 up; "
            + "ip route replace " + h1.subnet().subnet() + " dev cbr0 proto kernel scope link src "
            + bridge1.replaceAll("/.*", ""));
    }

    @Test
    @Order(1)
    void tunLinkSetDownIsBroughtUpWithItsRoute() throws Exception {
        h1.ns().exec("ip", "link", "set", "flannel0", "down");
        awaitRestored("link down");
        assertThat(h1.ns().exec("ip", "-o", "link", "show", "flannel0")).contains(",UP");
        assertThat(h1.ns().exec("ip", "route", "show", network)).contains("dev flannel0");
    }

    @Test
    @Order(2)
    void tunLinkDownAndUpAgainGetsItsRouteBack() throws Exception {
        // the kernel drops the routes of a link that goes down; one that comes back up has none
        h1.ns().exec("sh", "-c", "ip link set flannel0 down && ip link set flannel0 up");
        awaitRestored("route " + network);
        assertThat(h1.ns().exec("ip", "route", "show", network)).contains("dev flannel0");
    }

    @Test
    @Order(3)
    void deletedNetworkRouteIsAddedAgain() throws Exception {
        h1.ns().exec("ip", "route", "del", network, "dev", "flannel0");
        awaitRestored("route " + network);
        assertThat(h1.ns().exec("ip", "route", "show", network)).contains("dev flannel0");
    }

    @Test
    @Order(4)
    void removedTunAddressIsAddedAgain() throws Exception {
        h1.ns().exec("ip", "addr", "del", tun1, "dev", "flannel0");
        awaitRestored("address " + tun1);
        assertThat(h1.ns().exec("ip", "-4", "-o", "addr", "show", "dev", "flannel0")).contains("inet " + tun1);
    }

    @Test
    @Order(5)
    void changedTunMtuIsSetBack() throws Exception {
        h1.ns().exec("ip", "link", "set", "flannel0", "mtu", "9000");
        awaitRestored("MTU 9000");
        assertThat(h1.ns().exec("ip", "-o", "link", "show", "flannel0")).contains("mtu 1472 ");
    }

    @Test
    @Order(6)
    void removedBridgeAddressIsAddedAgain() throws Exception {
        h1.ns().exec("ip", "addr", "del", bridge1, "dev", "cbr0");
        awaitRestored("address " + bridge1);
        assertThat(h1.ns().exec("ip", "-4", "-o", "addr", "show", "dev", "cbr0")).contains("inet " + bridge1);
    }

    @Test
    @Order(7)
    void deletedBridgeIsMadeAgain() throws Exception {
        h1.ns().exec("ip", "link", "del", "cbr0");
        awaitRestored("cbr0");
        assertThat(h1.ns().exec("ip", "-4", "-o", "addr", "show", "dev", "cbr0")).contains("inet " + bridge1);
        assertThat(h1.ns().exec("ip", "-o", "link", "show", "cbr0")).contains("mtu 1472 ");
    }

    /**
     * The bridge's subnet route deleted ({@code ip route flush} does it to every route of the main table) while its
     * address stays: the kernel does not add the route again, and a container on the bridge is unreachable from the
     * other host (its subnet follows the Network route back into the TUN). The agent must put the route back.
     */
    @Test
    @Order(8)
    void deletedBridgeSubnetRouteIsAddedAgainSoContainersAreReached() throws Exception {
        final String subnet = h1.subnet().subnet().toString();
        final String container = io.overlay.core.net.Ipv4.format(h1.subnet().gateway() + 4);
        try (io.overlay.testing.Netns ctr = io.overlay.testing.Netns.create()) {
            h1.ns().exec("ip", "link", "add", "ovhd-ctr", "type", "veth", "peer", "name", "eth0", "netns", ctr.name());
            h1.ns().exec("ip", "link", "set", "ovhd-ctr", "master", "cbr0", "up");
            ctr.exec("ip", "addr", "add", container + "/" + h1.subnet().subnet().length(), "dev", "eth0");
            ctr.exec("ip", "link", "set", "eth0", "up");
            ctr.exec("ip", "route", "add", "default", "via", bridge1.replaceAll("/.*", ""));
            OverlayHosts.await("h2 -> container on h1's bridge", RESTORED_WITHIN, () -> ping(h2, container) == 0);

            h1.ns().exec("ip", "route", "del", subnet, "dev", "cbr0");
            awaitRestored("route " + subnet);
            assertThat(h1.ns().exec("ip", "route", "show", subnet)).contains("dev cbr0");
            OverlayHosts.await("h2 -> container on h1's bridge again", RESTORED_WITHIN,
                () -> ping(h2, container) == 0);
        }
    }

    /**
     * The TUN device deleted: its descriptor is dead and the device cannot be had back in place. The agent must not
     * stay ready nor run on silently, and must exit 1 (so systemd restarts it) with an error naming the device.
     */
    @Test
    @Order(100)
    void deletedTunMakesTheAgentNotReadyAndExitNonZero() throws Exception {
        final long t0 = System.nanoTime();
        h1.ns().exec("ip", "link", "del", "flannel0");
        final boolean exited = h1.process().waitFor(RESTORED_WITHIN.toSeconds(), TimeUnit.SECONDS);
        final String log = newLog();
        assertThat(exited).as("h1 exits within %s after its TUN was deleted; its log:%n%s", RESTORED_WITHIN, log)
            .isTrue();
        System.out.printf("TUN deleted: h1 exited %d ms later with status %d%n",
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), h1.process().exitValue());
        assertThat(h1.process().exitValue()).as("exit status (Restart=on-failure needs non-zero)").isEqualTo(1);
        assertThat(log).containsPattern("ERROR .*TUN device flannel0 .*(deleted|gone)");
    }

    /** Waits until traffic flows both ways again and h1's log has a WARN naming {@code what} it restored. */
    private void awaitRestored(final String what) throws Exception {
        final long t0 = System.nanoTime();
        try {
            OverlayHosts.await("a WARN restoring '" + what + "' in h1's log", RESTORED_WITHIN,
                () -> newLog().lines().anyMatch(l -> l.contains(" WARN ") && l.contains(what)
                    && l.contains("restor")));
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; h1's log since the change:\n" + newLog(), e);
        }
        awaitBothWays();
        System.out.printf("%s: restored, both ways again %d ms after the change%n", what,
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        assertThat(h1.process().isAlive()).isTrue();
        OverlayHosts.await("h1 ready", RESTORED_WITHIN, () -> OverlayHosts.readyz(h1) == 200);
    }

    private void awaitBothWays() throws Exception {
        OverlayHosts.await("h1 <-> h2", RESTORED_WITHIN, () -> ping(h1, bridge2) == 0
            && ping(h2, bridge1.replaceAll("/.*", "")) == 0);
    }

    private String newLog() throws Exception {
        final byte[] all = Files.readAllBytes(log1);
        return new String(all, (int) Math.min(logMark, all.length), (int) Math.max(0, all.length - logMark),
            StandardCharsets.UTF_8);
    }

    private static int ping(final OverlayHosts.Host from, final String to) throws Exception {
        return (int) OverlayHosts.runIn(from, Duration.ofSeconds(5), "ping", "-c", "1", "-W", "1", "-q", to)[0];
    }
}
