package io.overlay.core;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * Keeps one kind of repeated warning from flooding the log: per interval the first {@code examples} warnings are
 * logged at WARN as they come, the rest are only counted, and when the interval is over one WARN line says how many
 * were left out and quotes the last of them. So 10,000 junk etcd keys give {@code examples + 1} lines per interval
 * instead of 10,000, and nothing is lost without a trace.
 *
 * <p>An interval starts with the first warning after the previous one ended. It ends when a warning or a
 * {@link #flush()} comes after it elapsed; call {@link #flush()} every interval or so (a timer the owner already has)
 * so that the summary of a burst is not held back until the next warning. Thread-safe (one lock, held while logging);
 * not for a packet path.
 */
public final class WarningAggregator {
    private final Logger log;
    private final String what;
    private final int examples;
    private final long intervalNanos;
    private final LongSupplier ticker;
    private boolean open;
    private long start;
    private int logged;
    private long left;
    private String last;
    private long suppressed;

    /**
     * Creates an aggregator.
     *
     * @param log the logger the warnings and summaries go to
     * @param what the kind of warning for the summary line, plural, e.g. {@code "warnings about lease keys"}
     * @param examples how many warnings per interval are logged one by one, at least 1
     * @param interval the interval, positive
     * @param ticker monotonic nanoseconds, e.g. {@code System::nanoTime}
     * @throws IllegalArgumentException if examples is below 1 or the interval is not positive
     */
    public WarningAggregator(final Logger log, final String what, final int examples, final Duration interval,
                             final LongSupplier ticker) {
        if (examples < 1) {
            throw new IllegalArgumentException("examples must be at least 1, got " + examples);
        }
        if (interval.isZero() || interval.isNegative()) {
            throw new IllegalArgumentException("interval must be positive, got " + interval);
        }
        this.log = Objects.requireNonNull(log, "log");
        this.what = Objects.requireNonNull(what, "what");
        this.examples = examples;
        this.intervalNanos = interval.toNanos();
        this.ticker = Objects.requireNonNull(ticker, "ticker");
    }

    /**
     * Logs {@code message} at WARN, or counts it when this interval's examples were logged already.
     *
     * @param message the formatted warning
     */
    public synchronized void warn(final String message) {
        final long now = ticker.getAsLong();
        if (open && now - start >= intervalNanos) {
            close();
        }
        if (!open) {
            open = true;
            start = now;
        }
        if (logged < examples) {
            logged++;
            log.warn(message);
        } else {
            left++;
            suppressed++;
            last = message;
        }
    }

    /** Ends the interval if it elapsed, logging the summary of what was left out. */
    public synchronized void flush() {
        if (open && ticker.getAsLong() - start >= intervalNanos) {
            close();
        }
    }

    /**
     * Returns how many warnings were counted instead of logged, in all intervals so far.
     *
     * @return the count
     */
    public synchronized long suppressed() {
        return suppressed;
    }

    private void close() {
        if (left > 0) {
            log.warn("{} more {} in the last {} s not logged one by one (the first {} were); the last: {}", left,
                what, TimeUnit.NANOSECONDS.toSeconds(intervalNanos), examples, last);
        }
        open = false;
        logged = 0;
        left = 0;
        last = null;
    }
}
