package io.overlay.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DropSummaryTest {
    private static TrafficCounters drops(final Map<DropReason, Long> drops) {
        return new TrafficCounters(0, 0, 0, 0, 0, drops);
    }

    @Test
    void namesOnlyTheReasonsThatGrewInDeclarationOrder() {
        final DropSummary summary = new DropSummary();
        assertThat(summary.update(drops(Map.of(DropReason.NO_ROUTE, 4L)), "30 s")).isEmpty();
        assertThat(summary.update(drops(Map.of(DropReason.NO_ROUTE, 7L, DropReason.BAD_TOTAL_LENGTH, 78000L,
            DropReason.TTL_EXPIRED, 0L)), "30 s")).contains("packets dropped in the last 30 s: 78000 BAD_TOTAL_LENGTH "
            + "(IPv4 total length does not match the bytes read), 3 NO_ROUTE (no route to the destination subnet)");
    }

    @Test
    void saysNothingWhenNothingGrew() {
        final DropSummary summary = new DropSummary();
        summary.update(drops(Map.of(DropReason.OVERSIZED, 2L)), "30 s");
        assertThat(summary.update(drops(Map.of(DropReason.OVERSIZED, 2L)), "30 s")).isEmpty();
        assertThat(summary.update(drops(Map.of(DropReason.OVERSIZED, 3L)), "30 s"))
            .contains("packets dropped in the last 30 s: 1 OVERSIZED (larger than the MTU)");
    }
}
