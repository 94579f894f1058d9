package io.overlay.udp.crypto;

import java.nio.ByteBuffer;

/**
 * Opens {@link SealedFrame}s in place with AES-256-GCM ({@link Gcm#create()}, as {@link PacketSealer}): the inner
 * packet is written over the frame, starting at the frame's first byte, so it can be handed on from the receive buffer
 * like a clear-text datagram. Checks in order: length, key id, replay pre-check, tag (verified before any plaintext is
 * written back), replay window. The frame is staged through heap arrays (see {@link PacketSealer} for why). One per
 * event loop, reusing its {@link Gcm} and arrays. Not thread-safe.
 */
public final class PacketOpener {
    /** {@link #open} result: the datagram is shorter than the frame overhead. */
    public static final int MALFORMED = -1;
    /** {@link #open} result: the key id is not the one expected from this peer (an old key, a restarted peer). */
    public static final int UNKNOWN_KEY = -2;
    /** {@link #open} result: the counter was seen already, is too old for its sender loop's window, or is negative
     * or of a sender loop index of {@value SealedFrame#MAX_LOOPS} or above. */
    public static final int REPLAYED = -3;
    /** {@link #open} result: the tag did not verify (modified in transit, or sealed under another key or PSK). */
    public static final int BAD_TAG = -4;

    private final Gcm gcm;
    private final byte[] nonce = new byte[SealedFrame.NONCE];
    private final byte[] sealed = new byte[SealedFrame.MAX_INNER + SealedFrame.OVERHEAD];
    private final byte[] plain = new byte[SealedFrame.MAX_INNER];

    /** Creates an opener with the best {@link Gcm} this JVM allows. */
    public PacketOpener() {
        this(Gcm.create());
    }

    /**
     * Creates an opener with the given implementation.
     *
     * @param gcm the AES-GCM implementation, used by this opener only
     */
    public PacketOpener(final Gcm gcm) {
        this.gcm = gcm;
    }

    /**
     * Opens the frame of {@code length} bytes at {@code buf[offset]} in place.
     *
     * @param session the sender's session (receive key, windows)
     * @param buf the buffer (absolute indexes)
     * @param offset the frame's first byte; the inner packet is written from here
     * @param length the frame's length
     * @return the inner packet's length ({@code length - }{@link SealedFrame#OVERHEAD}), or {@link #MALFORMED},
     *     {@link #UNKNOWN_KEY}, {@link #REPLAYED} or {@link #BAD_TAG}
     */
    public int open(final PeerSession session, final ByteBuffer buf, final int offset, final int length) {
        if (length < SealedFrame.OVERHEAD || length > SealedFrame.MAX_INNER + SealedFrame.OVERHEAD) {
            return MALFORMED;
        }
        if (SealedFrame.keyId(buf, offset) != session.receiveKeyId()) {
            return UNKNOWN_KEY;
        }
        final long counter = SealedFrame.counter(buf, offset);
        if (!session.mayAccept(counter)) {
            return REPLAYED;
        }
        buf.get(offset, sealed, 0, length);
        System.arraycopy(sealed, SealedFrame.KEY_ID, nonce, 0, SealedFrame.NONCE);
        final int inner = length - SealedFrame.OVERHEAD;
        if (gcm.open(session.receiveKey(), nonce, sealed, SealedFrame.HEADER, length - SealedFrame.HEADER, plain, 0)
            != inner) {
            return BAD_TAG;
        }
        if (!session.accept(counter)) {
            return REPLAYED;
        }
        buf.put(offset, plain, 0, inner);
        return inner;
    }
}
