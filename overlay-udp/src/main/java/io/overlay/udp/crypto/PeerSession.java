package io.overlay.udp.crypto;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.Base64;

/**
 * The state shared by every event loop for one peer public key: the keys of both directions ({@link SessionKeys}),
 * one send sequence per local loop and one receive {@link ReplayWindow} per sending loop of the peer. Kept while some
 * PublicIP uses the peer's key; then {@link #retire retired} by {@link PeerSessions}, which keeps the counters' marks
 * so that a peer coming back with the same public key continues its counters rather than restarting them (a GCM nonce
 * must never repeat under one key) and old datagrams stay replays.
 *
 * <p><b>Counters.</b> A frame's 64-bit counter is {@code (sending loop index << 56) | sequence}
 * ({@link SealedFrame#counterOf}): each local loop seals from its own 56-bit sequence, so the loops share no atomic
 * on the send path and loop 0's counters are 0, 1, 2, ... as with one loop. Each loop's sequence is a slot of its own,
 * one 64-byte cache line apart from the next loop's (no false sharing): 64 bytes per local loop per session. The slot
 * is updated with an uncontended atomic add so that {@link #retire} (control thread) can close it at a known value.
 *
 * <p><b>Windows.</b> The receiver keeps a window per (session, sender loop index): the peer's loop i sends from its
 * own port, which this host's steering hands to one receiving loop, so each window sees one socket's counters,
 * nearly in order. The window of index 0 is made with the session; the others when an authenticated datagram of
 * that index first arrives (a one-time allocation), installed by compare-and-set so that two receiving loops racing
 * keep one window. Memory per session: {@link ReplayWindow#BYTES} per sender loop seen, and once a second sender loop
 * appears a table of {@value SealedFrame#MAX_LOOPS} references (about 270 bytes).
 */
public final class PeerSession {
    /** Longs between two loops' sequence slots: one 64-byte cache line. */
    private static final int STRIDE = 8;
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle WINDOW = MethodHandles.arrayElementVarHandle(ReplayWindow[].class);
    private static final VarHandle WINDOWS;
    /** Installed in place of every window not yet made when the session retires. */
    private static final ReplayWindow CLOSED = closedWindow();
    /** Installed in place of the window table when the session retires before a second sender loop appeared. */
    private static final ReplayWindow[] CLOSED_TABLE = closedTable();

    static {
        try {
            WINDOWS = MethodHandles.lookup().findVarHandle(PeerSession.class, "windows", ReplayWindow[].class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final byte[] peerPublicKey;
    private final GcmKey sendKey;
    private final int sendKeyId;
    private final GcmKey receiveKey;
    private final int receiveKeyId;
    /** Loop i's next sequence at {@code i * STRIDE}; {@link Long#MIN_VALUE} once retired. */
    private final long[] sequences;
    private final int sendLoops;
    private final ReplayWindow window0;
    /** Windows of sender loops 1.. (index 0 unused), made lazily; {@code null} until a second sender loop. */
    @SuppressWarnings("unused") // through WINDOWS
    private volatile ReplayWindow[] windows;
    /** Per sender loop index, the highest sequence received before (a resumed session); -1 for none. */
    private final long[] receivedBefore;

    /**
     * Creates the session for derived keys, sealing from one loop.
     *
     * @param peerPublicKey the peer's raw public key
     * @param keys the derived keys
     */
    public PeerSession(final byte[] peerPublicKey, final SessionKeys keys) {
        this(peerPublicKey, keys, 1, 0, new long[0]);
    }

    /**
     * Creates the session for derived keys, resuming a retired one.
     *
     * @param peerPublicKey the peer's raw public key
     * @param keys the derived keys
     * @param sendLoops the local loops that seal, 1..{@value SealedFrame#MAX_LOOPS}
     * @param firstSequence every loop's first send sequence, 0 or above: above every sequence ever sealed under the
     *     send key by any loop
     * @param receivedHighest per sender loop index, every sequence up to this one is refused as a replay (-1 for
     *     none; indices past the array's end have none)
     * @throws IllegalArgumentException if {@code sendLoops} or {@code firstSequence} is out of range
     */
    public PeerSession(final byte[] peerPublicKey, final SessionKeys keys, final int sendLoops,
                       final long firstSequence, final long[] receivedHighest) {
        if (sendLoops < 1 || sendLoops > SealedFrame.MAX_LOOPS) {
            throw new IllegalArgumentException("send loops must be 1.." + SealedFrame.MAX_LOOPS + ", got " + sendLoops);
        }
        if (firstSequence < 0) {
            throw new IllegalArgumentException("first sequence must be 0 or above, got " + firstSequence);
        }
        if (receivedHighest.length > SealedFrame.MAX_LOOPS) {
            throw new IllegalArgumentException("received marks for " + receivedHighest.length
                + " sender loops, at most " + SealedFrame.MAX_LOOPS);
        }
        this.sendLoops = sendLoops;
        this.sequences = new long[(sendLoops - 1) * STRIDE + 1];
        for (int i = 0; i < sendLoops; i++) {
            sequences[i * STRIDE] = firstSequence;
        }
        this.receivedBefore = receivedHighest.clone();
        this.window0 = new ReplayWindow(before(0));
        this.peerPublicKey = peerPublicKey.clone();
        this.sendKey = GcmKey.of(keys.sendKey());
        this.sendKeyId = keys.sendKeyId();
        this.receiveKey = GcmKey.of(keys.receiveKey());
        this.receiveKeyId = keys.receiveKeyId();
    }

    private long before(final int loop) {
        return loop < receivedBefore.length ? receivedBefore[loop] : -1;
    }

    /**
     * The next send counter of local loop {@code loop}: {@code (loop << 56) | sequence}. Negative when the loop's
     * 56-bit sequence is exhausted, the session retired, or {@code loop} is not one of the session's send loops:
     * then nothing may be sealed (never reached in practice: 2^56 packets at 10 million a second last 228 years).
     *
     * @param loop the local loop's index
     * @return the counter, or -1
     */
    long nextCounter(final int loop) {
        if (loop < 0 || loop >= sendLoops) {
            return -1;
        }
        final long sequence = (long) SLOT.getAndAdd(sequences, loop * STRIDE, 1L);
        if (sequence < 0 || sequence > SealedFrame.MAX_SEQUENCE) {
            return -1;
        }
        return SealedFrame.counterOf(loop, sequence);
    }

    /** The next send counter of loop 0. */
    long nextCounter() {
        return nextCounter(0);
    }

    GcmKey sendKey() {
        return sendKey;
    }

    int sendKeyId() {
        return sendKeyId;
    }

    GcmKey receiveKey() {
        return receiveKey;
    }

    /** The key id expected in datagrams from the peer. */
    public int receiveKeyId() {
        return receiveKeyId;
    }

    /**
     * The window of sender loop {@code loop} if made yet, for the pre-check. Any thread, lock-free, no allocation.
     *
     * @param loop the sender loop index, 0..{@value SealedFrame#MAX_LOOPS} - 1
     * @return the window, or {@code null} if none was made for the index yet (every sequence may be new, except below
     *     a resumed session's mark: see {@link #mayAccept})
     */
    ReplayWindow window(final int loop) {
        if (loop == 0) {
            return window0;
        }
        final ReplayWindow[] table = (ReplayWindow[]) WINDOWS.getAcquire(this);
        return table == null ? null : (ReplayWindow) WINDOW.getAcquire(table, loop);
    }

    /** The window of sender loop 0 (tests). */
    ReplayWindow window() {
        return window0;
    }

    /**
     * Whether {@code counter} may be new (racy pre-check before decryption, no allocation): its sender loop index is
     * in range and its window, if made, may accept its sequence.
     *
     * @param counter a received counter
     * @return {@code false} if it is negative, of an index past {@value SealedFrame#MAX_LOOPS}, too old or seen
     */
    boolean mayAccept(final long counter) {
        if (counter < 0) {
            return false;
        }
        final int loop = SealedFrame.loopOf(counter);
        if (loop >= SealedFrame.MAX_LOOPS) {
            return false;
        }
        final long sequence = SealedFrame.sequenceOf(counter);
        final ReplayWindow w = window(loop);
        return w == null ? sequence > before(loop) : w.mayAccept(sequence);
    }

    /**
     * Accepts {@code counter} of an authenticated datagram once, making its sender loop's window on first use.
     *
     * @param counter the counter
     * @return {@code true} if new and now marked
     */
    boolean accept(final long counter) {
        if (counter < 0) {
            return false;
        }
        final int loop = SealedFrame.loopOf(counter);
        if (loop >= SealedFrame.MAX_LOOPS) {
            return false;
        }
        ReplayWindow w = window(loop);
        if (w == null) {
            w = install(loop);
        }
        return w.accept(SealedFrame.sequenceOf(counter));
    }

    /** Makes the window of sender loop {@code loop} (once per index and session); a racing loop's wins. */
    private ReplayWindow install(final int loop) {
        ReplayWindow[] table = (ReplayWindow[]) WINDOWS.getAcquire(this);
        if (table == null) {
            final ReplayWindow[] made = new ReplayWindow[SealedFrame.MAX_LOOPS];
            final ReplayWindow[] witness = (ReplayWindow[]) WINDOWS.compareAndExchange(this, null, made);
            table = witness == null ? made : witness;
        }
        final ReplayWindow made = new ReplayWindow(before(loop));
        final ReplayWindow witness = (ReplayWindow) WINDOW.compareAndExchange(table, loop, null, made);
        return witness == null ? made : witness;
    }

    /**
     * Retires the session (control thread): from now on sealing fails ({@link #nextCounter} is negative) and
     * opening refuses every counter (each window is closed, and a window not made yet can no longer be made: a
     * closed one is installed in its place), and the keys' loop state is released.
     *
     * @return its marks for a tombstone
     */
    Marks retire() {
        long next = 0;
        for (int i = 0; i < sendLoops; i++) {
            next = Math.max(next, (long) SLOT.getAndSet(sequences, i * STRIDE, Long.MIN_VALUE));
        }
        final long[] received = new long[SealedFrame.MAX_LOOPS];
        received[0] = window0.close();
        ReplayWindow[] table = (ReplayWindow[]) WINDOWS.compareAndExchange(this, null, CLOSED_TABLE);
        if (table == null) {
            table = CLOSED_TABLE;
        }
        int used = 1;
        for (int i = 1; i < SealedFrame.MAX_LOOPS; i++) {
            final ReplayWindow w = (ReplayWindow) WINDOW.compareAndExchange(table, i, null, CLOSED);
            received[i] = w == null || w == CLOSED ? before(i) : w.close();
            if (received[i] >= 0) {
                used = i + 1;
            }
        }
        sendKey.release();
        receiveKey.release();
        return new Marks(Math.min(next, SealedFrame.MAX_SEQUENCE + 1), Arrays.copyOf(received, used));
    }

    /**
     * A retired session's marks.
     *
     * @param sent the next send sequence never used by any local loop (every loop resumes at or above it)
     * @param received per sender loop index, the highest sequence received (-1 for none)
     */
    record Marks(long sent, long[] received) {
    }

    /** Packets sealed under the send key so far, by every loop (0 once retired). */
    public long sealed() {
        long n = 0;
        for (int i = 0; i < sendLoops; i++) {
            n += Math.max(0, Math.min((long) SLOT.getOpaque(sequences, i * STRIDE), SealedFrame.MAX_SEQUENCE + 1));
        }
        return n;
    }

    /** The peer's public key as published, base64. */
    public String peerPublicKeyBase64() {
        return Base64.getEncoder().encodeToString(peerPublicKey);
    }

    @Override
    public String toString() {
        return "PeerSession[peer key " + peerPublicKeyBase64() + ", send id " + Integer.toHexString(sendKeyId)
            + ", receive id " + Integer.toHexString(receiveKeyId) + "]";
    }

    private static ReplayWindow closedWindow() {
        final ReplayWindow w = new ReplayWindow();
        w.close();
        return w;
    }

    private static ReplayWindow[] closedTable() {
        final ReplayWindow[] t = new ReplayWindow[SealedFrame.MAX_LOOPS];
        Arrays.fill(t, 1, t.length, CLOSED);
        return t;
    }
}
