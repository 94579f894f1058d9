package io.overlay.udp.wire;

import io.overlay.core.spi.DropReason;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A flyweight over an IPv4 header (RFC 791) in a reused buffer: {@link #wrap} it at a packet's offset, read and patch
 * fields in place; nothing is allocated or copied.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |Type of Service|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |Flags|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * <p>The buffer is accessed big-endian at absolute indexes whatever its byte order (checked once per {@link #wrap});
 * its position and limit are ignored. {@link #validate} is the one IPv4 validation of the engine: the packet path, the
 * software segmentation and the TCP coalescing all use it. Not thread-safe: one instance per event loop.
 *
 * <p>Internal to the engine: public for the offload codecs and the benchmarks, not a supported API.
 */
public final class Ipv4Header {
    /** Length of a header without options, in bytes. */
    public static final int MIN_LENGTH = 20;
    /** Offset of the version (high nibble) and IHL (low nibble, 32-bit words) byte. */
    public static final int VERSION_IHL_OFFSET = 0;
    /** Offset of the type of service (DSCP and ECN) byte. */
    public static final int TOS_OFFSET = 1;
    /** Offset of the 16-bit total length (header and data, bytes). */
    public static final int TOTAL_LENGTH_OFFSET = 2;
    /** Offset of the 16-bit identification. */
    public static final int IDENTIFICATION_OFFSET = 4;
    /** Offset of the 16-bit flags (3 bits) and fragment offset (13 bits, 8-byte units). */
    public static final int FLAGS_FRAGMENT_OFFSET = 6;
    /** Offset of the TTL byte. */
    public static final int TTL_OFFSET = 8;
    /** Offset of the protocol byte. */
    public static final int PROTOCOL_OFFSET = 9;
    /** Offset of the 16-bit header checksum. */
    public static final int CHECKSUM_OFFSET = 10;
    /** Offset of the source address. */
    public static final int SOURCE_OFFSET = 12;
    /** Offset of the destination address. */
    public static final int DESTINATION_OFFSET = 16;
    /** IP protocol number of ICMP. */
    public static final int PROTOCOL_ICMP = 1;
    /** IP protocol number of TCP. */
    public static final int PROTOCOL_TCP = 6;
    /** IP protocol number of UDP. */
    public static final int PROTOCOL_UDP = 17;
    /** Largest IPv4 packet, in bytes (the 16-bit total length). */
    public static final int MAX_PACKET = 65535;
    /** Flags/fragment bit: don't fragment. */
    public static final int FLAG_DONT_FRAGMENT = 0x4000;
    /** Flags/fragment bit: more fragments. */
    public static final int FLAG_MORE_FRAGMENTS = 0x2000;
    /** Flags/fragment mask of the fragment offset (8-byte units). */
    public static final int FRAGMENT_OFFSET_MASK = 0x1fff;

    private ByteBuffer buffer;
    private int offset;
    private boolean bigEndian;

    /**
     * Points this flyweight at a header.
     *
     * @param buffer the buffer holding the packet (any byte order)
     * @param offset absolute index of the header's first byte
     * @return this for a fluent API
     */
    public Ipv4Header wrap(final ByteBuffer buffer, final int offset) {
        this.buffer = buffer;
        this.offset = offset;
        this.bigEndian = buffer.order() == ByteOrder.BIG_ENDIAN;
        return this;
    }

    /**
     * Returns the wrapped header's absolute index.
     *
     * @return the offset given to {@link #wrap}
     */
    public int offset() {
        return offset;
    }

    /**
     * Checks that the {@code length} bytes at the wrapped offset are one whole IPv4 packet no larger than {@code mtu}:
     * at least 20 bytes, version 4, IHL of 5..15 words within the bytes, total length equal to the bytes present.
     * Stricter than flannel, whose proxy checks only the 20-byte minimum ({@code tun_to_udp} in flannel v0.20.2
     * {@code backend/udp/proxy_amd64.c}). {@code length} is compared with {@code mtu} before any byte is read, so a
     * length beyond the bytes present (a datagram the kernel truncated) is safe and gives {@link DropReason#OVERSIZED}.
     *
     * @param length bytes present (read from the TUN or received as a datagram)
     * @param mtu the largest packet accepted, in bytes
     * @return {@code null} if the packet is well-formed, else the reason to drop it
     */
    public DropReason validate(final int length, final int mtu) {
        if (length > mtu) {
            return DropReason.OVERSIZED;
        }
        if (length < MIN_LENGTH) {
            return DropReason.TOO_SHORT;
        }
        if (version() != 4) {
            return DropReason.NOT_IPV4;
        }
        final int headerLength = headerLength();
        if (headerLength < MIN_LENGTH || headerLength > length) {
            return DropReason.BAD_HEADER_LENGTH;
        }
        if (totalLength() != length) {
            return DropReason.BAD_TOTAL_LENGTH;
        }
        return null;
    }

    /**
     * Returns the version field.
     *
     * @return 0..15, 4 for IPv4
     */
    public int version() {
        return (buffer.get(offset + VERSION_IHL_OFFSET) & 0xff) >>> 4;
    }

    /**
     * Returns the header length (IHL × 4).
     *
     * @return the header length in bytes, 0..60
     */
    public int headerLength() {
        return (buffer.get(offset + VERSION_IHL_OFFSET) & 0x0f) << 2;
    }

    /**
     * Returns the type of service byte (DSCP and ECN).
     *
     * @return 0..255
     */
    public int tos() {
        return buffer.get(offset + TOS_OFFSET) & 0xff;
    }

    /**
     * Returns the total length field.
     *
     * @return header plus data, in bytes, 0..65535
     */
    public int totalLength() {
        return u16(TOTAL_LENGTH_OFFSET);
    }

    /**
     * Returns the fragment offset field.
     *
     * @return the offset of this fragment's data in 8-byte units, 0 for an unfragmented packet or a first fragment
     */
    public int fragmentOffset() {
        return u16(FLAGS_FRAGMENT_OFFSET) & FRAGMENT_OFFSET_MASK;
    }

    /**
     * Returns the flags and fragment offset word.
     *
     * @return 0..0xffff: {@link #FLAG_DONT_FRAGMENT}, {@link #FLAG_MORE_FRAGMENTS}, {@link #FRAGMENT_OFFSET_MASK}
     */
    public int flagsAndFragment() {
        return u16(FLAGS_FRAGMENT_OFFSET);
    }

    /**
     * Returns the identification field.
     *
     * @return 0..0xffff
     */
    public int identification() {
        return u16(IDENTIFICATION_OFFSET);
    }

    /**
     * Sets the identification field.
     *
     * @param id the value, low 16 bits used
     * @return this for a fluent API
     */
    public Ipv4Header identification(final int id) {
        putU16(IDENTIFICATION_OFFSET, id);
        return this;
    }

    /**
     * Sets the total length field.
     *
     * @param length header plus data, in bytes
     * @return this for a fluent API
     */
    public Ipv4Header totalLength(final int length) {
        putU16(TOTAL_LENGTH_OFFSET, length);
        return this;
    }

    /**
     * Recomputes the header checksum over the whole header (options included).
     *
     * @return this for a fluent API
     */
    public Ipv4Header updateChecksum() {
        putU16(CHECKSUM_OFFSET, 0);
        putU16(CHECKSUM_OFFSET, InetChecksum.ipv4Header(buffer, offset, headerLength()));
        return this;
    }

    /**
     * Returns the TTL.
     *
     * @return 0..255
     */
    public int ttl() {
        return buffer.get(offset + TTL_OFFSET) & 0xff;
    }

    /**
     * Returns the protocol.
     *
     * @return the IP protocol number, 0..255 (1 ICMP, 6 TCP, 17 UDP)
     */
    public int protocol() {
        return buffer.get(offset + PROTOCOL_OFFSET) & 0xff;
    }

    /**
     * Returns the header checksum field.
     *
     * @return 0..0xffff
     */
    public int checksum() {
        return u16(CHECKSUM_OFFSET);
    }

    /**
     * Sets the header checksum field.
     *
     * @param checksum 0..0xffff
     * @return this for a fluent API
     */
    public Ipv4Header checksum(final int checksum) {
        putU16(CHECKSUM_OFFSET, checksum);
        return this;
    }

    /**
     * Returns the source address.
     *
     * @return the address, int form (first octet most significant)
     */
    public int source() {
        return u32(SOURCE_OFFSET);
    }

    /**
     * Returns the destination address.
     *
     * @return the address, int form (first octet most significant)
     */
    public int destination() {
        return u32(DESTINATION_OFFSET);
    }

    /**
     * Returns whether the header checksum verifies: the ones' complement sum of the header's 16-bit words, checksum
     * included, is 0xffff (RFC 791, RFC 1071 §1). The header length must be within the bytes present (as
     * {@link #validate} checks). Reads the header as 32-bit words: the ones' complement sum does not depend on the
     * byte order (RFC 1071 §2(B)), and 0xffff is its own byte swap.
     *
     * @return {@code true} if the checksum is right
     */
    public boolean checksumValid() {
        final int headerLength = headerLength();
        long sum = 0;
        int i = 0;
        for (; i + 8 <= headerLength; i += 8) {
            final long v = buffer.getLong(offset + i);
            sum += (v >>> 32) + (v & 0xffffffffL);
        }
        if (i < headerLength) { // the header is a whole number of 32-bit words: one may be left
            sum += buffer.getInt(offset + i) & 0xffffffffL;
        }
        return InetChecksum.fold(sum) == 0xffff;
    }

    /**
     * Decrements the TTL by one and patches the header checksum incrementally (RFC 1624), as flannel's proxy does
     * for every forwarded packet in both directions ({@code tun_to_udp} and {@code udp_to_tun} in
     * flannel v0.20.2 {@code backend/udp/proxy_amd64.c}). The caller must first check
     * {@link #ttl()} &gt; 1: a packet whose TTL would reach 0 is dropped instead.
     *
     * @return this for a fluent API
     */
    public Ipv4Header decrementTtl() {
        final int ttl = ttl();
        final int protocol = protocol();
        // TTL and protocol share one 16-bit word of the checksummed header.
        final int oldWord = (ttl << 8) | protocol;
        final int newWord = ((ttl - 1) << 8) | protocol;
        checksum(InetChecksum.incrementalUpdate(checksum(), oldWord, newWord));
        buffer.put(offset + TTL_OFFSET, (byte) (ttl - 1));
        return this;
    }

    private int u16(final int field) {
        final short v = buffer.getShort(offset + field);
        return (bigEndian ? v : Short.reverseBytes(v)) & 0xffff;
    }

    private void putU16(final int field, final int value) {
        buffer.putShort(offset + field, bigEndian ? (short) value : Short.reverseBytes((short) value));
    }

    private int u32(final int field) {
        final int v = buffer.getInt(offset + field);
        return bigEndian ? v : Integer.reverseBytes(v);
    }
}
