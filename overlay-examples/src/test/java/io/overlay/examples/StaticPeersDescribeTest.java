package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The one-line counters {@link StaticPeersMain} prints periodically and on exit. */
class StaticPeersDescribeTest {
    @Test
    void linesUpEveryCounterIncludingRateLimitedIcmpAndOnlyNonZeroDrops() {
        final TrafficCounters c = new TrafficCounters(10, 840, 9, 756, 50, 450,
            Map.of(DropReason.NO_ROUTE, 500L));
        assertThat(StaticPeersMain.describe(c)).isEqualTo("tun->udp 10 pkts 840 B, udp->tun 9 pkts 756 B, "
            + "icmp unreachable 50 (450 rate-limited), drops {NO_ROUTE=500}");
    }
}
