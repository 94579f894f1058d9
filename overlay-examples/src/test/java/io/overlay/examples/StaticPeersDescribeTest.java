package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The one-line counters {@link StaticPeersMain} prints periodically and on exit. */
class StaticPeersDescribeTest {
    @Test
    void linesUpEveryCounterIncludingRateLimitedIcmpAndOnlyNonZeroDrops() {
        final TrafficCounters c = new TrafficCounters(Map.of(Counter.TUN_TO_UDP_PACKETS, 10L,
            Counter.TUN_TO_UDP_BYTES, 840L, Counter.UDP_TO_TUN_PACKETS, 9L, Counter.UDP_TO_TUN_BYTES, 756L,
            Counter.ICMP_UNREACHABLE_SENT, 50L, Counter.ICMP_UNREACHABLE_SUPPRESSED, 450L),
            Map.of(DropReason.NO_ROUTE, 500L));
        assertThat(StaticPeersMain.describe(c)).isEqualTo("tun->udp 10 pkts 840 B, udp->tun 9 pkts 756 B, "
            + "icmp unreachable 50 (450 rate-limited), drops {NO_ROUTE=500}");
    }

    @Test
    void addsTimeExceededMessagesOnlyWhenSomeWereDue() {
        final TrafficCounters c = new TrafficCounters(Map.of(Counter.ICMP_TIME_EXCEEDED_SENT, 3L,
            Counter.ICMP_TIME_EXCEEDED_SUPPRESSED, 1L), Map.of(DropReason.TTL_EXPIRED, 4L));
        assertThat(StaticPeersMain.describe(c)).isEqualTo("tun->udp 0 pkts 0 B, udp->tun 0 pkts 0 B, "
            + "icmp unreachable 0 (0 rate-limited), icmp time exceeded 3 (1 rate-limited), drops {TTL_EXPIRED=4}");
    }
}
