package io.overlay.udp.crypto;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * Seals inner packets into {@link SealedFrame}s with the JDK's {@code AES/GCM/NoPadding} {@link Cipher} (AES-NI and
 * CLMUL intrinsics on x86-64). One per event loop: the {@code Cipher}, the header and nonce arrays and the buffer
 * staging arrays are reused for every packet. The packet is copied into a heap array and the frame out of one
 * (two copies of at most 64 KiB, a few tens of nanoseconds for 1,400 bytes), because the JDK's GCM copies a direct
 * buffer through heap arrays it allocates per call. The JDK refuses to encrypt twice with one key and IV, so the cipher is
 * initialised per packet with that packet's nonce; that {@code init} (a {@link GCMParameterSpec}, which the JDK
 * copies, and the JDK's own per-init state) is the only allocation per packet, measured in
 * {@code docs/performance.md} ("Encryption"). Not thread-safe.
 */
public final class PacketSealer {
    private final Cipher cipher;
    private final byte[] header = new byte[SealedFrame.HEADER];
    private final byte[] nonce = new byte[SealedFrame.NONCE];
    private final byte[] plain = new byte[SealedFrame.MAX_INNER];
    private final byte[] sealed = new byte[SealedFrame.MAX_INNER + SealedFrame.OVERHEAD];

    /** Creates a sealer with its own cipher. */
    public PacketSealer() {
        cipher = SealedFrame.gcm();
    }

    /**
     * Seals {@code length} bytes at {@code src[srcOffset]} into a frame at {@code dst[dstOffset]}.
     *
     * @param session the peer's session (its send key and counter)
     * @param src the buffer holding the packet (absolute indexes; position and limit are not used)
     * @param srcOffset the packet's first byte
     * @param length the packet's length, at most {@link SealedFrame#MAX_INNER}
     * @param dst the buffer to write the frame to, {@code length + OVERHEAD} bytes from {@code dstOffset}; must not
     *     overlap the packet
     * @param dstOffset where the frame starts
     * @return the frame's length, {@code length + }{@link SealedFrame#OVERHEAD}; -1 if the send counter is exhausted
     */
    public int seal(final PeerSession session, final ByteBuffer src, final int srcOffset, final int length,
                    final ByteBuffer dst, final int dstOffset) {
        final long counter = session.nextCounter();
        if (counter < 0) {
            return -1;
        }
        SealedFrame.writeHeader(header, session.sendKeyId(), counter);
        System.arraycopy(header, SealedFrame.KEY_ID, nonce, 0, SealedFrame.NONCE);
        System.arraycopy(header, 0, sealed, 0, SealedFrame.HEADER);
        src.get(srcOffset, plain, 0, length);
        try {
            cipher.init(Cipher.ENCRYPT_MODE, session.sendKey(),
                new GCMParameterSpec(SealedFrame.TAG * 8, nonce));
            final int frame = SealedFrame.HEADER + cipher.doFinal(plain, 0, length, sealed, SealedFrame.HEADER);
            dst.put(dstOffset, sealed, 0, frame);
            return frame;
        } catch (GeneralSecurityException e) {
            // only with a broken key or buffer sizes, never from the packet
            throw new IllegalStateException("sealing failed: " + e, e);
        }
    }
}
