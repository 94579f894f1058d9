package io.overlay.udp.offload;

import io.overlay.core.net.Ipv4;
import java.nio.ByteBuffer;

/**
 * Output area for {@link GsoSegmenter}: one direct buffer holding up to {@link #capacity()} IPv4 packets of at most
 * {@link #slotSize()} bytes each, <b>packed back to back</b> from index 0, with their offsets and lengths in
 * {@code int[]}s. Allocated once per packet loop and reused ({@link #clear()}). The engine sends each packet where it
 * lies (one iovec per packet: {@link #offset(int)}, {@link #length(int)}).
 *
 * <p>After {@link GsoSegmenter#segmentInPlace} a packet may be held in two parts: its headers here
 * ({@link #headLength(int)} bytes at {@link #offset(int)}) and its payload in the super-packet's own buffer
 * ({@link #tailBuffer()}, {@link #tailLength(int)} bytes at {@link #tailOffset(int)}), sent as two iovecs so that the
 * payload is never copied in user space. {@link #length(int)} is always the whole packet's length.
 *
 * <p>Not thread-safe.
 */
public final class SegmentBatch {
    private final ByteBuffer buffer;
    private final int slotSize;
    private final int[] offsets;
    private final int[] lengths;
    private final int[] tailOffsets;
    private final int[] tailLengths;
    private ByteBuffer tailBuffer;
    private int count;
    private int end;

    /**
     * Allocates the area.
     *
     * @param slots the most packets held (the most segments one super-packet may produce: 65535 / gso_size rounded
     *     up, e.g. 49 for MSS 1348 with a full 65535-byte super-packet)
     * @param slotSize the largest packet held in bytes, at least the MTU; the buffer is {@code slots × slotSize}
     * @throws IllegalArgumentException if {@code slots} &lt; 1, {@code slotSize} &lt; 68 or the area would exceed 2 GiB
     */
    public SegmentBatch(final int slots, final int slotSize) {
        this(null, slots, slotSize);
    }

    /**
     * Creates the area over memory the caller owns (e.g. the tail of a larger packet buffer), or allocates it.
     *
     * @param area a buffer of at least {@code slots × slotSize} bytes whose index 0 is the area's start, or
     *     {@code null} to allocate one
     * @param slots the most packets held
     * @param slotSize the largest packet held in bytes, at least 68
     * @throws IllegalArgumentException if {@code slots} &lt; 1, {@code slotSize} &lt; 68, the area would exceed 2 GiB
     *     or {@code area} is too small
     */
    public SegmentBatch(final ByteBuffer area, final int slots, final int slotSize) {
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be at least 1, got " + slots);
        }
        if (slotSize < Ipv4.MIN_MTU) {
            throw new IllegalArgumentException("slotSize must be at least 68 bytes (the IPv4 minimum MTU), got "
                + slotSize);
        }
        if ((long) slots * slotSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("slots × slotSize exceeds 2 GiB: " + slots + " × " + slotSize);
        }
        if (area != null && area.capacity() < slots * slotSize) {
            throw new IllegalArgumentException("the area holds " + area.capacity() + " bytes, fewer than " + slots
                + " × " + slotSize);
        }
        this.buffer = area != null ? area : ByteBuffer.allocateDirect(slots * slotSize);
        this.slotSize = slotSize;
        this.offsets = new int[slots];
        this.lengths = new int[slots];
        this.tailOffsets = new int[slots];
        this.tailLengths = new int[slots];
    }

    /**
     * Returns the backing direct buffer (absolute indexes; its position and limit are not used).
     *
     * @return the buffer
     */
    public ByteBuffer buffer() {
        return buffer;
    }

    /**
     * Returns the largest packet a batch accepts.
     *
     * @return bytes
     */
    public int slotSize() {
        return slotSize;
    }

    /**
     * Returns the most packets a batch holds.
     *
     * @return the capacity in packets
     */
    public int capacity() {
        return lengths.length;
    }

    /**
     * Returns the number of packets written since the last {@link #clear()}.
     *
     * @return 0..capacity()
     */
    public int count() {
        return count;
    }

    /**
     * Returns where packet {@code i} starts in {@link #buffer()}: right after packet {@code i - 1}.
     *
     * @param i 0..count()-1
     * @return the absolute index
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #count()}
     */
    public int offset(final int i) {
        if (i >= count) {
            throw outOfRange(i);
        }
        return offsets[i];
    }

    /**
     * Returns the length of packet {@code i}.
     *
     * @param i 0..count()-1
     * @return bytes
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #count()}
     */
    public int length(final int i) {
        if (i >= count) {
            throw outOfRange(i);
        }
        return lengths[i];
    }

    /**
     * Returns the bytes of packet {@code i} held in {@link #buffer()} at {@link #offset(int)}: the whole packet, or its
     * headers when it has a tail.
     *
     * @param i 0..count()-1
     * @return bytes
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #count()}
     */
    public int headLength(final int i) {
        return length(i) - tailLengths[i];
    }

    /**
     * Returns the payload bytes of packet {@code i} that stay in {@link #tailBuffer()}: 0 for a packet held whole.
     *
     * @param i 0..count()-1
     * @return bytes
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #count()}
     */
    public int tailLength(final int i) {
        if (i >= count) {
            throw outOfRange(i);
        }
        return tailLengths[i];
    }

    /**
     * Returns where the tail of packet {@code i} starts in {@link #tailBuffer()}.
     *
     * @param i 0..count()-1
     * @return the absolute index (meaningless when {@link #tailLength(int)} is 0)
     * @throws IndexOutOfBoundsException if {@code i} is not below {@link #count()}
     */
    public int tailOffset(final int i) {
        if (i >= count) {
            throw outOfRange(i);
        }
        return tailOffsets[i];
    }

    /** Built apart so that the per-segment accessors stay small enough for C1 and C2 to inline anywhere. */
    private IndexOutOfBoundsException outOfRange(final int i) {
        return new IndexOutOfBoundsException("segment " + i + " of " + count);
    }

    /**
     * Returns the buffer the tails lie in (the super-packet's), or {@code null} when no packet has a tail.
     *
     * @return the buffer
     */
    public ByteBuffer tailBuffer() {
        return tailBuffer;
    }

    /**
     * Forgets all packets.
     */
    public void clear() {
        count = 0;
        end = 0;
        tailBuffer = null;
    }

    /** Where the next packet goes; the segmenter writes there, then calls {@link #add(int)}. */
    int nextOffset() {
        return end;
    }

    /** Records the packet just written at {@link #nextOffset()}. */
    void add(final int length) {
        offsets[count] = end;
        tailLengths[count] = 0;
        lengths[count++] = length;
        end += length;
    }

    /** Records a packet whose {@code head} bytes were written at {@link #nextOffset()} and whose tail stays in src. */
    void addSplit(final int head, final ByteBuffer src, final int tailOffset, final int tailLength) {
        offsets[count] = end;
        tailBuffer = src;
        tailOffsets[count] = tailOffset;
        tailLengths[count] = tailLength;
        lengths[count++] = head + tailLength;
        end += head;
    }
}
