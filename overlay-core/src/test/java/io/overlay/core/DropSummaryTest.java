package io.overlay.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class DropSummaryTest {
    private final AtomicReference<TrafficCounters> counters = new AtomicReference<>(drops(Map.of(DropReason.NO_ROUTE,
        4L)));
    private final List<String> lines = new ArrayList<>();
    private final DropSummary summary = new DropSummary(counters::get, Duration.ofSeconds(30), lines::add);

    private static TrafficCounters drops(final Map<DropReason, Long> drops) {
        return new TrafficCounters(Map.of(), drops);
    }

    @Test
    void namesOnlyTheReasonsThatGrewSinceCreationInDeclarationOrder() {
        counters.set(drops(Map.of(DropReason.NO_ROUTE, 7L, DropReason.BAD_TOTAL_LENGTH, 78000L,
            DropReason.TTL_EXPIRED, 0L)));
        summary.run();
        assertThat(lines).containsExactly("packets dropped in the last 30 s: 78000 BAD_TOTAL_LENGTH (IPv4 total length "
            + "does not match the bytes read), 3 NO_ROUTE (no route to the destination subnet)");
    }

    @Test
    void saysNothingForAnIntervalWithoutNewDrops() {
        summary.run();
        assertThat(lines).isEmpty();
        counters.set(drops(Map.of(DropReason.NO_ROUTE, 4L, DropReason.OVERSIZED, 1L)));
        summary.run();
        summary.run();
        assertThat(lines).containsExactly("packets dropped in the last 30 s: 1 OVERSIZED (larger than the MTU)");
    }

    @Test
    void anIntervalBelowASecondReadsInMilliseconds() {
        final DropSummary fast = new DropSummary(counters::get, Duration.ofMillis(50), lines::add);
        assertThat(fast.update(drops(Map.of(DropReason.NO_ROUTE, 5L))))
            .contains("packets dropped in the last 50 ms: 1 NO_ROUTE (no route to the destination subnet)");
    }
}
