package io.overlay.benchmarks;

import java.nio.ByteBuffer;

/**
 * Builds real IPv4 packets for the benchmarks' pre-filled batches: IPv4 without options (IHL 5, DF, TTL 64) carrying
 * TCP (20-byte header, ACK) or UDP, with a patterned payload and correct IPv4 header and transport checksums
 * (RFC 791, RFC 793, RFC 768). Used in {@code @Setup} only, so it may allocate. Buffers are written at absolute
 * indexes in big-endian order; position and limit are not used.
 */
final class BenchPackets {
    /** IPv4 header length without options, bytes. */
    static final int IPV4_HEADER = 20;
    /** TCP header length without options, bytes. */
    static final int TCP_HEADER = 20;
    /** UDP header length, bytes. */
    static final int UDP_HEADER = 8;
    /** IP protocol number of TCP. */
    static final int PROTO_TCP = 6;
    /** IP protocol number of UDP. */
    static final int PROTO_UDP = 17;
    /** TCP flag ACK. */
    static final int TCP_ACK = 0x10;

    private BenchPackets() {
    }

    /**
     * Writes one IPv4/TCP packet.
     *
     * @param buf target buffer (big-endian)
     * @param off absolute index of the IPv4 header
     * @param src source address, int form
     * @param dst destination address, int form
     * @param ports source port in the high 16 bits, destination port in the low 16 bits
     * @param id IPv4 identification
     * @param seq TCP sequence number
     * @param payload payload bytes
     * @return the packet length in bytes ({@code 40 + payload})
     */
    static int tcp(final ByteBuffer buf, final int off, final int src, final int dst, final int ports, final int id,
                   final int seq, final int payload) {
        final int len = IPV4_HEADER + TCP_HEADER + payload;
        ipv4(buf, off, len, id, PROTO_TCP, src, dst);
        final int t = off + IPV4_HEADER;
        buf.putInt(t, ports);
        buf.putInt(t + 4, seq);
        buf.putInt(t + 8, 0x1000_0001); // ack
        buf.put(t + 12, (byte) 0x50); // data offset 5 words
        buf.put(t + 13, (byte) TCP_ACK);
        buf.putShort(t + 14, (short) 0xfaf0); // window
        buf.putShort(t + 16, (short) 0);
        buf.putShort(t + 18, (short) 0);
        fillPayload(buf, t + TCP_HEADER, payload, seq);
        buf.putShort(t + 16, (short) transportChecksum(buf, off, len, PROTO_TCP));
        return len;
    }

    /**
     * Writes one IPv4/UDP packet.
     *
     * @param buf target buffer (big-endian)
     * @param off absolute index of the IPv4 header
     * @param src source address, int form
     * @param dst destination address, int form
     * @param id IPv4 identification
     * @param payload UDP payload bytes
     * @return the packet length in bytes ({@code 28 + payload})
     */
    static int udp(final ByteBuffer buf, final int off, final int src, final int dst, final int id,
                   final int payload) {
        final int len = IPV4_HEADER + UDP_HEADER + payload;
        ipv4(buf, off, len, id, PROTO_UDP, src, dst);
        final int u = off + IPV4_HEADER;
        buf.putShort(u, (short) 40000);
        buf.putShort(u + 2, (short) 5201);
        buf.putShort(u + 4, (short) (UDP_HEADER + payload));
        buf.putShort(u + 6, (short) 0);
        fillPayload(buf, u + UDP_HEADER, payload, id);
        final int c = transportChecksum(buf, off, len, PROTO_UDP);
        buf.putShort(u + 6, (short) (c == 0 ? 0xffff : c));
        return len;
    }

    /**
     * Returns the RFC 793 pseudo-header sum (folded, not complemented) of a packet: what a TUN with
     * {@code IFF_VNET_HDR} leaves in the transport checksum field of a NEEDS_CSUM packet.
     *
     * @param buf the buffer
     * @param off absolute index of the IPv4 header
     * @param len the packet length in bytes
     * @param proto the IP protocol number
     * @return the 16-bit folded sum
     */
    static int pseudoHeaderSum(final ByteBuffer buf, final int off, final int len, final int proto) {
        long sum = 0;
        sum += buf.getShort(off + 12) & 0xffff;
        sum += buf.getShort(off + 14) & 0xffff;
        sum += buf.getShort(off + 16) & 0xffff;
        sum += buf.getShort(off + 18) & 0xffff;
        sum += proto;
        sum += len - IPV4_HEADER;
        return fold(sum);
    }

    private static void ipv4(final ByteBuffer buf, final int off, final int len, final int id, final int proto,
                             final int src, final int dst) {
        buf.put(off, (byte) 0x45);
        buf.put(off + 1, (byte) 0);
        buf.putShort(off + 2, (short) len);
        buf.putShort(off + 4, (short) id);
        buf.putShort(off + 6, (short) 0x4000); // DF
        buf.put(off + 8, (byte) 64);
        buf.put(off + 9, (byte) proto);
        buf.putShort(off + 10, (short) 0);
        buf.putInt(off + 12, src);
        buf.putInt(off + 16, dst);
        buf.putShort(off + 10, (short) (~fold(sum(buf, off, IPV4_HEADER, 0)) & 0xffff));
    }

    private static int transportChecksum(final ByteBuffer buf, final int off, final int len, final int proto) {
        final long sum = sum(buf, off + IPV4_HEADER, len - IPV4_HEADER, pseudoHeaderSum(buf, off, len, proto));
        return ~fold(sum) & 0xffff;
    }

    private static void fillPayload(final ByteBuffer buf, final int from, final int n, final int seed) {
        for (int i = 0; i < n; i++) {
            buf.put(from + i, (byte) (seed * 31 + i * 7));
        }
    }

    private static long sum(final ByteBuffer buf, final int from, final int n, final long seed) {
        long sum = seed;
        int i = 0;
        for (; i + 1 < n; i += 2) {
            sum += buf.getShort(from + i) & 0xffff;
        }
        if (i < n) {
            sum += (buf.get(from + i) & 0xff) << 8;
        }
        return sum;
    }

    private static int fold(final long s) {
        long sum = s;
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) sum;
    }
}
