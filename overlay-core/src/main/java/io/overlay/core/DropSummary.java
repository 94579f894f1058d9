package io.overlay.core;

import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.time.Duration;
import java.util.Optional;
import java.util.StringJoiner;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Writes one summary line per interval naming the drop reasons whose count grew, so that drops nobody watches
 * (spoofed or malformed datagrams, a missing route) leave a trace in the log. Run by a control-plane timer on the
 * event thread, never on the packet path; nothing is written for an interval without new drops.
 */
final class DropSummary implements Runnable {
    private final Supplier<TrafficCounters> counters;
    private final String interval;
    private final Consumer<String> out;
    /** The counters at the last check (event thread only); the first check compares with those at creation. */
    private TrafficCounters last;

    /**
     * Creates the summary, taking the current counters as the baseline.
     *
     * @param counters reads the engine's counters, e.g. {@code engine::counters}
     * @param interval how often {@link #run()} is called, for the line
     * @param out receives the line
     */
    DropSummary(final Supplier<TrafficCounters> counters, final Duration interval, final Consumer<String> out) {
        this.counters = counters;
        this.interval = interval.toMillis() % 1000 == 0 ? interval.toSeconds() + " s" : interval.toMillis() + " ms";
        this.out = out;
        this.last = counters.get();
    }

    /** Checks the counters once; writes the line if any drop reason grew since the last check. */
    @Override
    public void run() {
        update(counters.get()).ifPresent(out);
    }

    /**
     * Compares {@code now} with the previous snapshot and keeps {@code now} as the next baseline.
     *
     * @param now the engine's counters now
     * @return the line, e.g. {@code packets dropped in the last 30 s: 78000 BAD_TOTAL_LENGTH (IPv4 total length does
     *     not match the bytes read), 3 NO_ROUTE (no route to the destination subnet)}; empty when nothing grew
     */
    Optional<String> update(final TrafficCounters now) {
        final TrafficCounters before = last;
        last = now;
        final StringJoiner grew = new StringJoiner(", ", "packets dropped in the last " + interval + ": ", "");
        grew.setEmptyValue("");
        for (DropReason r : DropReason.values()) {
            final long delta = now.drops(r) - before.drops(r);
            if (delta > 0) {
                grew.add(delta + " " + r.name() + " (" + r.description() + ")");
            }
        }
        final String line = grew.toString();
        return line.isEmpty() ? Optional.empty() : Optional.of(line);
    }
}
