package io.overlay.udp.offload;

import java.nio.ByteBuffer;

/**
 * Output area for {@link GsoSegmenter}: one direct buffer cut into fixed-stride slots, one IPv4 packet per slot, with
 * the packet lengths in an {@code int[]}. Slot {@code i} starts at {@code i * slotSize()}. Allocated once per packet
 * loop and reused ({@link #clear()}); its layout suits a {@code sendmmsg} batch or, when all segments but the last have
 * the same length, one UDP GSO ({@code UDP_SEGMENT}) send per batch after the caller packs the slots.
 *
 * <p>Not thread-safe.
 */
public final class SegmentBatch {
    private final ByteBuffer buffer;
    private final int slotSize;
    private final int[] lengths;
    private int count;

    /**
     * Allocates the area.
     *
     * @param slots the number of slots (the most segments one super-packet may produce; 64 KiB / MSS, e.g. 48 for
     *     MSS 1360 with a full 65535-byte super-packet)
     * @param slotSize bytes per slot, at least the MTU (the largest segment written)
     * @throws IllegalArgumentException if {@code slots} &lt; 1, {@code slotSize} &lt; 68 or the area would exceed 2 GiB
     */
    public SegmentBatch(final int slots, final int slotSize) {
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be at least 1, got " + slots);
        }
        if (slotSize < 68) {
            throw new IllegalArgumentException("slotSize must be at least 68 bytes (the IPv4 minimum MTU), got "
                + slotSize);
        }
        if ((long) slots * slotSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("slots × slotSize exceeds 2 GiB: " + slots + " × " + slotSize);
        }
        this.buffer = ByteBuffer.allocateDirect(slots * slotSize);
        this.slotSize = slotSize;
        this.lengths = new int[slots];
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
     * Returns the slot stride.
     *
     * @return bytes per slot
     */
    public int slotSize() {
        return slotSize;
    }

    /**
     * Returns the number of slots.
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
     * Returns where packet {@code i} starts in {@link #buffer()}.
     *
     * @param i 0..count()-1
     * @return the absolute index, {@code i * slotSize()}
     */
    public int offset(final int i) {
        return i * slotSize;
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
            throw new IndexOutOfBoundsException("segment " + i + " of " + count);
        }
        return lengths[i];
    }

    /**
     * Forgets all packets.
     */
    public void clear() {
        count = 0;
    }

    /** Records the next packet's length; used by the segmenter after it filled slot {@link #count()}. */
    void add(final int length) {
        lengths[count++] = length;
    }
}
