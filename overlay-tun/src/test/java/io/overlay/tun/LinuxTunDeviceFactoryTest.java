package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunDeviceFactory;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.HashSet;
import java.util.List;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Multi-queue devices, attaching to devices made by {@code ip tuntap add}, and the open errors, in a test namespace. */
@Privileged
class LinuxTunDeviceFactoryTest extends NamespacedTunFixture {
    @Test
    void serviceLoaderFindsTheFactory() {
        assertThat(ServiceLoader.load(TunDeviceFactory.class).findFirst()).get()
            .isInstanceOf(LinuxTunDeviceFactory.class);
    }

    @Test
    void twoQueuesOfOneDeviceBothCarryPackets() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovmq%d", 2));
        assertThat(tun.name()).isEqualTo("ovmq0");
        assertThat(tun.queueCount()).isEqualTo(2);
        assertThat(tun.isMultiQueue()).isTrue();
        assertThat(tun.fileDescriptor(0)).isNotEqualTo(tun.fileDescriptor(1));
        for (int q = 0; q < 2; q++) {
            assertThat(LinuxTunDeviceConfigureTest.fdinfoFlags(tun.fileDescriptor(q)) & 04000).isNotZero();
        }
        final JsonNode info = IpJson.link(ns, "ovmq0").get("linkinfo").get("info_data");
        assertThat(info.get("multi_queue").asBoolean()).isTrue();
        assertThat(info.get("numqueues").asInt()).isEqualTo(2);
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472,
            List.of(Ipv4Prefix.parse("100.64.0.0/16"))));

        // 64 flows (one destination port each): the kernel spreads them over the queues by flow hash
        final int flows = 64;
        try (DatagramChannel sender = NetnsThread.call(ns.name(), DatagramChannel::open)) {
            for (int port = 20000; port < 20000 + flows; port++) {
                sender.send(ByteBuffer.wrap(new byte[] {1, 2, 3}), new InetSocketAddress("100.64.5.6", port));
            }
        }
        final Set<Integer> ports = new HashSet<>();
        final int[] perQueue = new int[2];
        final ByteBuffer b = ByteBuffer.allocateDirect(2048);
        final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (ports.size() < flows && System.nanoTime() < end) {
            boolean any = false;
            for (int q = 0; q < 2; q++) {
                b.clear();
                if (tun.read(q, b) > 0) {
                    any = true;
                    if (TestPackets.version(b) == 4 && TestPackets.protocol(b) == TestPackets.PROTO_UDP
                        && TestPackets.dst(b) == Ipv4.parse("100.64.5.6")) {
                        assertThat(ports.add(b.getShort(TestPackets.ihl(b) + 2) & 0xffff)).as("read once").isTrue();
                        perQueue[q]++;
                    }
                }
            }
            if (!any) {
                Thread.sleep(5);
            }
        }
        assertThat(ports).hasSize(flows);
        assertThat(perQueue[0]).as("packets on queue 0 of %s", java.util.Arrays.toString(perQueue)).isPositive();
        assertThat(perQueue[1]).as("packets on queue 1 of %s", java.util.Arrays.toString(perQueue)).isPositive();
    }

    @Test
    void attachesToAPersistentDeviceMadeByIpTuntapAndLeavesItOnClose() throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", "ovpre0", "mode", "tun");
        tun = NetnsThread.call(ns.name(), () -> factory.attach("ovpre0", 1));
        assertThat(tun.name()).isEqualTo("ovpre0");
        assertThat(tun.isMultiQueue()).isFalse();
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1400, List.of()));
        assertThat(IpJson.link(ns, "ovpre0").get("mtu").asInt()).isEqualTo(1400);
        tun.close();
        assertThat(IpJson.linkExists(ns, "ovpre0")).as("persistent device stays").isTrue();

        tun = NetnsThread.call(ns.name(), () -> factory.open("ovpre0", 1));
        assertThat(tun.name()).isEqualTo("ovpre0");
    }

    @Test
    void attachesTwoQueuesToAMultiQueueDeviceMadeByIpTuntap() throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", "ovpre1", "mode", "tun", "multi_queue");
        tun = NetnsThread.call(ns.name(), () -> factory.attach("ovpre1", 2));
        assertThat(tun.isMultiQueue()).isTrue();
        assertThat(tun.queueCount()).isEqualTo(2);
        assertThat(IpJson.link(ns, "ovpre1").get("linkinfo").get("info_data").get("numqueues").asInt())
            .isEqualTo(2);
    }

    @Test
    void singleQueueOpenOfAMultiQueueDeviceIsAFlagsMismatch() throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", "ovpre2", "mode", "tun", "multi_queue");
        assertThatThrownBy(() -> NetnsThread.call(ns.name(), () -> factory.open("ovpre2", 1)))
            .isInstanceOfSatisfying(TunException.class, e -> {
                assertThat(e.reason()).isEqualTo(TunException.Reason.FLAGS_MISMATCH);
                assertThat(e.errno()).isEqualTo(LibC.EINVAL);
                assertThat(e.getMessage()).contains("ovpre2", "multi-queue", "IFF_MULTI_QUEUE", "multiQueue=true");
            });
    }

    @Test
    void multiQueueOpenOfASingleQueueDeviceIsAFlagsMismatch() throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", "ovpre3", "mode", "tun");
        assertThatThrownBy(() -> NetnsThread.call(ns.name(), () -> factory.open("ovpre3", 2)))
            .isInstanceOfSatisfying(TunException.class, e -> {
                assertThat(e.reason()).isEqualTo(TunException.Reason.FLAGS_MISMATCH);
                assertThat(e.getMessage()).contains("single-queue");
            });
        assertThatThrownBy(() -> NetnsThread.call(ns.name(), () -> factory.attach("ovpre3", 2)))
            .isInstanceOfSatisfying(TunException.class,
                e -> assertThat(e.reason()).isEqualTo(TunException.Reason.FLAGS_MISMATCH));
    }

    @Test
    void nameTakenByABridgeOrVethOrTapDeviceIsReported() throws Exception {
        ns.exec("ip", "link", "add", "ovbr0", "type", "bridge");
        ns.exec("ip", "link", "add", "ovveth0", "type", "veth", "peer", "name", "ovveth1");
        ns.exec("ip", "tuntap", "add", "dev", "ovtap0", "mode", "tap");
        for (String[] c : new String[][] {{"ovbr0", "a bridge device"}, {"ovveth0", "a veth device"},
            {"ovtap0", "a TAP device"}}) {
            assertThatThrownBy(() -> NetnsThread.call(ns.name(), () -> factory.open(c[0], 1)))
                .isInstanceOfSatisfying(TunException.class, e -> {
                    assertThat(e.reason()).isEqualTo(TunException.Reason.NAME_TAKEN);
                    assertThat(e.getMessage()).contains(c[0], c[1], "choose another name");
                });
        }
        assertThatThrownBy(() -> NetnsThread.call(ns.name(), () -> factory.attach("ovveth0", 1)))
            .isInstanceOfSatisfying(TunException.class,
                e -> assertThat(e.reason()).isEqualTo(TunException.Reason.NAME_TAKEN));
    }

    @Test
    void secondOpenOfASingleQueueDeviceInUseIsBusy() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovbusy0", 1));
        assertThatThrownBy(() -> NetnsThread.call(ns.name(), () -> factory.open("ovbusy0", 1)))
            .isInstanceOfSatisfying(TunException.class, e -> {
                assertThat(e.reason()).isEqualTo(TunException.Reason.DEVICE_BUSY);
                assertThat(e.errno()).isEqualTo(LibC.EBUSY);
                assertThat(e.getMessage()).contains("already attached");
            });
    }

    @Test
    void attachToAMissingDeviceSaysSo() {
        assertThatThrownBy(() -> NetnsThread.call(ns.name(), () -> factory.attach("ovnone0", 1)))
            .isInstanceOfSatisfying(TunException.class, e -> {
                assertThat(e.reason()).isEqualTo(TunException.Reason.INVALID_NAME);
                assertThat(e.getMessage()).contains("no interface", "ip tuntap add");
            });
    }

    @Test
    void invalidNamesFailBeforeAnySystemCall() {
        assertThatThrownBy(() -> factory.open("abcdefghijklmnop", 1))
            .isInstanceOfSatisfying(TunException.class, e -> {
                assertThat(e.reason()).isEqualTo(TunException.Reason.INVALID_NAME);
                assertThat(e.errno()).isZero();
                assertThat(e.getMessage()).contains("16 bytes", "at most 15");
            });
        assertThatThrownBy(() -> factory.open("bad/name", 1)).isInstanceOf(TunException.class);
        assertThatThrownBy(() -> factory.open("flannel0", 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> factory.open("flannel0", 2, false)).isInstanceOf(IllegalArgumentException.class);
    }
}
