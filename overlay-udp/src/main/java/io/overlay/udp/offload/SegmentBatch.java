package io.overlay.udp.offload;

import java.nio.ByteBuffer;

/**
 * Output area for {@link GsoSegmenter}: one direct buffer holding up to {@link #capacity()} IPv4 packets of at most
 * {@link #slotSize()} bytes each, <b>packed back to back</b> from index 0, with their offsets and lengths in
 * {@code int[]}s. Allocated once per packet loop and reused ({@link #clear()}).
 *
 * <p>The layout serves both ways of sending: a {@code sendmmsg} batch (one iovec per packet: {@link #offset(int)},
 * {@link #length(int)}), or, when {@link #uniform()} (every packet but the last has the same length and the last is
 * not longer — always the case for one TCP super-packet), a single UDP GSO send ({@code UDP_SEGMENT} =
 * {@code length(0)}) of the contiguous bytes {@code [offset(0), offset(0) + totalBytes())}, split by the caller where
 * the kernel's limits require (at most 64 segments and 65507 bytes of UDP payload per send on IPv4).
 *
 * <p>Not thread-safe.
 */
public final class SegmentBatch {
    private final ByteBuffer buffer;
    private final int slotSize;
    private final int[] offsets;
    private final int[] lengths;
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
        this.offsets = new int[slots];
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
            throw new IndexOutOfBoundsException("segment " + i + " of " + count);
        }
        return offsets[i];
    }

    /**
     * Returns the bytes of all packets together (they are contiguous from {@code offset(0)} = 0).
     *
     * @return bytes
     */
    public int totalBytes() {
        return end;
    }

    /**
     * Returns whether the batch can go out as one UDP GSO send: at least one packet, all packets but the last of
     * length {@code length(0)}, the last not longer.
     *
     * @return {@code true} if uniform
     */
    public boolean uniform() {
        if (count == 0) {
            return false;
        }
        final int size = lengths[0];
        for (int i = 1; i < count - 1; i++) {
            if (lengths[i] != size) {
                return false;
            }
        }
        return lengths[count - 1] <= size;
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
        end = 0;
    }

    /** Where the next packet goes; the segmenter writes there, then calls {@link #add(int)}. */
    int nextOffset() {
        return end;
    }

    /** Records the packet just written at {@link #nextOffset()}. */
    void add(final int length) {
        offsets[count] = end;
        lengths[count++] = length;
        end += length;
    }
}
