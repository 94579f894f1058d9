package io.overlay.udp;

import io.netty.channel.unix.Buffer;
import java.nio.ByteBuffer;

/**
 * The plain IPv4 packets one {@link TunPort#read} hands to the loop: offsets and lengths into one direct buffer that
 * the port owns, each packet tagged with the TUN frame it came from (a GSO super-packet gives several packets of one
 * frame). Allocated once per loop; nothing per packet. Loop thread only.
 *
 * <p>A packet may be split ({@link #addSplit}): its headers in the buffer ({@link #headLength(int)} bytes at
 * {@link #offset(int)}, all the header checks and the TTL decrement need) and its payload elsewhere, by native
 * address ({@link #tailAddress(int)}, {@link #tailLength(int)}): a TSO super-packet's segments whose payload stayed
 * in the TUN read buffer. {@link #length(int)} is always the whole packet's length.
 */
final class PacketBatch {
    private final ByteBuffer buffer;
    private final long address;
    private final int[] offsets;
    private final int[] lengths;
    private final int[] frameOf;
    private final long[] tailAddresses;
    private final int[] tailLengths;
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
        this.tailAddresses = new long[capacity];
        this.tailLengths = new int[capacity];
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

    /** Bytes of packet {@code i} at {@link #offset(int)}: all of it, or its headers when it has a tail. */
    int headLength(final int i) {
        return lengths[i] - tailLengths[i];
    }

    /** Native address of packet {@code i}'s tail (its payload held elsewhere); meaningless if its length is 0. */
    long tailAddress(final int i) {
        return tailAddresses[i];
    }

    /** Bytes of packet {@code i}'s tail, 0 when the packet is whole at {@link #offset(int)}. */
    int tailLength(final int i) {
        return tailLengths[i];
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
        tailLengths[count] = 0;
        frameOf[count++] = frame;
    }

    /** Appends a split packet: {@code head} bytes at {@code offset}, then {@code tailLength} at {@code tailAddress}. */
    void addSplit(final int offset, final int head, final long tailAddress, final int tailLength, final int frame) {
        offsets[count] = offset;
        lengths[count] = head + tailLength;
        tailAddresses[count] = tailAddress;
        tailLengths[count] = tailLength;
        frameOf[count++] = frame;
    }
}
