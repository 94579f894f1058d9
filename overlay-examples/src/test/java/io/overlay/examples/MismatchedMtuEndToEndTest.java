package io.overlay.examples;

import static io.overlay.examples.JumboMtuEndToEndTest.allDrops;
import static io.overlay.examples.JumboMtuEndToEndTest.delta;
import static io.overlay.examples.JumboMtuEndToEndTest.drops;
import static io.overlay.examples.JumboMtuEndToEndTest.iperf;
import static io.overlay.examples.JumboMtuEndToEndTest.ping;
import static io.overlay.examples.JumboMtuEndToEndTest.reassembled;
import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.DropReason;
import io.overlay.testing.Privileged;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * flannel's B18, hosts with mismatched MTUs (flannel issues 463, 1011): two {@link OverlayHosts}, h1 on a 9000-byte
 * underlay link (overlay MTU 8972), h2 on a 1500-byte one (overlay MTU 1472), each deriving its own MTU as flannel
 * does. h1 knows that the path to h2 carries 1500 bytes (a route's MTU, standing in for what path MTU discovery
 * through a router would teach it; on the shared link alone a jumbo frame dies at h2's interface before its IP stack
 * sees it), so its kernel fragments an outer datagram larger than that and h2's kernel reassembles it. A datagram
 * whose inner packet is larger than h2's overlay MTU must then be dropped whole by h2 and counted as
 * {@code oversized} (flannel's proxy would cut it to its buffer and forward the stump); small pings and TCP (whose
 * MSS follows each side's MTU) still cross both ways. Logs go to {@code target/e2e-mismatched-mtu/}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class MismatchedMtuEndToEndTest {
    private static final int MTU_1 = 8972;
    private static final int MTU_2 = 1472;
    private static final String OVERSIZED = drops(DropReason.OVERSIZED);

    private OverlayHosts overlay;
    private OverlayHosts.Host h1;
    private OverlayHosts.Host h2;

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        overlay = OverlayHosts.start("e2e-mismatched-mtu", 2, h -> List.of(), h -> h == 1 ? 9000 : 1500,
            (n, ns, subnetEnv) -> { });
        h1 = overlay.hosts().get(0);
        h2 = overlay.hosts().get(1);
        for (OverlayHosts.Host h : overlay.hosts()) {
            OverlayHosts.await("h" + h.n() + " knows its peer", Duration.ofSeconds(60),
                () -> OverlayHosts.metrics(h).getOrDefault("overlay_peers", 0.0) == 1.0);
        }
        h1.ns().exec("ip", "route", "add", "198.18.0.2/32", "dev", "eth0", "mtu", "1500");
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
    }

    @Test
    void eachHostDerivesItsOwnMtu() throws Exception {
        assertThat(h1.subnet().mtu()).isEqualTo(MTU_1);
        assertThat(h2.subnet().mtu()).isEqualTo(MTU_2);
    }

    @Test
    void smallPingsCrossBothWays() throws Exception {
        for (OverlayHosts.Host[] pair : new OverlayHosts.Host[][] {{h1, h2}, {h2, h1}}) {
            final Object[] r = ping(pair[0], pair[1], 56, 3);
            assertThat((String) r[1]).as("h%d -> h%d", pair[0].n(), pair[1].n()).contains("3 received");
            assertThat((int) r[0]).isZero();
        }
        // h2's full MTU reaches h1, whose MTU is larger
        assertThat((String) ping(h2, h1, MTU_2 - 28, 2)[1]).contains("2 received");
    }

    @Test
    void packetsUpToTheReceiversMtuArriveAndLargerOnesAreDroppedWholeAndCounted() throws Exception {
        // exactly h2's MTU: a 1500-byte outer datagram, not fragmented, delivered
        final Map<String, Double> fitting = OverlayHosts.metrics(h2);
        assertThat((String) ping(h1, h2, MTU_2 - 28, 2)[1]).contains("2 received");
        final Map<String, Double> fitted = OverlayHosts.metrics(h2);
        assertThat(delta(fitting, fitted, OVERSIZED)).isZero();
        assertThat(delta(fitting, fitted, "overlay_udp_to_tun_bytes_total")).isEqualTo(2 * MTU_2);

        // one byte more, and h1's full MTU: fragmented by h1's kernel, reassembled by h2's, dropped by h2's engine
        for (int size : new int[] {MTU_2 + 1, MTU_1}) {
            final long reassembled = reassembled(h2);
            final Map<String, Double> sent = OverlayHosts.metrics(h1);
            final Map<String, Double> before = OverlayHosts.metrics(h2);
            final Object[] r = OverlayHosts.runIn(h1, Duration.ofSeconds(20), "ping", "-M", "do", "-s",
                Integer.toString(size - 28), "-c", "3", "-i", "0.2", "-W", "1",
                OverlayHosts.tunAddress(h2));
            assertThat((String) r[1]).as("%d-byte packets", size).contains("3 packets transmitted, 0 received");
            // the drop is counted after the datagram is read, so wait for the third
            OverlayHosts.await("h2 counts 3 oversized drops", Duration.ofSeconds(5),
                () -> delta(before, OverlayHosts.metrics(h2), OVERSIZED) >= 3);
            final Map<String, Double> after = OverlayHosts.metrics(h2);
            assertThat(delta(sent, OverlayHosts.metrics(h1), "overlay_tun_to_udp_bytes_total"))
                .as("h1 sent them").isEqualTo(3L * size);
            assertThat(reassembled(h2) - reassembled).as("datagrams h2's kernel reassembled").isEqualTo(3);
            assertThat(delta(before, after, OVERSIZED)).as("oversized at h2, %d-byte packets", size).isEqualTo(3);
            assertThat(allDrops(before, after)).as("all drops at h2").isEqualTo(3);
            assertThat(delta(before, after, "overlay_udp_to_tun_packets_total")).as("delivered").isZero();
            assertThat(delta(before, after, "overlay_tun_to_udp_packets_total")).as("answered").isZero();
        }
    }

    @Test
    void tcpCrossesBothWaysWithTheSmallerMss() throws Exception {
        for (String reverse : new String[] {"", "-R"}) {
            final Map<String, Double> before1 = OverlayHosts.metrics(h1);
            final Map<String, Double> before2 = OverlayHosts.metrics(h2);
            iperf(h1, h2, reverse.isEmpty() ? 5321 : 5322, "-n 16M " + reverse);
            final Map<String, Double> after1 = OverlayHosts.metrics(h1);
            final Map<String, Double> after2 = OverlayHosts.metrics(h2);
            final OverlayHosts.Host receiver = reverse.isEmpty() ? h2 : h1;
            final Map<String, Double> receivedBefore = reverse.isEmpty() ? before2 : before1;
            final Map<String, Double> receivedAfter = reverse.isEmpty() ? after2 : after1;
            assertThat(delta(receivedBefore, receivedAfter, "overlay_udp_to_tun_bytes_total"))
                .as("bytes delivered at h%d", receiver.n()).isGreaterThan(10L << 20);
            assertThat(allDrops(before1, after1)).as("drops at h1 %s", reverse).isZero();
            assertThat(allDrops(before2, after2)).as("drops at h2 %s", reverse).isZero();
            // every data packet fitted h2's MTU: at most MTU_2 bytes on average, none oversized
            final Map<String, Double> sentBefore = reverse.isEmpty() ? before1 : before2;
            final Map<String, Double> sentAfter = reverse.isEmpty() ? after1 : after2;
            final long bytes = delta(sentBefore, sentAfter, "overlay_tun_to_udp_bytes_total");
            final long packets = delta(sentBefore, sentAfter, "overlay_tun_to_udp_packets_total");
            System.out.printf("%s: %d packets, %d bytes (%d per packet)%n", reverse.isEmpty() ? "h1 -> h2"
                : "h2 -> h1", packets, bytes, bytes / packets);
            assertThat(bytes / packets).isBetween(1400L, (long) MTU_2);
        }
    }
}
