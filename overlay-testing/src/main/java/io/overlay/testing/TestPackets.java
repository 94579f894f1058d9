// Longer than ~400 lines because it is the one packet builder for every test and benchmark (IPv4, UDP, TCP, ICMP,
// virtio_net_hdr frames, flannel datagrams), so that no test writes its own.
package io.overlay.testing;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/**
 * The packet builder of the tests and benchmarks: IPv4 (RFC 791) packets carrying TCP (RFC 793), UDP (RFC 768) or
 * ICMP (RFC 792), built as byte arrays or written into buffers, with checksum verification and hex dumps. Its own
 * Internet checksum ({@link #onesSum}, the plain 16-bit loop of RFC 1071) is independent of the production code, so
 * a test never checks that code against itself. Test and set-up code: it allocates freely.
 *
 * <p>Conventions: addresses are {@code int}s, first octet most significant (as {@code Ipv4.parse} returns them);
 * arrays hold one packet from index 0; buffer methods use absolute indexes, read bytes one by one (any byte order)
 * and leave position and limit alone unless they say otherwise.
 *
 * <p>Longer than this project's usual file on purpose: it is the one packet vocabulary of every test and benchmark
 * (builders, checksums, field access, hex), so a reader finds each helper in one place; most of it is Javadoc.
 */
public final class TestPackets {
    /** IPv4 header length without options, bytes. */
    public static final int IPV4_HEADER = 20;
    /** TCP header length without options, bytes. */
    public static final int TCP_HEADER = 20;
    /** UDP header length, bytes. */
    public static final int UDP_HEADER = 8;
    /** IP protocol number of ICMP. */
    public static final int PROTO_ICMP = 1;
    /** IP protocol number of TCP. */
    public static final int PROTO_TCP = 6;
    /** IP protocol number of UDP. */
    public static final int PROTO_UDP = 17;

    /** TCP flag FIN. */
    public static final int FIN = 0x01;
    /** TCP flag SYN. */
    public static final int SYN = 0x02;
    /** TCP flag RST. */
    public static final int RST = 0x04;
    /** TCP flag PSH. */
    public static final int PSH = 0x08;
    /** TCP flag ACK. */
    public static final int ACK = 0x10;
    /** TCP flag URG. */
    public static final int URG = 0x20;
    /** TCP flag ECE. */
    public static final int ECE = 0x40;
    /** TCP flag CWR. */
    public static final int CWR = 0x80;

    /** Default source address of {@link Tcp} and {@link #udp(int, int, long)}: 100.64.1.2. */
    public static final int SRC = 0x64400102;
    /** Default destination address of {@link Tcp} and {@link #udp(int, int, long)}: 100.64.2.3. */
    public static final int DST = 0x64400203;

    /**
     * The IPv4 identification of {@link #icmpEcho} packets: not 0, because a raw socket with {@code IP_HDRINCL}
     * replaces an identification of 0 with one of the kernel's ({@code raw_send_hdrinc}, net/ipv4/raw.c), and a test
     * that sends them that way compares what arrives with what it built.
     */
    public static final int ECHO_ID = 0x4242;

    /**
     * An 84-byte ICMP echo request 100.64.1.1 → 100.64.9.9, TTL 64, DF, id 0x1234, both checksums valid (computed
     * independently with a Python RFC 1071 implementation).
     */
    public static final String ECHO_REQUEST = "4500005412344000400155eb644001016440090908003f2300070001"
        + "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        + "4041424344454647";
    /** {@link #ECHO_REQUEST} after one forwarding hop: TTL 63, header checksum 0x56eb. */
    public static final String ECHO_REQUEST_FORWARDED = "45000054123440003f0156eb644001016440090908003f2300070001"
        + "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        + "4041424344454647";
    /**
     * The net unreachable for {@link #ECHO_REQUEST}: 100.64.9.9 → 100.64.1.1, TTL 8, 112 bytes quoting the whole
     * 84-byte request (RFC 1812 §4.3.2.3: as much as fits in 576 bytes).
     */
    public static final String NET_UNREACHABLE = "45000070000000000801e00364400909644001010300fcff00000000"
        + ECHO_REQUEST;

    private TestPackets() {
    }

    // ---- builders ------------------------------------------------------------------------------------------------

    /** Builder for IPv4/TCP packets; every field has a working default (an established flow's ACK). */
    public static final class Tcp {
        /** Source address. */
        public int src = SRC;
        /** Destination address. */
        public int dst = DST;
        /** Source port. */
        public int sport = 40000;
        /** Destination port. */
        public int dport = 5001;
        /** IPv4 identification. */
        public int id = 0x1234;
        /** Don't Fragment. */
        public boolean df = true;
        /** The IPv4 TOS byte (DSCP and ECN). */
        public int tos = 0;
        /** Time to live. */
        public int ttl = 64;
        /** Sequence number. */
        public int seq = 0x10000000;
        /** Acknowledgment number. */
        public int ack = 0x20000000;
        /** The TCP flags byte, e.g. {@code PSH | ACK}. */
        public int flags = ACK;
        /** Window. */
        public int window = 502;
        /** Urgent pointer. */
        public int urg = 0;
        /** IPv4 options, a multiple of 4 bytes. */
        public byte[] ipOptions = new byte[0];
        /** TCP options, a multiple of 4 bytes. */
        public byte[] tcpOptions = timestamps(1000, 2000);
        /** Payload. */
        public byte[] payload = new byte[0];

        /** Sets a random payload of {@code n} bytes from {@link Random} seed {@code seed}; returns this. */
        public Tcp payload(final int n, final long seed) {
            payload = new byte[n];
            new Random(seed).nextBytes(payload);
            return this;
        }

        /** Builds the packet with both checksums complete. */
        public byte[] build() {
            final int ihl = IPV4_HEADER + ipOptions.length;
            final int thl = TCP_HEADER + tcpOptions.length;
            final byte[] p = ipv4(ihl + thl + payload.length, tos, id, df, ttl, PROTO_TCP, src, dst);
            System.arraycopy(ipOptions, 0, p, IPV4_HEADER, ipOptions.length);
            p[0] = (byte) (0x40 | (ihl / 4));
            put16(p, ihl, sport);
            put16(p, ihl + 2, dport);
            put32(p, ihl + 4, seq);
            put32(p, ihl + 8, ack);
            p[ihl + 12] = (byte) ((thl / 4) << 4);
            p[ihl + 13] = (byte) flags;
            put16(p, ihl + 14, window);
            put16(p, ihl + 18, urg);
            System.arraycopy(tcpOptions, 0, p, ihl + TCP_HEADER, tcpOptions.length);
            System.arraycopy(payload, 0, p, ihl + thl, payload.length);
            fixIp(p);
            fixL4(p);
            return p;
        }
    }

    /**
     * An IPv4/TCP packet without options, DF, TTL 64, ports 40000 → 5201, ack 0x11111111, window 512, both checksums
     * complete; with {@code partial} the TCP checksum field holds the pseudo-header sum instead, as a NEEDS_CSUM sender
     * leaves it.
     *
     * @param src source address
     * @param dst destination address
     * @param id IPv4 identification
     * @param seq sequence number
     * @param payload the payload
     * @param flags the TCP flags byte, e.g. {@code PSH | ACK}
     * @param partial whether to leave the checksum partial
     * @return the packet
     */
    public static byte[] tcp(final int src, final int dst, final int id, final int seq, final byte[] payload,
                             final int flags, final boolean partial) {
        final Tcp t = new Tcp();
        t.src = src;
        t.dst = dst;
        t.dport = 5201;
        t.id = id;
        t.seq = seq;
        t.ack = 0x11111111;
        t.flags = flags;
        t.window = 512;
        t.tcpOptions = new byte[0];
        t.payload = payload;
        final byte[] p = t.build();
        if (partial) {
            seedPartial(p);
        }
        return p;
    }

    /**
     * An in-order stream of {@code n} segments of one flow, {@link Tcp} defaults otherwise: {@code mss}-byte random
     * payloads (seed {@code seed + i} for segment {@code i}), the last one {@code lastPayload} bytes with PSH|ACK, the
     * others ACK; sequence numbers from {@code firstSeq}, IP IDs from {@code firstId} (both counting up).
     *
     * @param sport the source port
     * @param n the segment count
     * @param mss payload bytes per segment but the last
     * @param lastPayload payload bytes of the last
     * @param firstSeq the first sequence number
     * @param firstId the first IPv4 identification
     * @param seed the payload seed
     * @return the segments in order
     */
    public static List<byte[]> stream(final int sport, final int n, final int mss, final int lastPayload,
                                      final int firstSeq, final int firstId, final long seed) {
        final List<byte[]> list = new ArrayList<>();
        int seq = firstSeq;
        for (int i = 0; i < n; i++) {
            final Tcp t = new Tcp().payload(i == n - 1 ? lastPayload : mss, seed + i);
            t.sport = sport;
            t.seq = seq;
            t.id = firstId + i;
            t.flags = i == n - 1 ? ACK | PSH : ACK;
            list.add(t.build());
            seq += t.payload.length;
        }
        return list;
    }

    /**
     * NOP NOP TIMESTAMP (12 bytes), as Linux sends on established connections.
     *
     * @param tsval the timestamp value
     * @param tsecr the echo reply
     * @return the option bytes
     */
    public static byte[] timestamps(final int tsval, final int tsecr) {
        final byte[] o = new byte[12];
        o[0] = 1;
        o[1] = 1;
        o[2] = 8;
        o[3] = 10;
        put32(o, 4, tsval);
        put32(o, 8, tsecr);
        return o;
    }

    /**
     * An IPv4/UDP packet {@link #SRC}:33333 → {@link #DST}:4444, DF, TTL 64, with a random payload and both checksums
     * complete.
     *
     * @param id IPv4 identification
     * @param payloadLength UDP payload bytes
     * @param seed the payload's {@link Random} seed
     * @return the packet
     */
    public static byte[] udp(final int id, final int payloadLength, final long seed) {
        final byte[] payload = new byte[payloadLength];
        new Random(seed).nextBytes(payload);
        return udp(SRC, 33333, DST, 4444, id, payload);
    }

    /**
     * An IPv4/UDP packet, id 0x1234, DF, TTL 64, both checksums complete (a computed UDP checksum of 0 sent as
     * 0xffff).
     *
     * @param src source address
     * @param srcPort source port
     * @param dst destination address
     * @param dstPort destination port
     * @param payload the payload
     * @return the packet
     */
    public static byte[] udp(final int src, final int srcPort, final int dst, final int dstPort, final byte[] payload) {
        return udp(src, srcPort, dst, dstPort, 0x1234, payload);
    }

    /**
     * An IPv4/UDP packet with the given identification, DF, TTL 64, both checksums complete (a computed UDP checksum
     * of 0 sent as 0xffff).
     *
     * @param src source address
     * @param srcPort source port
     * @param dst destination address
     * @param dstPort destination port
     * @param id IPv4 identification, e.g. a sequence number that tells the packets apart
     * @param payload the payload
     * @return the packet
     */
    public static byte[] udp(final int src, final int srcPort, final int dst, final int dstPort, final int id,
                             final byte[] payload) {
        final byte[] p = ipv4(IPV4_HEADER + UDP_HEADER + payload.length, 0, id, true, 64, PROTO_UDP, src, dst);
        put16(p, IPV4_HEADER, srcPort);
        put16(p, IPV4_HEADER + 2, dstPort);
        put16(p, IPV4_HEADER + 4, UDP_HEADER + payload.length);
        System.arraycopy(payload, 0, p, IPV4_HEADER + UDP_HEADER, payload.length);
        fixIp(p);
        fixL4(p);
        return p;
    }

    /**
     * Writes one IPv4/TCP packet (ACK, window 0xfaf0, ack 0x10000001, no options) with a patterned payload and both
     * checksums complete, for a benchmark's pre-filled buffer.
     *
     * @param buf target buffer
     * @param off absolute index of the IPv4 header
     * @param src source address
     * @param dst destination address
     * @param ports source port in the high 16 bits, destination port in the low 16 bits
     * @param id IPv4 identification
     * @param seq TCP sequence number (also seeds the payload pattern)
     * @param payload payload bytes
     * @return the packet length in bytes ({@code 40 + payload})
     */
    public static int writeTcp(final ByteBuffer buf, final int off, final int src, final int dst, final int ports,
                               final int id, final int seq, final int payload) {
        final Tcp t = new Tcp();
        t.src = src;
        t.dst = dst;
        t.sport = ports >>> 16;
        t.dport = ports & 0xffff;
        t.id = id;
        t.seq = seq;
        t.ack = 0x1000_0001;
        t.window = 0xfaf0;
        t.tcpOptions = new byte[0];
        t.payload = new byte[payload];
        for (int i = 0; i < payload; i++) {
            t.payload[i] = (byte) (seq * 31 + i * 7);
        }
        final byte[] p = t.build();
        buf.put(off, p);
        return p.length;
    }

    /**
     * Turns the ICMP echo request in {@code b} (from index 0 to its limit) into the echo reply, in place: addresses
     * swapped, type 0, both checksums recomputed.
     *
     * @param b the packet
     */
    public static void echoReplyInPlace(final ByteBuffer b) {
        final int ihl = ihl(b);
        final int src = b.getInt(12);
        b.putInt(12, b.getInt(16));
        b.putInt(16, src);
        b.putShort(10, (short) 0);
        b.putShort(10, (short) (~onesSum(b, 0, ihl, 0) & 0xffff));
        b.put(ihl, (byte) 0); // type 0: echo reply
        b.putShort(ihl + 2, (short) 0);
        b.putShort(ihl + 2, (short) (~onesSum(b, ihl, b.limit() - ihl, 0) & 0xffff));
    }

    /**
     * A frame as a TUN with {@code IFF_VNET_HDR} hands it over: a zeroed {@value TestLibc#VIRTIO_NET_HDR_LENGTH}-byte
     * virtio header at 0, then the packet, with 16 bytes to spare.
     *
     * @param packet the packet
     * @param order the buffer's byte order (the virtio header's fields are in native order on a TUN)
     * @return a direct buffer
     */
    public static ByteBuffer frame(final byte[] packet, final ByteOrder order) {
        final ByteBuffer b = ByteBuffer.allocateDirect(TestLibc.VIRTIO_NET_HDR_LENGTH + packet.length + 16)
            .order(order);
        b.put(TestLibc.VIRTIO_NET_HDR_LENGTH, packet);
        return b;
    }

    /** An IPv4 header without options (IHL 5) at the start of a zeroed packet of {@code length} bytes. */
    private static byte[] ipv4(final int length, final int tos, final int id, final boolean df, final int ttl,
                               final int protocol, final int src, final int dst) {
        final byte[] p = new byte[length];
        p[0] = 0x45;
        p[1] = (byte) tos;
        put16(p, 2, length);
        put16(p, 4, id);
        put16(p, 6, df ? 0x4000 : 0);
        p[8] = (byte) ttl;
        p[9] = (byte) protocol;
        put32(p, 12, src);
        put32(p, 16, dst);
        return p;
    }

    // ---- checksums (RFC 1071) ------------------------------------------------------------------------------------

    /**
     * The ones' complement sum of {@code len} bytes read as big-endian 16-bit words (an odd last byte padded with
     * zero), added to {@code initial}, folded to 16 bits and not complemented. A valid checksummed range sums to
     * 0xffff.
     *
     * @param b the bytes
     * @param off index of the first
     * @param len how many
     * @param initial a partial sum to start from, e.g. {@link #pseudo}
     * @return the folded sum, 0..0xffff
     */
    public static int onesSum(final ByteBuffer b, final int off, final int len, final long initial) {
        long s = initial;
        for (int i = 0; i + 1 < len; i += 2) {
            s += ((b.get(off + i) & 0xff) << 8) | (b.get(off + i + 1) & 0xff);
        }
        if ((len & 1) != 0) {
            s += (b.get(off + len - 1) & 0xff) << 8;
        }
        while ((s >>> 16) != 0) {
            s = (s & 0xffff) + (s >>> 16);
        }
        return (int) s;
    }

    /** {@link #onesSum(ByteBuffer, int, int, long)} over an array. */
    public static int onesSum(final byte[] b, final int off, final int len, final long initial) {
        return onesSum(ByteBuffer.wrap(b), off, len, initial);
    }

    /**
     * The TCP/UDP pseudo-header's sum (addresses, protocol, transport length), unfolded.
     *
     * @param p the IPv4 packet
     * @param proto the protocol number
     * @param l4len the transport segment's length in bytes
     * @return the sum
     */
    public static long pseudo(final byte[] p, final int proto, final int l4len) {
        long s = 0;
        for (int i = 12; i < 20; i += 2) {
            s += u16(p, i);
        }
        return s + proto + l4len;
    }

    /**
     * The pseudo-header sum of a packet in a buffer, folded and not complemented: what a TUN with
     * {@code IFF_VNET_HDR} leaves in the transport checksum field of a NEEDS_CSUM packet.
     *
     * @param buf the buffer
     * @param off absolute index of the IPv4 header
     * @param len the packet length in bytes
     * @param proto the IP protocol number
     * @return the 16-bit folded sum
     */
    public static int pseudoHeaderSum(final ByteBuffer buf, final int off, final int len, final int proto) {
        final int ihl = (buf.get(off) & 0x0f) * 4;
        return onesSum(buf, off + 12, 8, proto + len - ihl);
    }

    /** Whether the IPv4 header checksum of the packet verifies. */
    public static boolean ipChecksumOk(final byte[] p) {
        return ipChecksumOk(ByteBuffer.wrap(p));
    }

    /** Whether the IPv4 header checksum of the packet at index 0 verifies. */
    public static boolean ipChecksumOk(final ByteBuffer b) {
        return onesSum(b, 0, ihl(b), 0) == 0xffff;
    }

    /** Whether the TCP or UDP checksum (pseudo-header and segment; the packet is the whole array) verifies. */
    public static boolean l4ChecksumOk(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        return onesSum(p, ihl, p.length - ihl, pseudo(p, p[9] & 0xff, p.length - ihl)) == 0xffff;
    }

    /** Recomputes the IPv4 header checksum from scratch. */
    public static void fixIp(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        put16(p, 10, 0);
        put16(p, 10, ~onesSum(p, 0, ihl, 0) & 0xffff);
    }

    /**
     * A valid 84-byte ICMP echo request (ping's default size: 20-byte IPv4 header, 8-byte ICMP header, 56 zero bytes),
     * TTL 64, IPv4 identification {@value #ECHO_ID}, ICMP identifier 0, both checksums set.
     *
     * @param src source address
     * @param dst destination address
     * @param seq the ICMP sequence number
     * @return the packet
     */
    public static byte[] icmpEcho(final int src, final int dst, final int seq) {
        return icmpEcho(src, dst, 0, seq, 84);
    }

    /**
     * A valid ICMP echo request of {@code length} bytes (20-byte IPv4 header, 8-byte ICMP header, zero bytes), TTL 64,
     * IPv4 identification {@value #ECHO_ID}, both checksums set.
     *
     * @param src source address
     * @param dst destination address
     * @param identifier the ICMP identifier (what ping and a capture filter tell their requests apart by)
     * @param seq the ICMP sequence number
     * @param length the packet's length in bytes, at least 28
     * @return the packet
     * @throws IllegalArgumentException if {@code length} is below 28 or above 65535
     */
    public static byte[] icmpEcho(final int src, final int dst, final int identifier, final int seq,
                                  final int length) {
        if (length < IPV4_HEADER + 8 || length > 65535) {
            throw new IllegalArgumentException("an echo request is 28..65535 bytes, got " + length);
        }
        final byte[] p = ipv4(length, 0, ECHO_ID, false, 64, PROTO_ICMP, src, dst);
        fixIp(p);
        p[IPV4_HEADER] = 8; // echo request
        put16(p, IPV4_HEADER + 4, identifier);
        put16(p, IPV4_HEADER + 6, seq);
        put16(p, IPV4_HEADER + 2, ~onesSum(p, IPV4_HEADER, length - IPV4_HEADER, 0) & 0xffff);
        return p;
    }

    /** Recomputes the TCP or UDP checksum from scratch (a UDP checksum of 0 is sent as 0xffff). */
    public static void fixL4(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        final int proto = p[9] & 0xff;
        final int at = l4ChecksumIndex(p);
        put16(p, at, 0);
        int c = ~onesSum(p, ihl, p.length - ihl, pseudo(p, proto, p.length - ihl)) & 0xffff;
        if (proto == PROTO_UDP && c == 0) {
            c = 0xffff;
        }
        put16(p, at, c);
    }

    /**
     * Puts the pseudo-header partial sum (not complemented) in the TCP or UDP checksum field, as a NEEDS_CSUM sender
     * does.
     *
     * @param p the packet (its length is the array's)
     */
    public static void seedPartial(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        put16(p, l4ChecksumIndex(p), onesSum(p, 0, 0, pseudo(p, p[9] & 0xff, p.length - ihl)));
    }

    private static int l4ChecksumIndex(final byte[] p) {
        return (p[0] & 0x0f) * 4 + ((p[9] & 0xff) == PROTO_TCP ? 16 : 6);
    }

    // ---- fields --------------------------------------------------------------------------------------------------

    /** Reads the big-endian 16-bit field at {@code i}, 0..0xffff. */
    public static int u16(final byte[] p, final int i) {
        return ((p[i] & 0xff) << 8) | (p[i + 1] & 0xff);
    }

    /** Reads the big-endian 32-bit field at {@code i}. */
    public static int u32(final byte[] p, final int i) {
        return (u16(p, i) << 16) | u16(p, i + 2);
    }

    /** Writes the low 16 bits of {@code v} big-endian at {@code i}. */
    public static void put16(final byte[] p, final int i, final int v) {
        p[i] = (byte) (v >>> 8);
        p[i + 1] = (byte) v;
    }

    /** Writes {@code v} big-endian at {@code i}. */
    public static void put32(final byte[] p, final int i, final int v) {
        put16(p, i, v >>> 16);
        put16(p, i + 2, v);
    }

    /** The IP version of the packet at index 0, e.g. 4. */
    public static int version(final ByteBuffer b) {
        return (b.get(0) & 0xff) >>> 4;
    }

    /** The IPv4 header length of the packet at index 0, bytes. */
    public static int ihl(final ByteBuffer b) {
        return (b.get(0) & 0x0f) * 4;
    }

    /** The IPv4 total length of the packet at index 0, bytes. */
    public static int totalLength(final ByteBuffer b) {
        return ((b.get(2) & 0xff) << 8) | (b.get(3) & 0xff);
    }

    /** The IP protocol of the packet at index 0, e.g. {@link #PROTO_UDP}. */
    public static int protocol(final ByteBuffer b) {
        return b.get(9) & 0xff;
    }

    /** The IPv4 source address of the packet at index 0. */
    public static int src(final ByteBuffer b) {
        return u32(b, 12);
    }

    /** The IPv4 destination address of the packet at index 0. */
    public static int dst(final ByteBuffer b) {
        return u32(b, 16);
    }

    private static int u32(final ByteBuffer b, final int i) {
        return ((b.get(i) & 0xff) << 24) | ((b.get(i + 1) & 0xff) << 16) | ((b.get(i + 2) & 0xff) << 8)
            | (b.get(i + 3) & 0xff);
    }

    // ---- bytes and hex -------------------------------------------------------------------------------------------

    /**
     * Parses hex, ignoring whitespace and {@code |} group separators.
     *
     * @param hex e.g. {@link #ECHO_REQUEST}, or {@code "45 00 | 00 54"}
     * @return the bytes
     */
    public static byte[] bytes(final String hex) {
        return HexFormat.of().parseHex(hex.replaceAll("[\\s|]", ""));
    }

    /**
     * A big-endian heap buffer holding {@code hex} at index {@code at}, with 64 bytes to spare.
     *
     * @param hex the bytes in hex
     * @param at where to put them
     * @return the buffer (position 0, limit its capacity)
     */
    public static ByteBuffer buffer(final String hex, final int at) {
        final byte[] b = bytes(hex);
        final ByteBuffer buf = ByteBuffer.allocate(at + b.length + 64);
        buf.put(at, b);
        return buf;
    }

    /** Copies {@code length} bytes from absolute index {@code at} of {@code buf}. */
    public static byte[] copy(final ByteBuffer buf, final int at, final int length) {
        final byte[] out = new byte[length];
        buf.get(at, out);
        return out;
    }

    /**
     * Lower-case hex pairs separated by single spaces, for byte-for-byte assertions with readable diffs.
     *
     * @param p the bytes
     * @return e.g. {@code "45 00 00 54"}
     */
    public static String hex(final byte[] p) {
        return HexFormat.ofDelimiter(" ").formatHex(p);
    }

    /** {@link #hex(byte[])} of the bytes between the buffer's position and limit. */
    public static String hex(final ByteBuffer b) {
        return hex(copy(b, b.position(), b.remaining()));
    }

    /**
     * An expected dump written by hand (any whitespace, {@code |} group separators) in {@link #hex(byte[])}'s form.
     *
     * @param written e.g. {@code "45 00 | 00 54"}
     * @return e.g. {@code "45 00 00 54"}
     */
    public static String hex(final String written) {
        return hex(bytes(written));
    }

    /** Joins byte arrays, in order. */
    public static byte[] concat(final List<byte[]> parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        final byte[] all = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }

    /** A copy of the bytes of {@code p} from index {@code from} to its end. */
    public static byte[] slice(final byte[] p, final int from) {
        return Arrays.copyOfRange(p, from, p.length);
    }
}
