package io.overlay.udp;

import java.nio.ByteBuffer;

/**
 * The Internet checksum: full computation (RFC 1071) and incremental update (RFC 1624, equation 3).
 *
 * <p>All values are 16-bit quantities held in the low bits of an {@code int}; buffers are read big-endian at absolute
 * offsets, so their position, limit and byte order are not used or changed.
 */
public final class Checksums {
    private Checksums() {
    }

    /**
     * Computes the Internet checksum (RFC 1071) of {@code length} bytes: the one's complement of the one's complement
     * sum of the 16-bit big-endian words, an odd last byte padded with zero.
     *
     * @param buffer the data
     * @param offset absolute index of the first byte
     * @param length number of bytes, 0 or more
     * @return the checksum, 0..0xffff
     */
    public static int internetChecksum(final ByteBuffer buffer, final int offset, final int length) {
        long sum = 0;
        int i = 0;
        for (; i + 1 < length; i += 2) {
            sum += ((buffer.get(offset + i) & 0xff) << 8) | (buffer.get(offset + i + 1) & 0xff);
        }
        if (i < length) {
            sum += (buffer.get(offset + i) & 0xff) << 8;
        }
        return ~fold(sum) & 0xffff;
    }

    /**
     * Computes an IPv4 header checksum as if the checksum field (bytes 10..11) were zero, without changing the buffer.
     *
     * @param buffer the packet
     * @param offset absolute index of the header's first byte
     * @param headerLength the header length in bytes (IHL × 4), at least 20
     * @return the checksum to store in bytes 10..11, 0..0xffff
     */
    public static int ipv4HeaderChecksum(final ByteBuffer buffer, final int offset, final int headerLength) {
        long sum = 0;
        for (int i = 0; i < headerLength; i += 2) {
            if (i != Ipv4Header.CHECKSUM_OFFSET) {
                sum += buffer.getShort(offset + i) & 0xffff;
            }
        }
        return ~fold(sum) & 0xffff;
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
        final long sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
        return ~fold(sum) & 0xffff;
    }

    private static int fold(final long value) {
        long sum = value;
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) sum;
    }
}
