package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunDeviceGoneException;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Privileged;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link LinuxTunDevice#drift} against a real TUN in a namespace of the test's own: it reports exactly what someone
 * else changed after {@link LinuxTunDevice#configure} (link, MTU, address, the Network route), nothing for routes of
 * others that are more specific than the Network (which shadow the address the route is looked up with), and a
 * deleted device as {@link TunDeviceGoneException}. {@link LinuxBridgeConfigurator#drift} likewise for a bridge.
 */
@Privileged
class LinuxTunDeviceDriftTest extends NamespacedTunFixture {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    /** The first subnet of the Network: the route is then looked up with the Network's last address. */
    private static final TunSetup FIRST = new TunSetup(Ipv4Prefix.parse("100.64.0.0/32"), 1472, List.of(NETWORK));
    private static final TunSetup OTHER = new TunSetup(Ipv4Prefix.parse("100.64.5.0/32"), 1472, List.of(NETWORK));

    @Test
    void reportsWhatSomeoneElseChangedAndNothingOnceConfiguredAgain() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovdr0", 1));
        tun.configure(OTHER);
        assertThat(tun.drift(OTHER)).isEmpty();

        ns.exec("ip", "link", "set", "ovdr0", "down"); // drops the route too
        assertThat(tun.drift(OTHER)).containsExactly("link down", "route 100.64.0.0/16 missing");
        tun.configure(OTHER);
        assertThat(tun.drift(OTHER)).isEmpty();

        ns.exec("ip", "addr", "del", "100.64.5.0/32", "dev", "ovdr0");
        ns.exec("ip", "link", "set", "ovdr0", "mtu", "9000");
        // the kernel drops a device's routes with its last address
        assertThat(tun.drift(OTHER)).containsExactly("MTU 9000 instead of 1472", "address 100.64.5.0/32 missing",
            "route 100.64.0.0/16 missing");
        tun.configure(OTHER);
        assertThat(tun.drift(OTHER)).isEmpty();
        assertThat(ns.exec("ip", "route", "show", NETWORK.toString())).contains("dev ovdr0");
    }

    @Test
    void moreSpecificRoutesOfOthersAreNoDrift() throws Exception {
        ns.exec("ip", "link", "add", "ovdr9", "type", "veth", "peer", "name", "ovdr9p");
        ns.exec("ip", "link", "set", "ovdr9", "up");
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovdr1", 1));
        tun.configure(FIRST);
        // both addresses a lookup could use are covered by someone else's more specific routes
        ns.exec("ip", "route", "add", "100.64.0.0/24", "dev", "ovdr9");
        ns.exec("ip", "route", "add", "100.64.255.0/24", "dev", "ovdr9");
        assertThat(tun.drift(FIRST)).isEmpty();
        ns.exec("ip", "route", "del", NETWORK.toString(), "dev", "ovdr1");
        assertThat(tun.drift(FIRST)).containsExactly("route 100.64.0.0/16 missing");
    }

    @Test
    void aDeletedDeviceIsGone() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovdr2", 1));
        tun.configure(OTHER);
        ns.exec("ip", "link", "del", "ovdr2");
        assertThatThrownBy(() -> tun.drift(OTHER)).isInstanceOf(TunDeviceGoneException.class)
            .hasMessageContaining("TUN device ovdr2 was deleted");
    }

    /**
     * A multi-queue device (--loops 2): every queue answers TUNGETIFF, so a device as set up shows no difference; the
     * checks open and close their sockets (no descriptor left per check); a deleted device is gone on every queue.
     */
    @Test
    void aMultiQueueDeviceShowsNoDifferenceAndLeaksNoDescriptor() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovdr3", 2));
        tun.configure(OTHER);
        assertThat(tun.drift(OTHER)).isEmpty();
        final long before = openDescriptors();
        for (int i = 0; i < 50; i++) {
            assertThat(tun.drift(OTHER)).isEmpty();
        }
        // a leak per check would show 50 more; other threads of this JVM may hold one or two for a moment
        assertThat(openDescriptors()).as("descriptors after 50 checks").isLessThanOrEqualTo(before + 3);
        ns.exec("ip", "link", "del", "ovdr3");
        assertThatThrownBy(() -> tun.drift(OTHER)).isInstanceOf(TunDeviceGoneException.class)
            .hasMessageContaining("TUN device ovdr3 was deleted");
    }

    private static long openDescriptors() throws java.io.IOException {
        try (java.util.stream.Stream<java.nio.file.Path> fds = java.nio.file.Files.list(java.nio.file.Path.of(
            "/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    void aBridgeReportsWhatIsMissing() throws Exception {
        final LinuxBridgeConfigurator bridges = new LinuxBridgeConfigurator();
        final Ipv4Prefix subnet = Ipv4Prefix.parse("100.64.5.0/24");
        final int address = io.overlay.core.net.Ipv4.parse("100.64.5.1");
        NetnsThread.call(ns.name(), () -> {
            assertThat(bridges.drift("ovdrb", subnet, address, 1472)).containsExactly("bridge ovdrb missing");
            bridges.ensureBridge("ovdrb", subnet, address, NETWORK, 1472);
            assertThat(bridges.drift("ovdrb", subnet, address, 1472)).isEmpty();
            ns.exec("ip", "addr", "flush", "dev", "ovdrb");
            ns.exec("ip", "link", "set", "ovdrb", "down", "mtu", "1400");
            assertThat(bridges.drift("ovdrb", subnet, address, 1472)).containsExactly("link down",
                "MTU 1400 instead of 1472", "address 100.64.5.1/24 missing", "route 100.64.5.0/24 missing");
            return null;
        });
    }

    /**
     * Ports that Docker, LXC or CNI attach, with an MTU of their own, are no difference: the bridge's MTU is pinned,
     * so the kernel does not adjust it to theirs, also after the bridge was deleted and made again by a restore.
     */
    @Test
    void portsAttachedByOthersAreNoDifference() throws Exception {
        final LinuxBridgeConfigurator bridges = new LinuxBridgeConfigurator();
        final Ipv4Prefix subnet = Ipv4Prefix.parse("100.64.5.0/24");
        final int address = io.overlay.core.net.Ipv4.parse("100.64.5.1");
        NetnsThread.call(ns.name(), () -> {
            bridges.ensureBridge("ovdrc", subnet, address, NETWORK, 1472);
            ns.exec("ip", "link", "add", "ovdrp1", "mtu", "1500", "type", "veth", "peer", "name", "ovdrq1");
            ns.exec("ip", "link", "set", "ovdrp1", "master", "ovdrc", "up");
            assertThat(bridges.drift("ovdrc", subnet, address, 1472)).isEmpty();
            ns.exec("ip", "link", "del", "ovdrc");
            bridges.ensureBridge("ovdrc", subnet, address, NETWORK, 1472, List.of());
            ns.exec("ip", "link", "add", "ovdrp2", "mtu", "9000", "type", "veth", "peer", "name", "ovdrq2");
            ns.exec("ip", "link", "set", "ovdrp2", "master", "ovdrc", "up");
            ns.exec("ip", "link", "set", "ovdrp1", "master", "ovdrc", "up");
            assertThat(bridges.drift("ovdrc", subnet, address, 1472)).isEmpty();
            return null;
        });
    }

    /**
     * {@code ip route flush} (or {@code ip route del <subnet> dev <bridge>}) removes the bridge's subnet route and
     * leaves its address: nothing on the host reaches the containers any more (their subnet would follow the Network
     * route back into the TUN). That is a difference, and {@link LinuxBridgeConfigurator#ensureBridge} puts the route
     * back.
     */
    @Test
    void aBridgeWithoutItsSubnetRouteDiffersAndIsRestored() throws Exception {
        final LinuxBridgeConfigurator bridges = new LinuxBridgeConfigurator();
        final Ipv4Prefix subnet = Ipv4Prefix.parse("100.64.5.0/24");
        final int address = io.overlay.core.net.Ipv4.parse("100.64.5.1");
        NetnsThread.call(ns.name(), () -> {
            bridges.ensureBridge("ovdrd", subnet, address, NETWORK, 1472);
            ns.exec("ip", "route", "flush", "table", "main");
            assertThat(ns.exec("ip", "-4", "-o", "addr", "show", "dev", "ovdrd")).contains("100.64.5.1/24");
            assertThat(bridges.drift("ovdrd", subnet, address, 1472)).containsExactly("route 100.64.5.0/24 missing");
            bridges.ensureBridge("ovdrd", subnet, address, NETWORK, 1472, List.of());
            assertThat(bridges.drift("ovdrd", subnet, address, 1472)).isEmpty();
            assertThat(ns.exec("ip", "route", "show", "100.64.5.0/24")).contains("dev ovdrd").contains("src 100.64.5.1");
            assertThat(ns.exec("ip", "route", "get", "100.64.5.9")).contains("dev ovdrd");
            return null;
        });
    }

    /**
     * Someone else's route for the bridge's subnet through another device, with the bridge's own gone: the route cannot
     * be added (EEXIST), ensureBridge leaves it and the difference stays, for the host check to report.
     */
    @Test
    void aForeignRouteForTheBridgeSubnetStaysADifference() throws Exception {
        final LinuxBridgeConfigurator bridges = new LinuxBridgeConfigurator();
        final Ipv4Prefix subnet = Ipv4Prefix.parse("100.64.5.0/24");
        final int address = io.overlay.core.net.Ipv4.parse("100.64.5.1");
        ns.exec("ip", "link", "add", "ovdr8", "type", "veth", "peer", "name", "ovdr8p");
        ns.exec("ip", "link", "set", "ovdr8", "up");
        NetnsThread.call(ns.name(), () -> {
            bridges.ensureBridge("ovdre", subnet, address, NETWORK, 1472);
            ns.exec("ip", "route", "del", "100.64.5.0/24", "dev", "ovdre");
            ns.exec("ip", "route", "add", "100.64.5.0/24", "dev", "ovdr8");
            assertThat(bridges.drift("ovdre", subnet, address, 1472)).containsExactly("route 100.64.5.0/24 missing");
            bridges.ensureBridge("ovdre", subnet, address, NETWORK, 1472, List.of());
            assertThat(bridges.drift("ovdre", subnet, address, 1472)).containsExactly("route 100.64.5.0/24 missing");
            assertThat(ns.exec("ip", "route", "show", "100.64.5.0/24")).contains("dev ovdr8").doesNotContain("ovdre");
            return null;
        });
    }
}
