package io.overlay.core;

import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.util.Optional;
import java.util.StringJoiner;

/**
 * Turns successive snapshots of the engine's drop counters into one summary line per interval, naming only the
 * reasons whose count grew, so that drops nobody watches (spoofed or malformed datagrams, a missing route) leave a
 * trace in the log. Read on a control-plane timer, never on the packet path. Not thread-safe: one caller (the
 * overlay's event thread).
 */
final class DropSummary {
    private TrafficCounters last;

    /**
     * Compares {@code now} with the previous snapshot.
     *
     * @param now the engine's counters now
     * @param interval how the interval reads in the line, e.g. {@code "30 s"}
     * @return the line, e.g. {@code packets dropped in the last 30 s: 78000 BAD_TOTAL_LENGTH (IPv4 total length does
     *     not match the bytes read), 3 NO_ROUTE (no route to the destination subnet)}; empty when nothing grew (and
     *     on the first call, which only records)
     */
    Optional<String> update(final TrafficCounters now, final String interval) {
        final TrafficCounters before = last;
        last = now;
        if (before == null) {
            return Optional.empty();
        }
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
