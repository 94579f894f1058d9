package io.overlay.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.overlay.core.OverlayHistory;
import io.overlay.core.OverlayStatus;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.AllocatorStatus;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.EngineOffloads;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class OverlayMetricsTest {
    private static final Ipv4Prefix SUBNET = Ipv4Prefix.parse("100.64.5.0/24");
    private static final Ipv4Prefix PEER = Ipv4Prefix.parse("100.64.7.0/24");

    private final AtomicReference<OverlayStatus> status = new AtomicReference<>(status(false, 0, 0, Map.of(),
        AllocatorStatus.UNKNOWN));
    private final OverlayHistory history = new OverlayHistory();
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

    private static OverlayStatus status(final boolean ready, final long packets, final long badLength,
                                        final Map<Ipv4Prefix, Peer> peers, final AllocatorStatus allocator) {
        final TrafficCounters c = new TrafficCounters(Map.of(Counter.TUN_TO_UDP_PACKETS, packets,
            Counter.TUN_TO_UDP_BYTES, packets * 100, Counter.UDP_TO_TUN_PACKETS, 2 * packets,
            Counter.UDP_TO_TUN_BYTES, 2 * packets * 100, Counter.ICMP_UNREACHABLE_SENT, 3L,
            Counter.ICMP_UNREACHABLE_SUPPRESSED, 4L, Counter.TUN_SUPER_PACKETS, 5L, Counter.TUN_COALESCED_FRAMES, 6L),
            Map.of(DropReason.BAD_TOTAL_LENGTH, badLength));
        return new OverlayStatus(ready, ready ? "" : "starting", null, Ipv4Prefix.parse("100.64.0.0/16"), 1472,
            "flannel0", null, peers, c, allocator, EngineOffloads.NONE);
    }

    private static Lease lease(final Ipv4Prefix subnet, final Duration ttl) {
        return new Lease(subnet, LeaseAttrs.udp(Ipv4.parse("198.18.0.1")), false, ttl);
    }

    private double value(final String series) {
        final Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(registry.scrape());
        assertThat(m.find()).as("series %s in\n%s", series, registry.scrape()).isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void readsTheOverlayCountersWhenScraped() throws Exception {
        new OverlayMetrics(status::get, history, "1.2.3").bindTo(registry);
        assertThat(value("overlay_tun_to_udp_packets_total")).isZero();
        assertThat(value("overlay_ready")).isZero();
        assertThat(value("overlay_lease_remaining_seconds")).isNaN();

        status.set(status(true, 10, 7, Map.of(PEER, new Peer(Ipv4.parse("198.18.0.2"), 8285)),
            new AllocatorStatus(List.of("http://127.0.0.1:2379"), "running", 5, 6, 7, 8)));
        history.leaseAcquired(lease(SUBNET, Duration.ofHours(24)));
        history.leaseLost(lease(SUBNET, Duration.ofHours(24)));
        history.leaseReacquired(lease(SUBNET, Duration.ofHours(24)), lease(SUBNET, Duration.ofHours(24)));
        Thread.sleep(OverlayMetrics.SNAPSHOT_MILLIS + 20); // past the shared snapshot

        assertThat(value("overlay_tun_to_udp_packets_total")).isEqualTo(10);
        assertThat(value("overlay_tun_to_udp_bytes_total")).isEqualTo(1000);
        assertThat(value("overlay_udp_to_tun_packets_total")).isEqualTo(20);
        assertThat(value("overlay_udp_to_tun_bytes_total")).isEqualTo(2000);
        assertThat(value("overlay_icmp_unreachable_sent_total")).isEqualTo(3);
        assertThat(value("overlay_icmp_unreachable_suppressed_total")).isEqualTo(4);
        assertThat(value("overlay_tun_super_packets_total")).isEqualTo(5);
        assertThat(value("overlay_tun_coalesced_frames_total")).isEqualTo(6);
        for (Counter c : Counter.values()) { // every engine counter is a meter, with its description as help
            assertThat(registry.scrape()).contains("# HELP overlay_" + c.name().toLowerCase(java.util.Locale.ROOT)
                + "_total " + c.description());
        }
        assertThat(value("overlay_drops_total{reason=\"bad_total_length\"}")).isEqualTo(7);
        assertThat(value("overlay_drops_total{reason=\"no_route\"}")).isZero();
        assertThat(value("overlay_peers")).isEqualTo(1);
        assertThat(value("overlay_ready")).isEqualTo(1);
        assertThat(value("overlay_lease_remaining_seconds")).isBetween(24 * 3600 - 60.0, 24 * 3600.0);
        assertThat(value("overlay_lease_lost_total")).isEqualTo(1);
        assertThat(value("overlay_lease_reacquired_total")).isEqualTo(1);
        assertThat(value("overlay_lease_renewals_total")).isEqualTo(5);
        assertThat(value("overlay_etcd_watch_resets_total")).isEqualTo(6);
        assertThat(value("overlay_etcd_relists_total")).isEqualTo(7);
        assertThat(value("overlay_etcd_errors_total")).isEqualTo(8);
        assertThat(value("overlay_build_info{version=\"1.2.3\"}")).isEqualTo(1);
        java.nio.file.Files.writeString(java.nio.file.Path.of("target", "scrape.prom"), registry.scrape());
    }

    @Test
    void everyMeterHasHelpText() {
        new OverlayMetrics(status::get, history, "1.2.3").bindTo(registry);
        final String text = registry.scrape();
        final List<String> families = text.lines().filter(l -> l.startsWith("# TYPE ")).map(l -> l.split(" ")[2])
            .toList();
        assertThat(families).hasSizeGreaterThan(15);
        for (String family : families) {
            assertThat(text).as("help of %s", family).containsPattern("(?m)^# HELP " + family + " \\S");
        }
    }

    /** Debian's {@code prometheus} package ships promtool; CI installs it. */
    @Test
    void promtoolAcceptsTheOutput() throws Exception {
        new OverlayMetrics(status::get, history, "1.2.3").bindTo(registry);
        final Process p = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
        try (var in = p.getOutputStream()) {
            in.write(registry.scrape().getBytes(StandardCharsets.UTF_8));
        }
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("promtool check metrics said:\n%s", out).isZero();
        assertThat(out).isEmpty();
    }

    @Test
    void aRefreshedScrapeReadsValuesNewerThanTheLastScrapes() {
        final OverlayMetrics metrics = new OverlayMetrics(status::get, history, "1.2.3");
        metrics.bindTo(registry);
        assertThat(value("overlay_tun_to_udp_packets_total")).isZero();
        status.set(status(true, 10, 0, Map.of(), AllocatorStatus.UNKNOWN));
        // well within SNAPSHOT_MILLIS of the scrape before: a refresh takes the values of now
        metrics.refresh();
        assertThat(value("overlay_tun_to_udp_packets_total")).isEqualTo(10);
    }

    @Test
    void oneSnapshotServesAScrape() {
        final int[] calls = {0};
        new OverlayMetrics(() -> {
            calls[0]++;
            return status.get();
        }, history, "1").bindTo(registry);
        registry.scrape();
        assertThat(calls[0]).isEqualTo(1);
    }
}
