package io.overlay.udp.wire;

import java.nio.ByteBuffer;

/**
 * A flyweight over a TCP header (RFC 793, RFC 9293 §3.1) in a reused buffer: {@link #wrap} it at the header's
 * absolute index (after the IPv4 header), read and patch fields in place; nothing is allocated or copied.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |       |C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * </pre>
 *
 * <p>Fields are read and written big-endian at absolute indexes whatever the buffer's byte order; its position and
 * limit are ignored. Not thread-safe: one instance per event loop.
 *
 * <p>Internal to the engine: public for the offload codecs and the benchmarks, not a supported API.
 */
public final class TcpHeader {
    /** Length of a header without options, in bytes. */
    public static final int MIN_LENGTH = 20;
    /** Offset of the 16-bit source port (the destination port follows). */
    public static final int PORTS_OFFSET = 0;
    /** Offset of the 32-bit sequence number. */
    public static final int SEQUENCE_OFFSET = 4;
    /** Offset of the 32-bit acknowledgment number. */
    public static final int ACKNOWLEDGMENT_OFFSET = 8;
    /** Offset of the data offset byte (high nibble, 32-bit words). */
    public static final int DATA_OFFSET_OFFSET = 12;
    /** Offset of the flags byte. */
    public static final int FLAGS_OFFSET = 13;
    /** Offset of the 16-bit window. */
    public static final int WINDOW_OFFSET = 14;
    /** Offset of the 16-bit checksum. */
    public static final int CHECKSUM_OFFSET = 16;
    /** Offset of the 16-bit urgent pointer. */
    public static final int URGENT_POINTER_OFFSET = 18;
    /** Offset of the options, if the data offset is above 5 words. */
    public static final int OPTIONS_OFFSET = 20;

    /** Flag FIN: no more data from the sender. */
    public static final int FIN = 0x01;
    /** Flag SYN: synchronize sequence numbers. */
    public static final int SYN = 0x02;
    /** Flag RST: reset the connection. */
    public static final int RST = 0x04;
    /** Flag PSH: push. */
    public static final int PSH = 0x08;
    /** Flag ACK: the acknowledgment number is significant. */
    public static final int ACK = 0x10;
    /** Flag URG: the urgent pointer is significant. */
    public static final int URG = 0x20;
    /** Flag ECE: ECN echo (RFC 3168). */
    public static final int ECE = 0x40;
    /** Flag CWR: congestion window reduced (RFC 3168). */
    public static final int CWR = 0x80;

    private ByteBuffer buffer;
    private int offset;

    /**
     * Points this flyweight at a header.
     *
     * @param buffer the buffer holding the segment (any byte order)
     * @param offset absolute index of the TCP header's first byte
     * @return this for a fluent API
     */
    public TcpHeader wrap(final ByteBuffer buffer, final int offset) {
        this.buffer = buffer;
        this.offset = offset;
        return this;
    }

    /**
     * Returns both ports as one value, source port in the high 16 bits: a flow key without two reads.
     *
     * @return the ports
     */
    public int ports() {
        return InetChecksum.u32(buffer, offset + PORTS_OFFSET);
    }

    /**
     * Returns the sequence number.
     *
     * @return the 32-bit value
     */
    public int sequence() {
        return InetChecksum.u32(buffer, offset + SEQUENCE_OFFSET);
    }

    /**
     * Sets the sequence number.
     *
     * @param sequence the 32-bit value
     * @return this for a fluent API
     */
    public TcpHeader sequence(final int sequence) {
        InetChecksum.putU32(buffer, offset + SEQUENCE_OFFSET, sequence);
        return this;
    }

    /**
     * Returns the header length (data offset × 4).
     *
     * @return the header length in bytes, 0..60
     */
    public int headerLength() {
        return ((buffer.get(offset + DATA_OFFSET_OFFSET) & 0xf0) >>> 4) * 4;
    }

    /**
     * Returns the flags byte.
     *
     * @return the flags, {@link #FIN} .. {@link #CWR}
     */
    public int flags() {
        return buffer.get(offset + FLAGS_OFFSET) & 0xff;
    }

    /**
     * Sets the flags byte.
     *
     * @param flags the flags, low 8 bits used
     * @return this for a fluent API
     */
    public TcpHeader flags(final int flags) {
        buffer.put(offset + FLAGS_OFFSET, (byte) flags);
        return this;
    }

    /**
     * Returns the checksum field.
     *
     * @return 0..0xffff
     */
    public int checksum() {
        return InetChecksum.u16(buffer, offset + CHECKSUM_OFFSET);
    }

    /**
     * Sets the checksum field.
     *
     * @param checksum 0..0xffff
     * @return this for a fluent API
     */
    public TcpHeader checksum(final int checksum) {
        InetChecksum.putU16(buffer, offset + CHECKSUM_OFFSET, checksum);
        return this;
    }

    /**
     * Tells whether the fields a coalesced run must share are equal in both headers: acknowledgment number, data
     * offset, flags other than PSH and FIN, window, urgent pointer and the option bytes (the sequence number, ports and
     * checksum are compared elsewhere or differ by design). Both headers must have {@link #headerLength()} bytes.
     *
     * @param other the header of the segment to append
     * @return {@code true} if they match
     */
    public boolean sameRunFields(final TcpHeader other) {
        if (get(DATA_OFFSET_OFFSET) != other.get(DATA_OFFSET_OFFSET)
            || ((get(FLAGS_OFFSET) ^ other.get(FLAGS_OFFSET)) & ~(PSH | FIN) & 0xff) != 0) {
            return false;
        }
        for (int i = ACKNOWLEDGMENT_OFFSET; i < DATA_OFFSET_OFFSET; i++) {
            if (get(i) != other.get(i)) {
                return false;
            }
        }
        for (int i = WINDOW_OFFSET; i < CHECKSUM_OFFSET; i++) {
            if (get(i) != other.get(i)) {
                return false;
            }
        }
        final int length = headerLength();
        for (int i = URGENT_POINTER_OFFSET; i < length; i++) {
            if (get(i) != other.get(i)) {
                return false;
            }
        }
        return true;
    }

    private byte get(final int field) {
        return buffer.get(offset + field);
    }
}
