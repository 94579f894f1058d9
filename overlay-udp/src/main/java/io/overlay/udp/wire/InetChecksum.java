package io.overlay.udp.wire;

import io.netty.util.internal.PlatformDependent;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * The Internet checksum: full computation (RFC 1071) and incremental update (RFC 1624, equation 3), plus the
 * big-endian field access the codecs share. Ones' complement sums of 16-bit big-endian words are taken over absolute
 * ranges of a {@link ByteBuffer} whatever its {@link ByteBuffer#order() byte order}, eight bytes per read. Partial
 * sums are carried as {@code long} values that {@link #fold(long)} reduces to 16 bits; ranges are summed as if each
 * started on a word boundary. Direct buffers are read raw ({@link #sumAt}: 32 bytes per step, one bounds check per
 * range), others through {@link ByteBuffer#getLong(int)}.
 *
 * <p>Internal to the engine: public for the offload codecs and the benchmarks, not a supported API.
 */
public final class InetChecksum {
    /**
     * Whether direct buffers are summed through raw native reads ({@link #sumAt}): Netty's {@code Unsafe} access is
     * there and the CPU reads unaligned longs (TCP payloads after 52 header bytes are not 8-aligned). Netty turns
     * {@code Unsafe} off by default from Java 25 on (and with {@code -Dio.netty.noUnsafe=true}): the sums are then
     * read through the buffer, correct but about 4 times slower.
     */
    private static final boolean RAW_READS = PlatformDependent.hasUnsafe() && PlatformDependent.isUnaligned();

    private InetChecksum() {
    }

    /**
     * Sums a byte range as 16-bit big-endian words (a trailing odd byte is padded with zero).
     *
     * @param buf the buffer (absolute indexes below its limit; position and byte order are ignored)
     * @param offset the first byte
     * @param length the number of bytes, may be 0
     * @return an unfolded partial sum, below 0x5_0000
     * @throws IndexOutOfBoundsException if the range is not within 0..limit
     */
    public static long sum(final ByteBuffer buf, final int offset, final int length) {
        if (RAW_READS && buf.isDirect()) {
            Objects.checkFromIndexSize(offset, length, buf.limit());
            try {
                return sumAt(PlatformDependent.directBufferAddress(buf) + offset, length);
            } finally {
                Reference.reachabilityFence(buf); // the memory is the buffer's: keep it until the reads are done
            }
        }
        return sumReads(buf, offset, length);
    }

    /** {@link #sum} through the buffer's own reads: heap buffers, or no raw access; package-private for tests. */
    static long sumReads(final ByteBuffer buf, final int offset, final int length) {
        long s = 0;
        int i = offset;
        final int end = offset + length;
        for (; i + 8 <= end; i += 8) {
            // two 32-bit words per read, summed without a carry branch: below 2^46 for any IPv4 packet, folded later
            // (2^32 ≡ 2^16 ≡ 1 mod 0xffff, so the 32-bit word sums fold to the RFC 1071 16-bit sum)
            final long v = buf.getLong(i);
            s += (v >>> 32) + (v & 0xffffffffL);
        }
        int folded = fold64(s);
        if (buf.order() == ByteOrder.LITTLE_ENDIAN) {
            folded = Integer.reverseBytes(folded) >>> 16;
        }
        long tail = folded;
        for (; i + 2 <= end; i += 2) {
            tail += ((buf.get(i) & 0xff) << 8) | (buf.get(i + 1) & 0xff);
        }
        if (i < end) {
            tail += (buf.get(i) & 0xff) << 8;
        }
        return tail;
    }

    /**
     * Sums {@code length} bytes at a native address as 16-bit big-endian words (a trailing odd byte padded with zero),
     * as {@link #sum(ByteBuffer, int, int)} does for a direct buffer: 32 bytes per step in native order, in four
     * independent sums so that the additions of one step do not wait for each other, then byte-swapped once on a
     * little-endian machine (the ones' complement sum is byte-order independent, RFC 1071 section 2.B). No bounds
     * check: the caller owns the range.
     *
     * @param address the first byte's native address
     * @param length the number of bytes, 0..2^31 - 1
     * @return an unfolded partial sum, below 0x5_0000 (a folded 16-bit sum and at most three words and a byte)
     */
    static long sumAt(final long address, final int length) {
        long a = 0;
        long b = 0;
        long c = 0;
        long d = 0;
        long p = address;
        final long end = address + length;
        for (; p + 32 <= end; p += 32) {
            // each step adds less than 2^33 per sum, so no carry is lost: an int length is at most 2^26 steps
            final long v0 = PlatformDependent.getLong(p);
            final long v1 = PlatformDependent.getLong(p + 8);
            final long v2 = PlatformDependent.getLong(p + 16);
            final long v3 = PlatformDependent.getLong(p + 24);
            a += (v0 >>> 32) + (v0 & 0xffffffffL);
            b += (v1 >>> 32) + (v1 & 0xffffffffL);
            c += (v2 >>> 32) + (v2 & 0xffffffffL);
            d += (v3 >>> 32) + (v3 & 0xffffffffL);
        }
        for (; p + 8 <= end; p += 8) {
            final long v = PlatformDependent.getLong(p);
            a += (v >>> 32) + (v & 0xffffffffL);
        }
        int folded = fold64(a + b + c + d);
        if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            folded = Integer.reverseBytes(folded) >>> 16;
        }
        long tail = folded;
        for (; p + 2 <= end; p += 2) {
            tail += ((PlatformDependent.getByte(p) & 0xff) << 8) | (PlatformDependent.getByte(p + 1) & 0xff);
        }
        if (p < end) {
            tail += (PlatformDependent.getByte(p) & 0xff) << 8;
        }
        return tail;
    }

    /**
     * Computes the Internet checksum (RFC 1071) of {@code length} bytes: the ones' complement of the ones' complement
     * sum of the 16-bit big-endian words, an odd last byte padded with zero.
     *
     * @param buf the data (absolute indexes; position, limit and byte order are ignored)
     * @param offset the first byte
     * @param length the number of bytes, 0 or more
     * @return the checksum, 0..0xffff
     */
    public static int checksum(final ByteBuffer buf, final int offset, final int length) {
        return finish(sum(buf, offset, length));
    }

    /**
     * Updates a checksum after one 16-bit word of the covered data changed from {@code oldWord} to {@code newWord},
     * using RFC 1624 equation 3, {@code HC' = ~(~HC + ~m + m')}, which (unlike RFC 1141's equation) never yields the
     * "negative zero" a full recomputation cannot produce.
     *
     * @param checksum the old checksum HC, 0..0xffff
     * @param oldWord the old value m of the changed word, 0..0xffff
     * @param newWord the new value m' of the changed word, 0..0xffff
     * @return the new checksum HC', 0..0xffff
     */
    public static int incrementalUpdate(final int checksum, final int oldWord, final int newWord) {
        // three 16-bit terms sum below 2^18: two end-around folds are enough (the general fold takes four)
        int sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
        sum = (sum & 0xffff) + (sum >>> 16);
        sum = (sum & 0xffff) + (sum >>> 16);
        return ~sum & 0xffff;
    }

    /**
     * Sums the IPv4 pseudo-header used by TCP and UDP checksums (RFC 793 / RFC 768).
     *
     * @param src the source address, first octet in the most significant byte
     * @param dst the destination address
     * @param protocol the IP protocol number (6 TCP, 17 UDP)
     * @param l4Length the transport header + payload length in bytes
     * @return an unfolded partial sum
     */
    public static long pseudoHeader(final int src, final int dst, final int protocol, final int l4Length) {
        return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + l4Length;
    }

    /**
     * Folds a partial sum to 16 bits with end-around carries.
     *
     * @param sum a non-negative partial sum
     * @return the 16-bit ones' complement sum, 0..0xffff
     */
    public static int fold(final long sum) {
        long s = (sum & 0xffffffffL) + (sum >>> 32);
        s = (s & 0xffff) + (s >>> 16);
        s = (s & 0xffff) + (s >>> 16);
        s = (s & 0xffff) + (s >>> 16);
        return (int) s;
    }

    private static int fold64(final long s) {
        // Treat as two 32-bit halves, then 16-bit; all with end-around carry.
        long t = (s & 0xffffffffL) + (s >>> 32);
        t = (t & 0xffffffffL) + (t >>> 32);
        return fold(t);
    }

    /**
     * Returns the checksum field value for a partial sum: the complement of its fold.
     *
     * @param sum the partial sum over everything covered (with the checksum field counted as zero)
     * @return the value to store, 0..0xffff
     */
    public static int finish(final long sum) {
        return ~fold(sum) & 0xffff;
    }

    /**
     * Computes the IPv4 header checksum of the header at {@code offset}, with its checksum field counted as zero,
     * without changing the buffer.
     *
     * @param buf the buffer
     * @param offset the first byte of the IPv4 header
     * @param headerLength the header length in bytes (IHL × 4)
     * @return the checksum field value
     */
    public static int ipv4Header(final ByteBuffer buf, final int offset, final int headerLength) {
        final long s = sum(buf, offset, headerLength) - u16(buf, offset + 10);
        return finish(s + 0xffff); // + 0xffff keeps the value positive; it is zero in ones' complement
    }

    /**
     * Reads a big-endian unsigned 16-bit value whatever the buffer's byte order.
     *
     * @param buf the buffer
     * @param index the absolute index
     * @return 0..0xffff
     */
    public static int u16(final ByteBuffer buf, final int index) {
        return ((buf.get(index) & 0xff) << 8) | (buf.get(index + 1) & 0xff);
    }

    /**
     * Writes a big-endian 16-bit value whatever the buffer's byte order.
     *
     * @param buf the buffer
     * @param index the absolute index
     * @param value the value, low 16 bits used
     */
    public static void putU16(final ByteBuffer buf, final int index, final int value) {
        buf.put(index, (byte) (value >>> 8));
        buf.put(index + 1, (byte) value);
    }

    /**
     * Reads a big-endian 32-bit value whatever the buffer's byte order.
     *
     * @param buf the buffer
     * @param index the absolute index
     * @return the value
     */
    public static int u32(final ByteBuffer buf, final int index) {
        final int v = buf.getInt(index);
        return buf.order() == ByteOrder.BIG_ENDIAN ? v : Integer.reverseBytes(v);
    }

    /**
     * Writes a big-endian 32-bit value whatever the buffer's byte order.
     *
     * @param buf the buffer
     * @param index the absolute index
     * @param value the value
     */
    public static void putU32(final ByteBuffer buf, final int index, final int value) {
        buf.putInt(index, buf.order() == ByteOrder.BIG_ENDIAN ? value : Integer.reverseBytes(value));
    }
}
