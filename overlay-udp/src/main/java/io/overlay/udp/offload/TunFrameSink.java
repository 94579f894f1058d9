package io.overlay.udp.offload;

import io.netty.util.internal.PlatformDependent;
import java.nio.ByteBuffer;

/**
 * Receives frames ready to be written to a TUN opened with {@code IFF_VNET_HDR}: a 10-byte {@link VirtioNetHdr}
 * followed by one IPv4 packet, with what the frame stands for on the wire, so that the sink counts without parsing
 * the frame again. Implemented once by the packet engine (a {@code write} on the TUN fd) and called on its loop
 * thread; the bytes are valid only during the call.
 */
@FunctionalInterface
public interface TunFrameSink {
    /**
     * Takes one frame.
     *
     * @param buffer the buffer holding the frame (absolute indexes; position and limit are not meaningful)
     * @param offset index of the frame's first byte (the virtio header)
     * @param length the frame length in bytes: {@link VirtioNetHdr#LENGTH} + the IPv4 packet's total length
     * @param packets the received packets the frame carries: 1, or the segments of a coalesced super-packet
     * @param packetBytes the bytes of those packets as received (each with its own headers)
     */
    void frame(ByteBuffer buffer, int offset, int length, int packets, int packetBytes);

    /**
     * Takes one frame given as a gather list ({@link TcpCoalescer#inPlace}): {@code count} {@code struct iovec}s
     * ({@link Iovec}) at {@code iovecs}, whose bytes in order are the
     * frame. The engine writes it with one {@code writev(2)}. This default gathers the bytes into a new buffer and
     * calls {@link #frame}: it allocates, and is meant for tests and tools, not for the packet path.
     *
     * @param iovecs native address of the first {@code iovec}; valid only during the call
     * @param count number of {@code iovec}s, at least 1
     * @param length the frame length in bytes (the sum of the {@code iovec} lengths)
     * @param packets the received packets the frame carries
     * @param packetBytes the bytes of those packets as received
     */
    default void gather(final long iovecs, final int count, final int length, final int packets,
                        final int packetBytes) {
        final ByteBuffer copy = ByteBuffer.allocateDirect(length);
        final long to = PlatformDependent.directBufferAddress(copy);
        long at = 0;
        for (int i = 0; i < count; i++) {
            final long base = PlatformDependent.getLong(iovecs + (long) Iovec.SIZE * i);
            final long len = PlatformDependent.getLong(iovecs + (long) Iovec.SIZE * i + Iovec.LEN_OFFSET);
            PlatformDependent.copyMemory(base, to + at, len);
            at += len;
        }
        frame(copy, 0, length, packets, packetBytes);
    }
}
