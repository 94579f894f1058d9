package io.overlay.tun;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Reads netlink attributes ({@code struct rtattr}/{@code struct nlattr}: length u16, type u16, payload padded to 4
 * bytes) from a native-order buffer; all offsets are absolute positions in the buffer.
 */
final class NetlinkAttributes {
    private NetlinkAttributes() {
    }

    /**
     * Finds the first attribute of a type between two offsets (the {@code NLA_F_NESTED} and
     * {@code NLA_F_NET_BYTEORDER} bits of the type are ignored).
     *
     * @param b the buffer
     * @param start the first attribute's offset
     * @param end the end of the attribute area
     * @param type the type sought
     * @return the attribute header's offset, or -1
     */
    static int find(final ByteBuffer b, final int start, final int end, final int type) {
        int at = start;
        while (at + NetlinkMessageWriter.ATTR_HEADER_SIZE <= end) {
            final int len = length(b, at);
            if (len < NetlinkMessageWriter.ATTR_HEADER_SIZE || at + len > end) {
                return -1;
            }
            if ((b.getShort(at + 2) & 0x3fff) == type) {
                return at;
            }
            at += (len + 3) & ~3;
        }
        return -1;
    }

    /** Returns the attribute's length field (header included, padding excluded), in bytes. */
    static int length(final ByteBuffer b, final int at) {
        return b.getShort(at) & 0xffff;
    }

    /** Returns the attribute's u8 payload, or 0 when {@code at} is -1 (attribute absent). */
    static int u8(final ByteBuffer b, final int at) {
        return at < 0 ? 0 : b.get(at + NetlinkMessageWriter.ATTR_HEADER_SIZE) & 0xff;
    }

    /** Returns the attribute's 4-byte network-order IPv4 payload as an int (see {@link io.overlay.core.net.Ipv4}). */
    static int ipv4(final ByteBuffer b, final int at) {
        return b.duplicate().order(ByteOrder.BIG_ENDIAN).getInt(at + NetlinkMessageWriter.ATTR_HEADER_SIZE);
    }

    /** Returns the attribute's string payload without trailing NULs. */
    static String string(final ByteBuffer b, final int at) {
        int n = length(b, at) - NetlinkMessageWriter.ATTR_HEADER_SIZE;
        final int from = at + NetlinkMessageWriter.ATTR_HEADER_SIZE;
        while (n > 0 && b.get(from + n - 1) == 0) {
            n--;
        }
        final byte[] bytes = new byte[n];
        b.get(from, bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
