package io.overlay.udp;

import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One event loop's counters: one slot per {@link Counter} and one per {@link DropReason}, indexed by ordinal. Written
 * only by that loop's thread (plain read + release write, no CAS, no lock, no allocation), read from any thread.
 */
final class LoopCounters {
    private static final int DROPS = Counter.values().length;

    private final AtomicLongArray values = new AtomicLongArray(DROPS + DropReason.values().length);

    /** Adds {@code delta} to {@code counter}; loop thread only. */
    void add(final Counter counter, final long delta) {
        add(counter.ordinal(), delta);
    }

    /** Sets {@code counter} to {@code value}, for a count kept elsewhere that only grows; loop thread only. */
    void set(final Counter counter, final long value) {
        values.setRelease(counter.ordinal(), value);
    }

    /** Counts one drop; loop thread only. */
    void drop(final DropReason reason) {
        add(DROPS + reason.ordinal(), 1);
    }

    /** Counts {@code count} drops; loop thread only. */
    void drop(final DropReason reason, final int count) {
        add(DROPS + reason.ordinal(), count);
    }

    /** Reads {@code counter}; any thread. */
    long get(final Counter counter) {
        return values.get(counter.ordinal());
    }

    /** Reads the drop count for {@code reason}; any thread. */
    long drops(final DropReason reason) {
        return values.get(DROPS + reason.ordinal());
    }

    private void add(final int index, final long delta) {
        values.setRelease(index, values.getPlain(index) + delta);
    }
}
