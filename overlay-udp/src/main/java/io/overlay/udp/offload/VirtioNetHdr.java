package io.overlay.udp.offload;

import java.nio.ByteBuffer;

/**
 * Flyweight over the 10-byte {@code struct virtio_net_hdr} that a TUN device opened with {@code IFF_VNET_HDR} puts in
 * front of every packet it hands out and expects in front of every packet written to it (Linux
 * {@code include/uapi/linux/virtio_net.h}):
 *
 * <pre>
 *   0      1         2         4          6            8             10
 *   +------+---------+---------+----------+------------+-------------+
 *   |flags |gso_type | hdr_len | gso_size | csum_start | csum_offset |
 *   +------+---------+---------+----------+------------+-------------+
 *    u8     u8        u16       u16        u16          u16
 * </pre>
 *
 * <p><b>Byte order.</b> The 16-bit fields are in the TUN's "virtio endianness": the host's native order unless the
 * device was switched with {@code TUNSETVNETLE}/{@code TUNSETVNETBE}. overlay supports little-endian hosts (x86-64,
 * aarch64), so this flyweight reads and writes them <b>little-endian</b>, independent of the buffer's
 * {@link ByteBuffer#order()}.
 *
 * <p><b>Meaning</b> (as the kernel fills and reads it, {@code virtio_net_hdr_from_skb}/{@code _to_skb}):
 * {@code flags} NEEDS_CSUM says the transport checksum is only partial: the field at
 * {@code csum_start + csum_offset} (bytes from the IPv4 header) holds the pseudo-header sum and the ones' complement
 * sum from {@code csum_start} to the end must be stored there; DATA_VALID says the checksum was verified.
 * {@code gso_type} != NONE marks a GSO super-packet to be cut into {@code gso_size}-byte payloads; {@code hdr_len} is
 * only a hint (the kernel writes its linear header length there, which may be the whole packet).
 *
 * <p>Use: {@link #wrap(ByteBuffer, int)} once per frame, read or write the fields, then {@link #check(int)} a received
 * header before trusting it. Not thread-safe; one instance per packet loop. No allocation.
 */
public final class VirtioNetHdr {
    /** Size of {@code struct virtio_net_hdr} in bytes (the TUN default, {@code TUNSETVNETHDRSZ} 10). */
    public static final int LENGTH = 10;

    /** {@code flags} bit: the transport checksum is partial and must be completed (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
    public static final int FLAG_NEEDS_CSUM = 1;
    /** {@code flags} bit: the checksum is known good (VIRTIO_NET_HDR_F_DATA_VALID). */
    public static final int FLAG_DATA_VALID = 2;

    /** {@code gso_type}: not a GSO packet. */
    public static final int GSO_NONE = 0;
    /** {@code gso_type}: IPv4 TCP segmentation offload (TSO). */
    public static final int GSO_TCPV4 = 1;
    /** {@code gso_type}: UDP fragmentation offload (UFO, IP fragments); known but not supported here. */
    public static final int GSO_UDP = 3;
    /** {@code gso_type}: IPv6 TCP; known but not supported here (overlay carries IPv4 only). */
    public static final int GSO_TCPV6 = 4;
    /** {@code gso_type}: UDP segmentation offload (USO): every segment is a full UDP datagram. */
    public static final int GSO_UDP_L4 = 5;
    /** {@code gso_type} bit: AccECN segmentation, CWR is kept on every segment (Linux 6.18+). */
    public static final int GSO_ACCECN = 0x10;
    /** {@code gso_type} bit: the TCP super-packet had CWR set (classic ECN); CWR stays on the first segment only. */
    public static final int GSO_ECN = 0x80;

    private static final int FLAGS = 0;
    private static final int GSO_TYPE = 1;
    private static final int HDR_LEN = 2;
    private static final int GSO_SIZE = 4;
    private static final int CSUM_START = 6;
    private static final int CSUM_OFFSET = 8;

    private ByteBuffer buffer;
    private int offset;

    /**
     * Points this flyweight at a header.
     *
     * @param buffer the buffer holding the header (absolute indexes; position and limit are not used or changed)
     * @param offset index of the header's first byte; the 10 bytes from there must exist
     * @return this
     */
    public VirtioNetHdr wrap(final ByteBuffer buffer, final int offset) {
        this.buffer = buffer;
        this.offset = offset;
        return this;
    }

    /**
     * Returns the wrapped buffer.
     *
     * @return the buffer, or {@code null} before the first {@link #wrap}
     */
    public ByteBuffer buffer() {
        return buffer;
    }

    /**
     * Returns the index of the header's first byte in {@link #buffer()}.
     *
     * @return the offset
     */
    public int offset() {
        return offset;
    }

    /**
     * Zeroes all 10 bytes: flags 0, GSO_NONE, all lengths 0 (the header for a plain, fully checksummed packet).
     *
     * @return this
     */
    public VirtioNetHdr clear() {
        for (int i = 0; i < LENGTH; i++) {
            buffer.put(offset + i, (byte) 0);
        }
        return this;
    }

    /**
     * Returns {@code flags}.
     *
     * @return 0..255, a combination of {@link #FLAG_NEEDS_CSUM} and {@link #FLAG_DATA_VALID} when valid
     */
    public int flags() {
        return buffer.get(offset + FLAGS) & 0xff;
    }

    /**
     * Sets {@code flags}.
     *
     * @param flags 0..255
     * @return this
     */
    public VirtioNetHdr flags(final int flags) {
        buffer.put(offset + FLAGS, (byte) flags);
        return this;
    }

    /**
     * Returns {@code gso_type} including the ECN bits.
     *
     * @return 0..255
     */
    public int gsoType() {
        return buffer.get(offset + GSO_TYPE) & 0xff;
    }

    /**
     * Sets {@code gso_type}.
     *
     * @param gsoType 0..255, e.g. {@link #GSO_TCPV4}
     * @return this
     */
    public VirtioNetHdr gsoType(final int gsoType) {
        buffer.put(offset + GSO_TYPE, (byte) gsoType);
        return this;
    }

    /**
     * Returns {@code gso_type} without the {@link #GSO_ECN} and {@link #GSO_ACCECN} bits.
     *
     * @return the base GSO type
     */
    public int gsoBaseType() {
        return gsoType() & ~(GSO_ECN | GSO_ACCECN);
    }

    /**
     * Returns {@code hdr_len}: bytes of headers (IPv4 + transport) at the front of the packet; a hint only.
     *
     * @return 0..65535 bytes
     */
    public int hdrLen() {
        return le16(HDR_LEN);
    }

    /**
     * Sets {@code hdr_len}.
     *
     * @param hdrLen 0..65535 bytes
     * @return this
     */
    public VirtioNetHdr hdrLen(final int hdrLen) {
        putLe16(HDR_LEN, hdrLen);
        return this;
    }

    /**
     * Returns {@code gso_size}: the payload bytes per segment (the TCP MSS or UDP segment payload).
     *
     * @return 0..65535 bytes
     */
    public int gsoSize() {
        return le16(GSO_SIZE);
    }

    /**
     * Sets {@code gso_size}.
     *
     * @param gsoSize 0..65535 bytes
     * @return this
     */
    public VirtioNetHdr gsoSize(final int gsoSize) {
        putLe16(GSO_SIZE, gsoSize);
        return this;
    }

    /**
     * Returns {@code csum_start}: where checksumming starts, in bytes from the start of the IPv4 header.
     *
     * @return 0..65535 bytes
     */
    public int csumStart() {
        return le16(CSUM_START);
    }

    /**
     * Sets {@code csum_start}.
     *
     * @param csumStart 0..65535 bytes
     * @return this
     */
    public VirtioNetHdr csumStart(final int csumStart) {
        putLe16(CSUM_START, csumStart);
        return this;
    }

    /**
     * Returns {@code csum_offset}: where the checksum goes, in bytes after {@code csum_start} (16 for TCP, 6 for UDP).
     *
     * @return 0..65535 bytes
     */
    public int csumOffset() {
        return le16(CSUM_OFFSET);
    }

    /**
     * Sets {@code csum_offset}.
     *
     * @param csumOffset 0..65535 bytes
     * @return this
     */
    public VirtioNetHdr csumOffset(final int csumOffset) {
        putLe16(CSUM_OFFSET, csumOffset);
        return this;
    }

    /**
     * Returns whether {@code gso_type} asks for segmentation.
     *
     * @return {@code true} unless {@code gso_type} is {@link #GSO_NONE}
     */
    public boolean isGso() {
        return gsoType() != GSO_NONE;
    }

    /**
     * Returns whether {@link #FLAG_NEEDS_CSUM} is set.
     *
     * @return {@code true} if the transport checksum is partial
     */
    public boolean needsChecksum() {
        return (flags() & FLAG_NEEDS_CSUM) != 0;
    }

    /**
     * Checks the header against the packet that follows it, with the rules the kernel applies when a frame is written
     * to a TUN ({@code tun_get_user}, {@code virtio_net_hdr_to_skb}) plus the limits of IPv4. Checks only the header's
     * own consistency; the packet's IPv4/TCP/UDP headers are checked by {@link GsoSegmenter}.
     *
     * <ul>
     *   <li>{@code flags}: only NEEDS_CSUM and DATA_VALID ({@link OffloadVerdict#UNKNOWN_FLAGS});</li>
     *   <li>{@code gso_type}: NONE, TCPV4, UDP, TCPV6 or UDP_L4; ECN/ACCECN bits only with TCPV4/TCPV6
     *       ({@link OffloadVerdict#UNKNOWN_GSO_TYPE});</li>
     *   <li>GSO: {@code gso_size} not 0 ({@link OffloadVerdict#ZERO_GSO_SIZE}); UDP_L4 needs NEEDS_CSUM with
     *       {@code csum_offset} 6, TCP with NEEDS_CSUM needs {@code csum_offset} 16
     *       ({@link OffloadVerdict#BAD_CSUM_OFFSETS});</li>
     *   <li>NEEDS_CSUM: {@code csum_start} ≥ 20 (after a minimal IPv4 header) and
     *       {@code csum_start + csum_offset + 2} ≤ packet length ({@link OffloadVerdict#BAD_CSUM_OFFSETS});</li>
     *   <li>{@code hdr_len} ≤ packet length ({@link OffloadVerdict#BAD_HDR_LEN});</li>
     *   <li>packet length ≤ 65535 ({@link OffloadVerdict#PACKET_TOO_LARGE}).</li>
     * </ul>
     *
     * @param packetLength bytes of packet after the header (the frame length minus {@link #LENGTH})
     * @return {@link OffloadVerdict#OK} or the first rule broken
     */
    public OffloadVerdict check(final int packetLength) {
        final int flags = flags();
        if ((flags & ~(FLAG_NEEDS_CSUM | FLAG_DATA_VALID)) != 0) {
            return OffloadVerdict.UNKNOWN_FLAGS;
        }
        final int type = gsoType();
        final int base = type & ~(GSO_ECN | GSO_ACCECN);
        final boolean ecnBits = base != type;
        final boolean tcp = base == GSO_TCPV4 || base == GSO_TCPV6;
        if (base != GSO_NONE && !tcp && base != GSO_UDP && base != GSO_UDP_L4) {
            return OffloadVerdict.UNKNOWN_GSO_TYPE;
        }
        if (ecnBits && !tcp) {
            return OffloadVerdict.UNKNOWN_GSO_TYPE;
        }
        if (packetLength > 65535) {
            return OffloadVerdict.PACKET_TOO_LARGE;
        }
        final boolean needsCsum = (flags & FLAG_NEEDS_CSUM) != 0;
        if (needsCsum) {
            final int start = csumStart();
            final int off = csumOffset();
            if (start < 20 || start + off + 2 > packetLength) {
                return OffloadVerdict.BAD_CSUM_OFFSETS;
            }
        }
        if (base != GSO_NONE) {
            if (gsoSize() == 0) {
                return OffloadVerdict.ZERO_GSO_SIZE;
            }
            if (base == GSO_UDP_L4 && (!needsCsum || csumOffset() != 6)) {
                return OffloadVerdict.BAD_CSUM_OFFSETS;
            }
            if (tcp && needsCsum && csumOffset() != 16) {
                return OffloadVerdict.BAD_CSUM_OFFSETS;
            }
        }
        if (hdrLen() > packetLength) {
            return OffloadVerdict.BAD_HDR_LEN;
        }
        return OffloadVerdict.OK;
    }

    private int le16(final int field) {
        return (buffer.get(offset + field) & 0xff) | ((buffer.get(offset + field + 1) & 0xff) << 8);
    }

    private void putLe16(final int field, final int value) {
        buffer.put(offset + field, (byte) value);
        buffer.put(offset + field + 1, (byte) (value >>> 8));
    }

    @Override
    public String toString() {
        return "virtio_net_hdr{flags=" + flags() + ", gso_type=0x" + Integer.toHexString(gsoType()) + ", hdr_len="
            + hdrLen() + ", gso_size=" + gsoSize() + ", csum_start=" + csumStart() + ", csum_offset=" + csumOffset()
            + "}";
    }
}
