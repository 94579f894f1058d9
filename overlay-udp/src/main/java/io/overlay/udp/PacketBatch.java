package io.overlay.udp;

import io.netty.channel.unix.Buffer;
import java.nio.ByteBuffer;

/**
 * The plain IPv4 packets one {@link TunPort#read} hands to the loop: offsets and lengths into one direct buffer that
 * the port owns, each packet tagged with the TUN frame it came from (a GSO super-packet gives several packets of one
 * frame). Allocated once per loop; nothing per packet. Loop thread only.
 */
final class PacketBatch {
    private final ByteBuffer buffer;
    private final long address;
    private final int[] offsets;
    private final int[] lengths;
    private final int[] frameOf;
    private int count;
    private int frames;

    /**
     * Creates a batch over a port's packet area.
     *
     * @param buffer the direct buffer the packets live in (big-endian)
     * @param capacity the most packets one read yields
     */
    PacketBatch(final ByteBuffer buffer, final int capacity) {
        this.buffer = buffer;
        this.address = Buffer.memoryAddress(buffer);
        this.offsets = new int[capacity];
        this.lengths = new int[capacity];
        this.frameOf = new int[capacity];
    }

    ByteBuffer buffer() {
        return buffer;
    }

    /** The native address of {@link #buffer()}'s index 0. */
    long address() {
        return address;
    }

    /** Packets in the batch. */
    int count() {
        return count;
    }

    /** TUN frames read into the batch (with data; dropped frames included). */
    int frames() {
        return frames;
    }

    int offset(final int i) {
        return offsets[i];
    }

    int length(final int i) {
        return lengths[i];
    }

    /** The frame packet {@code i} came from, 0..frames()-1. */
    int frame(final int i) {
        return frameOf[i];
    }

    /** Empties the batch before a read. */
    void clear() {
        count = 0;
        frames = 0;
    }

    /** Counts one more TUN frame and returns its number, for the packets {@link #add}ed from it. */
    int newFrame() {
        return frames++;
    }

    /** Appends a packet of frame {@code frame} at {@code offset} of the buffer. */
    void add(final int offset, final int length, final int frame) {
        offsets[count] = offset;
        lengths[count] = length;
        frameOf[count++] = frame;
    }
}
