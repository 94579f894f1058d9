package io.overlay.udp.crypto;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A sliding anti-replay window over the counters of one receive key, the bitmap of RFC 6479 (as WireGuard keeps
 * one): {@value #BITS} bits in 64-bit words used as a ring; a counter is accepted once if it is above the highest
 * seen or at most {@value #WINDOW} below it, so that many packets may arrive out of order (GSO runs, several queues)
 * and still be accepted.
 *
 * <p>{@link #mayAccept} is a read-only pre-check before the costly decryption; {@link #accept} marks the counter
 * once the datagram authenticated. {@link #accept} guards its few word operations with a flag taken by
 * compare-and-set that is never waited for: a peer's datagrams arrive on one event loop (one socket of the
 * {@code SO_REUSEPORT} group per source address and port), so the flag is uncontended; if another loop holds it at
 * that moment, the datagram is refused as a replay rather than waiting. No allocation.
 */
public final class ReplayWindow {
    /** Bits in the ring. */
    public static final int BITS = 4096;
    /** How far below the highest accepted counter a counter is still accepted: {@value} (one word is the margin). */
    public static final int WINDOW = BITS - 64;
    private static final int WORDS = BITS / 64;
    private static final int MASK = WORDS - 1;

    private final long[] ring = new long[WORDS];
    private final AtomicInteger busy = new AtomicInteger();
    private long top = -1;

    /**
     * Whether {@code counter} may be new (not certain: {@link #accept} decides). Any thread; racy reads only.
     *
     * @param counter a received counter, 0 or above
     * @return {@code false} if it is negative, too old or seen already
     */
    public boolean mayAccept(final long counter) {
        final long t = top;
        if (counter < 0) {
            return false;
        }
        if (counter > t) {
            return true;
        }
        if (t - counter >= WINDOW) {
            return false;
        }
        return (ring[(int) (counter >>> 6) & MASK] & 1L << counter) == 0;
    }

    /**
     * Accepts {@code counter} once: slides the window up if it is the highest yet.
     *
     * @param counter a received counter of an authenticated datagram, 0 or above
     * @return {@code true} if it was new and is now marked; {@code false} for a replay, a counter too old, or (rarely)
     *     another loop updating this window at the same moment
     */
    public boolean accept(final long counter) {
        if (counter < 0 || !busy.compareAndSet(0, 1)) {
            return false;
        }
        try {
            final long t = top;
            final long word = counter >>> 6;
            if (counter > t) {
                final long current = t < 0 ? -1 : t >>> 6;
                final long advance = Math.min(word - current, WORDS);
                for (long i = 1; i <= advance; i++) {
                    ring[(int) (current + i) & MASK] = 0;
                }
                top = counter;
            } else if (t - counter >= WINDOW) {
                return false;
            }
            final int w = (int) word & MASK;
            final long bit = 1L << counter;
            if ((ring[w] & bit) != 0) {
                return false;
            }
            ring[w] |= bit;
            return true;
        } finally {
            busy.set(0);
        }
    }

    /** The highest counter accepted, -1 before the first. */
    public long highest() {
        return top;
    }
}
