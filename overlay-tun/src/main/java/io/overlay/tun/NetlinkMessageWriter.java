package io.overlay.tun;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Writes one netlink message: a 16-byte {@code struct nlmsghdr} (length u32, type u16, flags u16, sequence u32, port
 * id u32, all in host byte order), a fixed family header, then {@code struct rtattr} attributes (length u16, type u16,
 * payload padded to 4 bytes), as defined in {@code linux/netlink.h} and {@code linux/rtnetlink.h}.
 */
final class NetlinkMessageWriter {
    /** Size of {@code struct nlmsghdr}, in bytes. */
    static final int HEADER_SIZE = 16;
    /** Size of {@code struct rtattr} (and {@code struct nlattr}) headers, in bytes. */
    static final int ATTR_HEADER_SIZE = 4;

    private final ByteBuffer buffer;

    /**
     * Starts a message.
     *
     * @param capacity the buffer size in bytes, at least the whole message
     * @param type the message type, e.g. {@code RTM_NEWADDR}
     * @param flags the {@code NLM_F_*} flags
     * @param sequence the sequence number echoed by the kernel's answer
     */
    NetlinkMessageWriter(final int capacity, final int type, final int flags, final int sequence) {
        buffer = ByteBuffer.allocateDirect(capacity).order(ByteOrder.nativeOrder());
        buffer.putInt(0); // length, patched by finish()
        buffer.putShort((short) type);
        buffer.putShort((short) flags);
        buffer.putInt(sequence);
        buffer.putInt(0); // port id 0: the kernel
    }

    /**
     * Appends one byte of the family header.
     *
     * @param value the byte
     * @return this writer
     */
    NetlinkMessageWriter u8(final int value) {
        buffer.put((byte) value);
        return this;
    }

    /**
     * Appends a 16-bit host-order value of the family header.
     *
     * @param value the value
     * @return this writer
     */
    NetlinkMessageWriter u16(final int value) {
        buffer.putShort((short) value);
        return this;
    }

    /**
     * Appends a 32-bit host-order value of the family header.
     *
     * @param value the value
     * @return this writer
     */
    NetlinkMessageWriter u32(final int value) {
        buffer.putInt(value);
        return this;
    }

    /**
     * Appends an attribute holding an IPv4 address in network byte order (4 bytes).
     *
     * @param type the attribute type
     * @param address the address, first octet in the most significant bits (see {@link io.overlay.core.net.Ipv4})
     * @return this writer
     */
    NetlinkMessageWriter attrIpv4(final int type, final int address) {
        attrHeader(type, 4);
        buffer.order(ByteOrder.BIG_ENDIAN).putInt(address).order(ByteOrder.nativeOrder());
        return this;
    }

    /**
     * Appends an attribute holding a host-order u32.
     *
     * @param type the attribute type
     * @param value the value
     * @return this writer
     */
    NetlinkMessageWriter attrU32(final int type, final int value) {
        attrHeader(type, 4);
        buffer.putInt(value);
        return this;
    }

    /**
     * Appends an attribute holding a NUL-terminated string, padded to 4 bytes.
     *
     * @param type the attribute type
     * @param bytes the string's bytes without NUL
     * @return this writer
     */
    NetlinkMessageWriter attrString(final int type, final byte[] bytes) {
        attrHeader(type, bytes.length + 1);
        buffer.put(bytes).put((byte) 0);
        pad();
        return this;
    }

    private void attrHeader(final int type, final int payloadLength) {
        pad();
        buffer.putShort((short) (ATTR_HEADER_SIZE + payloadLength));
        buffer.putShort((short) type);
    }

    private void pad() {
        while ((buffer.position() & 3) != 0) {
            buffer.put((byte) 0);
        }
    }

    /**
     * Ends the message: pads it to 4 bytes, writes the total length into the header and flips the buffer.
     *
     * @return the message, position 0, limit its length in bytes
     */
    ByteBuffer finish() {
        pad();
        buffer.putInt(0, buffer.position());
        buffer.flip();
        return buffer;
    }
}
