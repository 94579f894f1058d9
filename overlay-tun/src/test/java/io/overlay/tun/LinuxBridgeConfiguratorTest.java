package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.BridgeConfigurator;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.ServiceLoader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link LinuxBridgeConfigurator} against the real kernel, in a fresh network namespace per test: create, reuse,
 * re-address (subnet change), idempotence, a device of the wrong kind, and a container attached to the bridge reaching
 * the bridge address. State is read back with iproute2, independently of the code under test.
 */
@Privileged
class LinuxBridgeConfiguratorTest {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    private static final Ipv4Prefix SUBNET_A = Ipv4Prefix.parse("100.64.5.0/24");
    private static final Ipv4Prefix SUBNET_B = Ipv4Prefix.parse("100.64.9.0/24");

    private final LinuxBridgeConfigurator bridges = new LinuxBridgeConfigurator();
    private Netns ns;

    @BeforeEach
    void namespace() throws Exception {
        ns = Netns.create();
    }

    @AfterEach
    void cleanup() {
        ns.close();
    }

    private void ensure(final String name, final Ipv4Prefix subnet, final int mtu) throws Exception {
        NetnsThread.call(ns.name(), () -> {
            bridges.ensureBridge(name, subnet, FlannelRules.bridgeAddress(subnet), NETWORK, mtu);
            return null;
        });
    }

    private String link(final String name) throws Exception {
        return ns.exec("ip", "-d", "link", "show", "dev", name);
    }

    private String addresses(final String name) throws Exception {
        return ns.exec("ip", "-4", "-o", "addr", "show", "dev", name);
    }

    private static String flags(final String link) {
        return link.substring(link.indexOf('<') + 1, link.indexOf('>'));
    }

    @Test
    void createsAnAddressedBridgeWithTheMtuAndUp() throws Exception {
        ensure("lxcbr0", SUBNET_A, 1472);

        final String link = link("lxcbr0");
        assertThat(link).contains("mtu 1472").contains("\n    bridge ");
        assertThat(flags(link).split(",")).contains("UP");
        assertThat(addresses("lxcbr0")).contains("inet 100.64.5.1/24 ").doesNotContain("100.64.9.");
    }

    @Test
    void aContainerOnTheBridgeReachesTheBridgeAddress() throws Exception {
        ensure("cbr0", SUBNET_A, 1472);
        try (Netns container = Netns.create()) {
            ns.exec("ip", "link", "add", "vb", "type", "veth", "peer", "name", "vc", "netns", container.name());
            ns.exec("ip", "link", "set", "vb", "master", "cbr0", "up");
            container.exec("ip", "addr", "add", "100.64.5.2/24", "dev", "vc");
            container.exec("ip", "link", "set", "vc", "mtu", "1472", "up");

            final String ping = container.exec("ping", "-c", "2", "-W", "2", "100.64.5.1");
            assertThat(ping).contains("2 received");
        }
    }

    @Test
    void reusesAnExistingBridgeKeepingForeignAddresses() throws Exception {
        ns.exec("ip", "link", "add", "docker0", "mtu", "1500", "type", "bridge");
        ns.exec("ip", "addr", "add", "198.18.7.1/24", "dev", "docker0");
        final String index = link("docker0").split(":")[0];

        ensure("docker0", SUBNET_A, 1472);

        final String link = link("docker0");
        assertThat(link.split(":")[0]).as("same interface, not recreated").isEqualTo(index);
        assertThat(link).contains("mtu 1472");
        assertThat(flags(link).split(",")).contains("UP");
        assertThat(addresses("docker0")).contains("inet 100.64.5.1/24 ").contains("inet 198.18.7.1/24 ");
    }

    @Test
    void aSubnetChangeMovesTheBridgeAddressAndRepeatingChangesNothing() throws Exception {
        ensure("lxcbr0", SUBNET_A, 1472);
        ns.exec("ip", "addr", "add", "100.64.77.1/24", "dev", "lxcbr0"); // another stale overlay address

        ensure("lxcbr0", SUBNET_B, 1450);
        String addrs = addresses("lxcbr0");
        assertThat(addrs).contains("inet 100.64.9.1/24 ").doesNotContain("100.64.5.").doesNotContain("100.64.77.");
        assertThat(addrs.lines().count()).isEqualTo(1);
        assertThat(link("lxcbr0")).contains("mtu 1450");

        final String before = ns.exec("ip", "-o", "link", "show", "dev", "lxcbr0") + addresses("lxcbr0");
        ensure("lxcbr0", SUBNET_B, 1450);
        assertThat(ns.exec("ip", "-o", "link", "show", "dev", "lxcbr0") + addresses("lxcbr0")).isEqualTo(before);
    }

    @Test
    void anEarlierSubnetOutsideTheNetworkLosesItsAddressOthersStay() throws Exception {
        ns.exec("ip", "link", "add", "cbr0", "type", "bridge");
        ns.exec("ip", "addr", "add", "100.127.7.1/24", "dev", "cbr0"); // the old Network's subnet
        ns.exec("ip", "addr", "add", "100.100.1.1/24", "dev", "cbr0"); // the operator's
        NetnsThread.call(ns.name(), () -> {
            bridges.ensureBridge("cbr0", SUBNET_A, FlannelRules.bridgeAddress(SUBNET_A), NETWORK, 1472,
                List.of(Ipv4Prefix.parse("100.127.7.0/24")));
            return null;
        });
        assertThat(addresses("cbr0")).contains("inet 100.64.5.1/24 ", "inet 100.100.1.1/24 ")
            .doesNotContain("100.127.");
    }

    @Test
    void theMtuStaysWhenAPortOfMtu1500IsAttached() throws Exception {
        // created by overlay, and an existing bridge that already had the overlay MTU (set at creation)
        ensure("cbr0", SUBNET_A, 1472);
        ns.exec("ip", "link", "add", "old0", "mtu", "1472", "type", "bridge");
        ensure("old0", SUBNET_A, 1472);
        int n = 0;
        for (String bridge : new String[] {"cbr0", "old0"}) {
            ns.exec("ip", "link", "add", "p" + n, "mtu", "1500", "type", "veth", "peer", "name", "q" + n, "mtu", "1500");
            ns.exec("ip", "link", "set", "p" + n, "master", bridge, "up");
            assertThat(link(bridge)).as(bridge).contains("mtu 1472 ");
            ns.exec("ip", "link", "set", "p" + n, "mtu", "9000"); // a port's MTU change adjusts an unpinned bridge too
            assertThat(link(bridge)).as(bridge).contains("mtu 1472 ");
            n++;
        }
    }

    @Test
    void aDeviceOfAnotherKindWithTheNameIsAnError() throws Exception {
        ns.exec("ip", "link", "add", "lxcbr0", "type", "veth", "peer", "name", "other0");

        assertThatThrownBy(() -> ensure("lxcbr0", SUBNET_A, 1472))
            .isInstanceOfSatisfying(TunException.class, e -> {
                assertThat(e.reason()).isEqualTo(TunException.Reason.NAME_TAKEN);
                assertThat(e.getMessage()).contains("\"lxcbr0\"").contains("a veth device").contains("not a bridge");
            });
        assertThat(link("lxcbr0")).contains("veth").doesNotContain("\n    bridge ");
        assertThat(addresses("lxcbr0")).isEmpty();
    }

    @Test
    void badArgumentsAreRejectedBeforeAnySystemCall() {
        assertThatThrownBy(() -> bridges.ensureBridge("a-name-far-too-long", SUBNET_A, FlannelRules.bridgeAddress(
            SUBNET_A), NETWORK, 1472)).isInstanceOfSatisfying(TunException.class,
                e -> assertThat(e.reason()).isEqualTo(TunException.Reason.INVALID_NAME));
        assertThatThrownBy(() -> bridges.ensureBridge("br%d", SUBNET_A, FlannelRules.bridgeAddress(SUBNET_A),
            NETWORK, 1472)).isInstanceOf(TunException.class).hasMessageContaining("template");
        assertThatThrownBy(() -> bridges.ensureBridge("br0", SUBNET_A, Ipv4.parse("100.64.6.1"), NETWORK, 1472))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not inside subnet 100.64.5.0/24");
        assertThatThrownBy(() -> bridges.ensureBridge("br0", SUBNET_A, FlannelRules.bridgeAddress(SUBNET_A),
            NETWORK, 67)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("68..65535");
    }

    @Test
    void theCreateRequestIsEncodedLikeIproute2() {
        final ByteBuffer m = LinuxBridgeConfigurator.newBridge(7, "lxcbr0".getBytes(StandardCharsets.US_ASCII),
            1472);
        final byte[] bytes = new byte[m.remaining()];
        m.duplicate().get(bytes);
        final ByteBuffer le = ByteBuffer.allocate(68).order(ByteOrder.nativeOrder());
        le.putInt(68).putShort((short) 16).putShort((short) (0x1 | 0x4 | 0x400 | 0x200)).putInt(7).putInt(0);
        le.put(new byte[16]);                                             // ifinfomsg, all zero
        le.putShort((short) 11).putShort((short) 3).put("lxcbr0".getBytes(StandardCharsets.US_ASCII))
            .put(new byte[] {0, 0});                                       // IFLA_IFNAME "lxcbr0\0" + 1 pad
        le.putShort((short) 8).putShort((short) 4).putInt(1472);            // IFLA_MTU
        le.putShort((short) 16).putShort((short) 18);                       // IFLA_LINKINFO, nested
        le.putShort((short) 11).putShort((short) 1).put("bridge".getBytes(StandardCharsets.US_ASCII))
            .put(new byte[] {0, 0});                                       // IFLA_INFO_KIND "bridge\0" + 1 pad
        assertThat(HexFormat.of().formatHex(bytes)).isEqualTo(HexFormat.of().formatHex(le.array()));
    }

    @Test
    void isTheBridgeConfiguratorServiceLoaderFinds() {
        assertThat(ServiceLoader.load(BridgeConfigurator.class).findFirst()).get()
            .isInstanceOf(LinuxBridgeConfigurator.class);
    }
}
