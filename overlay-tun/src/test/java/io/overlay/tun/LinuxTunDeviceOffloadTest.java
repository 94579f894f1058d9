package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunDevice;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Privileged;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link LinuxTunDeviceFactory#openWithOffloads}: IFF_VNET_HDR, TUNSETOFFLOAD, frames with a virtio_net_hdr. */
@Privileged
class LinuxTunDeviceOffloadTest extends NamespacedTunFixture {
    @Test
    void offloadsAreSwitchedOnAndEveryReadStartsWithAVirtioHeader() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.openWithOffloads("ovof%d", 1));
        assertThat(tun.vnetHeaderLength()).isEqualTo(10);
        assertThat(tun.offloadFlags() & (TunDevice.TUN_F_CSUM | TunDevice.TUN_F_TSO4))
            .isEqualTo(TunDevice.TUN_F_CSUM | TunDevice.TUN_F_TSO4);
        final JsonNode info = IpJson.link(ns, tun.name()).get("linkinfo").get("info_data");
        assertThat(info.get("vnet_hdr").asBoolean()).as("ip -d link: vnet_hdr").isTrue();
        assertThat(IpJson.link(ns, tun.name()).get("gso_max_segs").asInt())
            .as("gso_max_segs bounds the TSO super-packets the engine must segment")
            .isEqualTo(TunDevice.MAX_GSO_SEGMENTS);
        tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472,
            List.of(Ipv4Prefix.parse("100.64.0.0/16"))));

        try (DatagramChannel sender = NetnsThread.call(ns.name(), DatagramChannel::open)) {
            sender.send(ByteBuffer.wrap(new byte[] {1, 2, 3}), new InetSocketAddress("100.64.5.6", 20000));
        }
        final ByteBuffer b = ByteBuffer.allocateDirect(70000);
        final long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        int n = 0;
        while (System.nanoTime() < end) {
            b.clear();
            n = tun.read(0, b);
            // 10-byte header, then an IPv4/UDP packet to 100.64.5.6:20000 (skip e.g. IPv6 router solicitations)
            if (n >= 10 + 28 && (b.get(10) & 0xff) == 0x45 && b.get(10 + 9) == 17 && b.getInt(10 + 16) == 0x64400506) {
                break;
            }
            n = 0;
            Thread.sleep(5);
        }
        assertThat(n).as("frame length: virtio header + 28-byte IPv4/UDP header + 3 bytes").isEqualTo(10 + 31);
        assertThat(b.get(1)).as("gso_type NONE").isZero();
    }

    @Test
    void attachingToAMultiQueueDeviceMadeByIpTuntapTurnsOffloadsOnForAllQueues() throws Exception {
        ns.exec("ip", "tuntap", "add", "dev", "ovat0", "mode", "tun", "multi_queue");
        tun = NetnsThread.call(ns.name(), () -> factory.attachWithOffloads("ovat0", 2));
        assertThat(tun.queueCount()).isEqualTo(2);
        assertThat(tun.vnetHeaderLength()).isEqualTo(10);
        assertThat(tun.offloadFlags() & TunDevice.TUN_F_TSO4).isNotZero();
        assertThat(IpJson.link(ns, "ovat0").get("linkinfo").get("info_data").get("vnet_hdr").asBoolean()).isTrue();
        assertThat(IpJson.link(ns, "ovat0").get("gso_max_segs").asInt()).isEqualTo(TunDevice.MAX_GSO_SEGMENTS);
    }

    @Test
    void plainOpenHasNoVirtioHeader() throws Exception {
        tun = NetnsThread.call(ns.name(), () -> factory.open("ovpl%d", 1));
        assertThat(tun.vnetHeaderLength()).isZero();
        assertThat(tun.offloadFlags()).isZero();
        final JsonNode info = IpJson.link(ns, tun.name()).get("linkinfo").get("info_data");
        assertThat(info.path("vnet_hdr").asBoolean(false)).isFalse();
    }
}
