package io.overlay.udp.offload;

/**
 * The layout of {@code struct iovec} ({@code include/uapi/linux/uio.h}) on LP64 Linux (x86-64, aarch64): an 8-byte
 * {@code iov_base} at offset 0 and an 8-byte {@code iov_len}, in native byte order. Declared once for every gather
 * list the engine builds in native memory: the message vectors of {@code sendmmsg}/{@code recvmmsg}
 * ({@code MessageBatch}) and the {@code writev} lists of {@link TcpCoalescer#inPlace}.
 */
public final class Iovec {
    /** {@code sizeof(struct iovec)}, bytes. */
    public static final int SIZE = 16;
    /** Offset of {@code iov_len}, bytes. */
    public static final int LEN_OFFSET = 8;

    private Iovec() {
    }
}
