package io.overlay.udp;

/**
 * A token bucket for the ICMP errors one {@link ForwardingLoop} generates (RFC 1812 §4.3.2.8: a router must be able
 * to limit the rate of the ICMP errors it originates). The defaults are Linux's global ICMP limit
 * ({@code net.ipv4.icmp_msgs_per_sec} = {@value #MESSAGES_PER_SECOND}, {@code net.ipv4.icmp_msgs_burst} =
 * {@value #BURST}; {@code icmp_global_allow} in {@code net/ipv4/icmp.c}), applied per loop. Only that global bucket
 * is modelled: Linux also limits per destination ({@code net.ipv4.icmp_ratelimit}), spends a random 0–2 credits per
 * message (since 5.10, against CVE-2020-25705) and refills in steps of at least 20 ms; this bucket charges exactly one
 * message and refills continuously.
 *
 * <p>The bucket starts full and holds at most {@code burst} messages; credit accrues continuously at
 * {@code perSecond} messages per second of elapsed time, kept in nanoseconds so no fraction of a token is lost. The
 * clock is read by the caller and passed in ({@link #tryAcquire(long)}), only when an ICMP is about to be sent, so
 * the forwarding path never reads it and a test can inject its own time.
 *
 * <p>Plain fields, no allocation, no lock: one instance per loop, used by that loop's thread only.
 */
final class IcmpRateLimiter {
    /** ICMP errors per second, the refill rate: Linux's {@code net.ipv4.icmp_msgs_per_sec} default. */
    static final int MESSAGES_PER_SECOND = 1000;
    /** ICMP errors that may be sent back to back after a quiet period: Linux's {@code net.ipv4.icmp_msgs_burst}. */
    static final int BURST = 50;

    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    /** Nanoseconds of credit one message costs. */
    private final long cost;
    /** Most credit the bucket holds, in nanoseconds: {@code burst × cost}. */
    private final long capacity;
    /** Credit now, in nanoseconds (0..capacity). */
    private long credit;
    /** The time of the last refill, from the caller's clock ({@link System#nanoTime()}). */
    private long last;

    /**
     * Creates a full bucket with Linux's defaults ({@value #MESSAGES_PER_SECOND}/s, burst {@value #BURST}).
     *
     * @param nowNanos the current time of the clock later passed to {@link #tryAcquire}, in nanoseconds
     */
    IcmpRateLimiter(final long nowNanos) {
        this(MESSAGES_PER_SECOND, BURST, nowNanos);
    }

    /**
     * Creates a full bucket.
     *
     * @param perSecond messages per second (1..1,000,000,000)
     * @param burst messages the bucket holds (≥ 1)
     * @param nowNanos the current time of the clock later passed to {@link #tryAcquire}, in nanoseconds
     * @throws IllegalArgumentException if {@code perSecond} or {@code burst} is out of range
     */
    IcmpRateLimiter(final int perSecond, final int burst, final long nowNanos) {
        if (perSecond < 1 || perSecond > NANOS_PER_SECOND) {
            throw new IllegalArgumentException("ICMP rate must be 1..1000000000 messages/s, got " + perSecond);
        }
        if (burst < 1) {
            throw new IllegalArgumentException("ICMP burst must be at least 1 message, got " + burst);
        }
        this.cost = (NANOS_PER_SECOND + perSecond - 1) / perSecond; // rounded up: never above perSecond
        this.capacity = burst * cost;
        this.credit = capacity;
        this.last = nowNanos;
    }

    /**
     * Refills the bucket for the time elapsed since the last call and takes one message from it if it holds one.
     * A clock that goes backwards adds nothing.
     *
     * @param nowNanos the current time in nanoseconds, from the same clock as before (e.g. {@link System#nanoTime()})
     * @return {@code true} if the message may be sent, {@code false} if it is to be suppressed
     */
    boolean tryAcquire(final long nowNanos) {
        final long elapsed = nowNanos - last;
        if (elapsed > 0) {
            last = nowNanos;
            credit = elapsed >= capacity - credit ? capacity : credit + elapsed;
        }
        if (credit < cost) {
            return false;
        }
        credit -= cost;
        return true;
    }
}
