package io.overlay.udp.crypto;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A sliding anti-replay window over the sequences of one sending loop of one peer (one receive key), the bitmap of
 * RFC 6479 (as WireGuard keeps one): {@value #BITS} bits in 64-bit words used as a ring; a sequence is accepted once
 * if it is above the highest seen or at most {@value #WINDOW} below it, so that packets may arrive somewhat out of
 * order and still be accepted.
 *
 * <p>A frame's counter is {@code (sending loop index << 56) | sequence} ({@link SealedFrame#counterOf}) and the
 * receiver keeps one window per (session, sender loop index) ({@link PeerSession}). The peer's loop i sends from its
 * own port, which this host's steering (SO_REUSEPORT) hands to one receiving loop, so a window sees one socket's
 * datagrams in the order that loop sealed them, give or take the underlay's reordering: it no longer has to span the
 * lag between receiving loops (when all loops drew from one counter, one loop could open a datagram while another had
 * opened 10,000 or more sent after it, and originals past a 16,320-counter window were refused as replays). That is
 * why {@value #BITS} bits are enough: {@value #BYTES} bytes per sender loop and session, 8 MiB at 16,383 peers that
 * each send from one loop, 16 MiB from two (one shared 16,384-bit window per session was 32 MiB).
 *
 * <p>{@link #mayAccept} is a read-only pre-check before the costly decryption; {@link #accept} marks the sequence
 * once the datagram authenticated. {@link #accept} guards its few word operations with a flag taken by
 * compare-and-set that is never waited for: one socket's datagrams are opened by one loop, so the flag is
 * uncontended; should two loops ever open one sender loop's datagrams (the control thread's {@link #close} aside),
 * {@link #accept} spins up to {@value #SPINS} times with {@link Thread#onSpinWait()}, then yields up to
 * {@value #YIELDS} times and only then refuses the datagram as a replay rather than blocking the loop. No allocation.
 */
public final class ReplayWindow {
    /** Bits in the ring. */
    public static final int BITS = 4096;
    /** Bytes of the ring: {@value}. */
    public static final int BYTES = BITS / 8;
    /** How far below the highest accepted counter a counter is still accepted: {@value} (one word is the margin). */
    public static final int WINDOW = BITS - 64;
    private static final int WORDS = BITS / 64;
    private static final int MASK = WORDS - 1;
    /** Attempts to take the flag before giving up (the last {@link #YIELDS} after a yield): far longer than the few
     * word operations the holder does. */
    static final int SPINS = 1000;
    /** Yields after the spins, for a holder descheduled mid-update. */
    static final int YIELDS = 10;

    private final long[] ring = new long[WORDS];
    private final AtomicInteger busy = new AtomicInteger();
    private long top;
    private boolean closed;

    /** Creates an empty window. */
    public ReplayWindow() {
        this(-1);
    }

    /**
     * Creates a window that refuses every sequence up to {@code highest} (a retired session's, resumed).
     *
     * @param highest the highest sequence seen before, -1 for none
     */
    public ReplayWindow(final long highest) {
        top = highest;
        if (highest >= 0) {
            java.util.Arrays.fill(ring, -1L); // every counter up to highest is seen; older ones are too old anyway
            final int bit = (int) (highest & 63);
            ring[(int) (highest >>> 6) & MASK] = bit == 63 ? -1L : (1L << bit + 1) - 1;
        }
    }

    /**
     * Closes the window (a retired session): every later {@link #accept} refuses. Control thread; waits for a loop
     * holding the flag.
     *
     * @return the highest sequence accepted, -1 for none
     */
    public long close() {
        while (!busy.compareAndSet(0, 1)) {
            Thread.onSpinWait();
        }
        try {
            closed = true;
            return top;
        } finally {
            busy.set(0);
        }
    }

    /**
     * Whether {@code counter} may be new (not certain: {@link #accept} decides). Any thread; racy reads only.
     *
     * @param counter a received sequence, 0 or above
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
     * @param counter a received sequence of an authenticated datagram, 0 or above
     * @return {@code true} if it was new and is now marked; {@code false} for a replay, a counter too old, or (rarely)
     *     another loop holding this window for longer than {@value #SPINS} spins (its thread descheduled)
     */
    public boolean accept(final long counter) {
        if (counter < 0 || !acquire()) {
            return false;
        }
        try {
            if (closed) {
                return false;
            }
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

    private boolean acquire() {
        for (int i = 0; i < SPINS; i++) {
            if (busy.get() == 0 && busy.compareAndSet(0, 1)) {
                return true;
            }
            if (i < SPINS - YIELDS) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        return false;
    }

    /** The highest sequence accepted, -1 before the first. */
    public long highest() {
        return top;
    }
}
