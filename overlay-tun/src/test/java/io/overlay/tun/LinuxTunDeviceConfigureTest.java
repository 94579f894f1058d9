package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Creates and configures real TUN devices inside a namespace of the test's own and checks them with {@code ip -j}. */
@Privileged
class LinuxTunDeviceConfigureTest extends NamespacedTunFixture {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");

    @Test
    void templateGivesFlannel0AndConfigureSetsAddressMtuUpAndRoute() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("flannel%d", 1));
        assertThat(tun.name()).isEqualTo("flannel0");
        assertThat(tun.queueCount()).isEqualTo(1);
        assertThat(tun.fileDescriptor(0)).isGreaterThan(2);
        final int openFlags = fdinfoFlags(tun.fileDescriptor(0));
        assertThat(openFlags & 3).as("O_RDWR").isEqualTo(2);
        assertThat(openFlags & 04000).as("O_NONBLOCK").isNotZero();
        assertThat(openFlags & 02000000).as("O_CLOEXEC").isNotZero();

        // configured from the test thread, which is in the root namespace: the device must act in its own
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472, List.of(NETWORK)));

        final JsonNode link = IpJson.link(ns, "flannel0");
        assertThat(link.get("mtu").asInt()).isEqualTo(1472);
        assertThat(link.get("txqlen").asInt()).as("TunSetup.DEFAULT_TX_QUEUE_LENGTH").isEqualTo(2000);
        assertThat(link.get("flags").toString()).contains("\"UP\"");
        assertThat(link.get("linkinfo").get("info_kind").asText()).isEqualTo("tun");
        assertThat(link.get("linkinfo").get("info_data").get("type").asText()).isEqualTo("tun");
        assertThat(link.get("linkinfo").get("info_data").get("pi").asBoolean()).isFalse();

        final JsonNode addr = IpJson.addr(ns, "flannel0").get("addr_info");
        assertThat(addr).hasSize(1);
        assertThat(addr.get(0).get("local").asText()).isEqualTo("100.64.16.0");
        assertThat(addr.get(0).get("prefixlen").asInt()).isEqualTo(32);

        assertThat(routeDestinations()).contains("100.64.0.0/16");
        assertThat(Files.exists(Path.of("/sys/class/net/flannel0")))
            .as("the device lives in the test namespace, not the root namespace").isFalse();
        assertThat(ns.exec("cat", "/proc/sys/net/ipv6/conf/flannel0/disable_ipv6").trim()).isEqualTo("1");
    }

    @Test
    void reconfigureReplacesTheAddressAndToleratesTheExistingRoute() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovtun0", 1));
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472, List.of(NETWORK)));
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.17.0/32"), 1400, List.of(NETWORK)));

        final JsonNode addr = IpJson.addr(ns, "ovtun0").get("addr_info");
        assertThat(addr).hasSize(1);
        assertThat(addr.get(0).get("local").asText()).isEqualTo("100.64.17.0");
        assertThat(IpJson.link(ns, "ovtun0").get("mtu").asInt()).isEqualTo(1400);
        assertThat(routeDestinations()).containsOnlyOnce("100.64.0.0/16");
    }

    @Test
    void configureSetsTheTransmitQueueLengthAndZeroLeavesTheKernelsValue() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovtxq0", 1));
        assertThat(IpJson.link(ns, "ovtxq0").get("txqlen").asInt()).as("the kernel's TUN_READQ_SIZE").isEqualTo(500);

        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472, List.of(), 0));
        assertThat(IpJson.link(ns, "ovtxq0").get("txqlen").asInt()).as("0 leaves it").isEqualTo(500);

        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472, List.of(NETWORK), 3333));
        assertThat(IpJson.link(ns, "ovtxq0").get("txqlen").asInt()).isEqualTo(3333);

        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.17.0/32"), 1400, List.of(NETWORK), 0));
        final JsonNode link = IpJson.link(ns, "ovtxq0");
        assertThat(link.get("txqlen").asInt()).as("0 leaves the value set before").isEqualTo(3333);
        assertThat(link.get("mtu").asInt()).isEqualTo(1400);
    }

    @Test
    void setTxQueueLengthChangesOnlyTheQueueOfADeviceConfiguredElsewhere() throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", "ovtxq1", "mode", "tun", "multi_queue");
        ns.exec("ip", "addr", "add", "100.64.9.0/32", "dev", "ovtxq1");
        ns.exec("ip", "link", "set", "ovtxq1", "mtu", "1300", "up");
        tun = NetnsThread.call(ns.name(), () -> factory.attach("ovtxq1", 2));

        tun.setTxQueueLength(2000); // from the test thread, in the root namespace
        final JsonNode link = IpJson.link(ns, "ovtxq1");
        assertThat(link.get("txqlen").asInt()).isEqualTo(2000);
        assertThat(link.get("mtu").asInt()).as("MTU untouched").isEqualTo(1300);
        final JsonNode addr = IpJson.addr(ns, "ovtxq1").get("addr_info");
        assertThat(addr).hasSize(1);
        assertThat(addr.get(0).get("local").asText()).as("address untouched").isEqualTo("100.64.9.0");
        assertThat(Files.exists(Path.of("/sys/class/net/ovtxq1"))).isFalse();

        assertThatThrownBy(() -> tun.setTxQueueLength(0)).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("TUN transmit queue length must be 1..1000000 packets, got 0");
        assertThat(IpJson.link(ns, "ovtxq1").get("txqlen").asInt()).isEqualTo(2000);
    }

    @Test
    void routeThatAlreadyExistsIsTolerated() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovtun1", 1));
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472, List.of()));
        ns.exec("ip", "route", "add", "100.64.0.0/16", "dev", "ovtun1");
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472, List.of(NETWORK)));
        assertThat(routeDestinations()).containsOnlyOnce("100.64.0.0/16");
    }

    @Test
    void closingRemovesTheDeviceWithItsAddressAndRoutes() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovtun2", 1));
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472, List.of(NETWORK)));
        assertThat(IpJson.linkExists(ns, "ovtun2")).isTrue();
        tun.close();
        tun.close(); // idempotent
        assertThat(tun.isOpen()).isFalse();
        assertThat(IpJson.linkExists(ns, "ovtun2")).isFalse();
        assertThat(ns.exec("ip", "-4", "route", "show").contains("100.64.0.0/16")).isFalse();
    }

    /** The octal {@code flags:} line of {@code /proc/self/fdinfo/<fd>}. */
    static int fdinfoFlags(final int fd) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
            if (line.startsWith("flags:")) {
                return Integer.parseInt(line.substring(6).trim(), 8);
            }
        }
        throw new AssertionError("no flags line for fd " + fd);
    }

    private List<String> routeDestinations() throws Exception {
        final List<String> dsts = new ArrayList<>();
        for (JsonNode r : IpJson.routes(ns, tun.name())) {
            dsts.add(r.get("dst").asText());
        }
        return dsts;
    }
}
