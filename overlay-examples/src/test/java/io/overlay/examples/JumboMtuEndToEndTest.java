package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.spi.DropReason;
import io.overlay.testing.Privileged;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * flannel's B18, jumbo frames (flannel issues 11, 463): three {@link OverlayHosts} on an underlay whose links all have
 * MTU 9000, h1 and h2 with offloads (the default), h3 with {@code --offloads=false}. Each launcher derives its overlay
 * MTU from its interface as flannel does (9000 − 28 = 8972, in {@code subnet.env} and on the TUN); a don't-fragment
 * ping of exactly that size crosses both ways and one byte more is refused locally; TCP with a jumbo MSS crosses with
 * and without offloads, in packets of the full MTU, with nothing dropped. Logs go to {@code target/e2e-jumbo/}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class JumboMtuEndToEndTest {
    static final int UNDERLAY_MTU = 9000;
    static final int OVERLAY_MTU = 8972;
    /** The largest ICMP echo payload that fits the overlay MTU: 8972 − 20 (IPv4) − 8 (ICMP). */
    static final int FULL_PING = OVERLAY_MTU - 28;
    static final int PINGS = 3;

    private OverlayHosts overlay;
    private OverlayHosts.Host h1;
    private OverlayHosts.Host h2;
    private OverlayHosts.Host h3;

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        overlay = OverlayHosts.start("e2e-jumbo", 3, h -> h == 3 ? List.of("--offloads=false") : List.of(),
            h -> UNDERLAY_MTU, (n, ns, subnetEnv) -> { });
        h1 = overlay.hosts().get(0);
        h2 = overlay.hosts().get(1);
        h3 = overlay.hosts().get(2);
        for (OverlayHosts.Host h : overlay.hosts()) {
            OverlayHosts.await("h" + h.n() + " knows its 2 peers", Duration.ofSeconds(60),
                () -> OverlayHosts.metrics(h).getOrDefault("overlay_peers", 0.0) == 2.0);
        }
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
    }

    @Test
    void theOverlayMtuIsDerivedFromTheJumboUnderlayAsFlannelDoes() throws Exception {
        assertThat(FlannelRules.mtu(UNDERLAY_MTU)).isEqualTo(OVERLAY_MTU);
        for (OverlayHosts.Host h : overlay.hosts()) {
            assertThat(h.subnet().mtu()).as("FLANNEL_MTU of h%d", h.n()).isEqualTo(OVERLAY_MTU);
            assertThat(h.ns().exec("ip", "-o", "link", "show", "flannel0")).as("TUN of h%d", h.n())
                .contains(" mtu " + OVERLAY_MTU + " ");
            assertThat(new ObjectMapper().readTree(OverlayHosts.get(h, "/status")).path("mtu").asInt())
                .as("/status of h%d", h.n()).isEqualTo(OVERLAY_MTU);
        }
    }

    @Test
    void aFullSizeDontFragmentPingCrossesBothWaysWithAndWithoutOffloads() throws Exception {
        for (OverlayHosts.Host[] pair : new OverlayHosts.Host[][] {{h1, h2}, {h2, h1}, {h1, h3}, {h3, h1}}) {
            final OverlayHosts.Host from = pair[0];
            final OverlayHosts.Host to = pair[1];
            final Map<String, Double> before = OverlayHosts.metrics(from);
            final Object[] r = ping(from, to, FULL_PING, PINGS);
            assertThat((String) r[1]).as("h%d -> h%d", from.n(), to.n()).contains(PINGS + " received");
            assertThat((int) r[0]).isZero();
            final Map<String, Double> after = OverlayHosts.metrics(from);
            // exactly the requests out and the replies in, each a whole 8972-byte packet in one datagram
            assertThat(delta(before, after, "overlay_tun_to_udp_packets_total")).isEqualTo(PINGS);
            assertThat(delta(before, after, "overlay_tun_to_udp_bytes_total")).isEqualTo(PINGS * OVERLAY_MTU);
            assertThat(delta(before, after, "overlay_udp_to_tun_packets_total")).isEqualTo(PINGS);
            assertThat(delta(before, after, "overlay_udp_to_tun_bytes_total")).isEqualTo(PINGS * OVERLAY_MTU);
            assertThat(allDrops(before, after)).isZero();
        }
    }

    @Test
    void oneByteMoreThanTheOverlayMtuIsRefusedLocally() throws Exception {
        final Map<String, Double> before = OverlayHosts.metrics(h1);
        final Object[] r = ping(h1, h2, FULL_PING + 1, 1);
        assertThat((String) r[1]).containsIgnoringCase("message too long").contains("mtu=" + OVERLAY_MTU);
        assertThat((int) r[0]).isNotZero();
        final Map<String, Double> after = OverlayHosts.metrics(h1);
        assertThat(delta(before, after, "overlay_tun_to_udp_packets_total")).isZero();
    }

    @Test
    void tcpWithAJumboMssCrossesWithOffloadsInFullSizePackets() throws Exception {
        // h1 sends, then h2 sends (-R): TSO super-packets from the TUN cut to 8972 bytes, UDP GSO runs of them,
        // UDP GRO on receipt and TCP coalescing into the receiving TUN.
        transfer(h1, h2, 5311, "", true);
        transfer(h1, h2, 5312, "-R", true);
    }

    @Test
    void tcpWithAJumboMssCrossesWithoutOffloadsOnOneSide() throws Exception {
        transfer(h3, h1, 5313, "", false);
        transfer(h3, h1, 5314, "-R", true);
    }

    @Test
    void tcpCrossesAPathWithASmallerMtuInFragmentedDatagrams() throws Exception {
        // flannel issue 1011: both hosts jumbo, a link between them carries only 1500 bytes. h1 has learned that path
        // MTU (a route's MTU stands in for path MTU discovery through a router), so its kernel fragments each outer
        // datagram and h2's reassembles it; TCP keeps its 8920-byte MSS. Runs of full-size datagrams are what TCP
        // sends with offloads: they must arrive too, not only single datagrams.
        h1.ns().exec("ip", "route", "add", "198.18.0.2/32", "dev", "eth0", "mtu", "1500");
        try {
            final Map<String, Double> before1 = OverlayHosts.metrics(h1);
            final Map<String, Double> before2 = OverlayHosts.metrics(h2);
            final long reassembled = reassembled(h2);
            final String offloads = offloads(h1);
            iperf(h1, h2, 5315, "-n 16M");
            final Map<String, Double> after1 = OverlayHosts.metrics(h1);
            final Map<String, Double> after2 = OverlayHosts.metrics(h2);
            final long packets = delta(before1, after1, "overlay_tun_to_udp_packets_total");
            final long bytes = delta(before1, after1, "overlay_tun_to_udp_bytes_total");
            System.out.printf("h1 -> h2 over a 1500-byte path: %d packets, %d bytes (%d per packet), %d send "
                    + "failures, %d datagrams reassembled at h2%n", packets, bytes, bytes / packets,
                delta(before1, after1, drops(DropReason.SEND_FAILED)), reassembled(h2) - reassembled);
            // iperf3 -n: up to a send buffer may never cross, as in transfer()
            assertThat(delta(before2, after2, "overlay_udp_to_tun_bytes_total")).isGreaterThan(10L << 20);
            assertThat(bytes / packets).as("bytes per packet sent").isGreaterThan(8000);
            assertThat(allDrops(before1, after1)).as("drops at h1").isZero();
            assertThat(allDrops(before2, after2)).as("drops at h2").isZero();
            // nearly every datagram was a jumbo one, fragmented by h1's kernel and reassembled by h2's
            assertThat(reassembled(h2) - reassembled).as("datagrams h2 reassembled").isGreaterThan(packets * 9 / 10);
            assertThat(offloads(h1)).as("no GSO send refused").isEqualTo(offloads);
        } finally {
            h1.ns().exec("ip", "route", "del", "198.18.0.2/32", "dev", "eth0");
        }
    }

    /** IP datagrams the namespace's kernel reassembled from fragments ({@code Ip: ReasmOKs}, /proc/net/snmp). */
    static long reassembled(final OverlayHosts.Host h) throws Exception {
        final List<String> ip = h.ns().exec("cat", "/proc/net/snmp").lines().filter(l -> l.startsWith("Ip: "))
            .toList();
        final List<String> names = List.of(ip.get(0).split("\\s+"));
        return Long.parseLong(ip.get(1).split("\\s+")[names.indexOf("ReasmOKs")]);
    }

    /**
     * Runs a bounded iperf3 transfer of 32 MiB from {@code client} to {@code server} ({@code -R}: the other way) and
     * checks it arrived in full-size packets with nothing dropped on either host, the offload paths used where on.
     */
    private void transfer(final OverlayHosts.Host client, final OverlayHosts.Host server, final int port,
                          final String reverse, final boolean senderOffloads) throws Exception {
        final OverlayHosts.Host sender = reverse.isEmpty() ? client : server;
        final OverlayHosts.Host receiver = reverse.isEmpty() ? server : client;
        final Map<String, Double> sentBefore = OverlayHosts.metrics(sender);
        final Map<String, Double> receivedBefore = OverlayHosts.metrics(receiver);
        final String statusBefore = offloads(sender) + offloads(receiver);
        final String out = iperf(client, server, port, "-n 32M " + reverse);
        final Map<String, Double> sentAfter = OverlayHosts.metrics(sender);
        final Map<String, Double> receivedAfter = OverlayHosts.metrics(receiver);
        final long packets = delta(sentBefore, sentAfter, "overlay_tun_to_udp_packets_total");
        final long bytes = delta(sentBefore, sentAfter, "overlay_tun_to_udp_bytes_total");
        System.out.printf("h%d -> h%d: %d packets, %d bytes (%d per packet), %d super-packets; receiver coalesced "
                + "%d frames%n%s", sender.n(), receiver.n(), packets, bytes, packets == 0 ? 0 : bytes / packets,
            delta(sentBefore, sentAfter, "overlay_tun_super_packets_total"),
            delta(receivedBefore, receivedAfter, "overlay_tun_coalesced_frames_total"), out);
        // iperf3 -n ends when the client has written its bytes, so up to a send buffer (tcp_wmem's 4 MiB at most by
        // default) may not have crossed when the counters are read.
        assertThat(delta(receivedBefore, receivedAfter, "overlay_udp_to_tun_bytes_total")).isGreaterThan(24L << 20);
        assertThat(bytes).isGreaterThan(24L << 20);
        // the data went in jumbo packets (the MSS from the 8972-byte MTU), not in 1500-byte ones
        assertThat(bytes / packets).as("bytes per packet sent").isGreaterThan(8000);
        assertThat(packets).as("packets sent").isLessThan((40L << 20) / 8000);
        assertThat(allDrops(sentBefore, sentAfter)).as("drops at h%d", sender.n()).isZero();
        assertThat(allDrops(receivedBefore, receivedAfter)).as("drops at h%d", receiver.n()).isZero();
        if (senderOffloads) {
            assertThat(delta(sentBefore, sentAfter, "overlay_tun_super_packets_total")).as("TSO super-packets")
                .isPositive();
        } else {
            assertThat(delta(sentBefore, sentAfter, "overlay_tun_super_packets_total")).isZero();
        }
        // UDP GSO/GRO as before: no send was refused into the fallback
        assertThat(offloads(sender) + offloads(receiver)).isEqualTo(statusBefore);
    }

    private static String offloads(final OverlayHosts.Host h) throws Exception {
        final JsonNode offloads = new ObjectMapper().readTree(OverlayHosts.get(h, "/status")).path("offloads");
        assertThat(offloads.size()).as("offloads of h%d", h.n()).isEqualTo(3);
        return "h" + h.n() + " " + offloads;
    }

    /** A bounded don't-fragment ping of {@code size} payload bytes from {@code from} to {@code to}'s TUN address. */
    static Object[] ping(final OverlayHosts.Host from, final OverlayHosts.Host to, final int size, final int count)
        throws Exception {
        return OverlayHosts.runIn(from, Duration.ofSeconds(20), "ping", "-M", "do", "-s", Integer.toString(size),
            "-c", Integer.toString(count), "-i", "0.2", "-W", "2", OverlayHosts.tunAddress(to));
    }

    /**
     * Runs iperf3 between the TUN addresses, server on {@code server} (one test, killed afterwards), client on
     * {@code client} (at most 40 s), retrying while the server is not listening yet; asserts it completed.
     */
    static String iperf(final OverlayHosts.Host client, final OverlayHosts.Host server, final int port,
                        final String args) throws Exception {
        final Process p = server.ns().spawn(new ProcessBuilder("iperf3", "-s", "-1", "-B",
            OverlayHosts.tunAddress(server), "-p",
            Integer.toString(port)).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD));
        try {
            Object[] r = null;
            for (int attempt = 0; attempt < 25; attempt++) {
                r = OverlayHosts.runIn(client, Duration.ofSeconds(45), "sh", "-c", "timeout 40 iperf3 -c "
                    + OverlayHosts.tunAddress(server) + " -B " + OverlayHosts.tunAddress(client) + " -p " + port + " "
                    + args);
                if (!((String) r[1]).contains("Connection refused")) {
                    break;
                }
                Thread.sleep(200);
            }
            assertThat((String) r[1]).contains("receiver");
            assertThat((int) r[0]).as("iperf3 exit status; output:%n%s", r[1]).isZero();
            return (String) r[1];
        } finally {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    static long delta(final Map<String, Double> before, final Map<String, Double> after, final String series) {
        assertThat(after).as("series %s", series).containsKey(series);
        return Math.round(after.get(series) - before.getOrDefault(series, 0.0));
    }

    static String drops(final DropReason r) {
        return "overlay_drops_total{reason=\"" + r.name().toLowerCase(Locale.ROOT) + "\"}";
    }

    static long allDrops(final Map<String, Double> before, final Map<String, Double> after) {
        long sum = 0;
        for (DropReason r : DropReason.values()) {
            sum += delta(before, after, drops(r));
        }
        return sum;
    }
}
