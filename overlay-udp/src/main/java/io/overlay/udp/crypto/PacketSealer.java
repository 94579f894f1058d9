package io.overlay.udp.crypto;

import java.nio.ByteBuffer;

/**
 * Seals inner packets into {@link SealedFrame}s with AES-256-GCM ({@link Gcm#create()}: the JDK's AES-NI and CLMUL
 * intrinsics, called directly when this JVM allows, else the {@code Cipher} API). One per event loop: its
 * {@link Gcm}, the header, nonce and staging arrays are reused for every packet. The packet is copied into a heap array
 * and the frame out of one (two copies of at most 64 KiB, a few tens of nanoseconds for 1,400 bytes), because the JDK's
 * GCM works on arrays (its {@code Cipher} copies a direct buffer through heap arrays it allocates per call). Not
 * thread-safe.
 */
public final class PacketSealer {
    private final Gcm gcm;
    private final int loop;
    private final byte[] header = new byte[SealedFrame.HEADER];
    private final byte[] nonce = new byte[SealedFrame.NONCE];
    private final byte[] plain = new byte[SealedFrame.MAX_INNER];
    private final byte[] sealed = new byte[SealedFrame.MAX_INNER + SealedFrame.OVERHEAD];

    /** Creates a sealer for loop 0 with the best {@link Gcm} this JVM allows. */
    public PacketSealer() {
        this(Gcm.create(), 0);
    }

    /**
     * Creates a sealer for an event loop with the best {@link Gcm} this JVM allows.
     *
     * @param loop the loop's index: the top byte of every counter it seals ({@link SealedFrame#counterOf})
     */
    public PacketSealer(final int loop) {
        this(Gcm.create(), loop);
    }

    /**
     * Creates a sealer with the given implementation (tests and benchmarks compare them).
     *
     * @param gcm the AES-GCM implementation, used by this sealer only
     */
    public PacketSealer(final Gcm gcm) {
        this(gcm, 0);
    }

    /**
     * Creates a sealer for an event loop with the given implementation.
     *
     * @param gcm the AES-GCM implementation, used by this sealer only
     * @param loop the loop's index, 0..{@value SealedFrame#MAX_LOOPS} - 1
     * @throws IllegalArgumentException if {@code loop} is out of range
     */
    public PacketSealer(final Gcm gcm, final int loop) {
        if (loop < 0 || loop >= SealedFrame.MAX_LOOPS) {
            throw new IllegalArgumentException("loop index must be 0.." + (SealedFrame.MAX_LOOPS - 1) + ", got "
                + loop);
        }
        this.gcm = gcm;
        this.loop = loop;
    }

    /**
     * Seals {@code length} bytes at {@code src[srcOffset]} into a frame at {@code dst[dstOffset]}.
     *
     * @param session the peer's session (its send key and this loop's sequence)
     * @param src the buffer holding the packet (absolute indexes; position and limit are not used)
     * @param srcOffset the packet's first byte
     * @param length the packet's length, at most {@link SealedFrame#MAX_INNER}
     * @param dst the buffer to write the frame to, {@code length + OVERHEAD} bytes from {@code dstOffset}
     * @param dstOffset where the frame starts
     * @return the frame's length, {@code length + }{@link SealedFrame#OVERHEAD}; -1 if this loop's sequence is
     *     exhausted (or the session retired, or this loop's index is beyond the loops the session was made for)
     */
    public int seal(final PeerSession session, final ByteBuffer src, final int srcOffset, final int length,
                    final ByteBuffer dst, final int dstOffset) {
        final long counter = session.nextCounter(loop);
        if (counter < 0) {
            return -1;
        }
        SealedFrame.writeHeader(header, session.sendKeyId(), counter);
        System.arraycopy(header, SealedFrame.KEY_ID, nonce, 0, SealedFrame.NONCE);
        System.arraycopy(header, 0, sealed, 0, SealedFrame.HEADER);
        src.get(srcOffset, plain, 0, length);
        final int frame = SealedFrame.HEADER
            + gcm.seal(session.sendKey(), nonce, plain, 0, length, sealed, SealedFrame.HEADER);
        dst.put(dstOffset, sealed, 0, frame);
        return frame;
    }
}
