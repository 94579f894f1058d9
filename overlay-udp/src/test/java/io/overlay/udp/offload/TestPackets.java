package io.overlay.udp.offload;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Test-only packet builders and an independent, byte-array reference implementation of the Internet checksum
 * (RFC 1071, the plain 16-bit loop), so the production code is never checked against itself. Public only for the
 * tests of package {@code io.overlay.udp} ({@link #tcp}, {@link #l4ChecksumOk}, {@link #u16}, {@link #u32}).
 */
public final class TestPackets {
    static final int SRC = 0x64400102; // 100.64.1.2
    static final int DST = 0x64400203; // 100.64.2.3

    static final int FIN = 0x01;
    static final int SYN = 0x02;
    static final int RST = 0x04;
    static final int PSH = 0x08;
    static final int ACK = 0x10;
    static final int URG = 0x20;
    static final int ECE = 0x40;
    static final int CWR = 0x80;

    private TestPackets() {
    }

    /** RFC 1071 ones' complement sum over bytes (big-endian words), folded, not complemented. */
    static int onesSum(final byte[] b, final int off, final int len, final long initial) {
        long s = initial;
        for (int i = 0; i + 1 < len; i += 2) {
            s += ((b[off + i] & 0xff) << 8) | (b[off + i + 1] & 0xff);
        }
        if ((len & 1) != 0) {
            s += (b[off + len - 1] & 0xff) << 8;
        }
        while ((s >>> 16) != 0) {
            s = (s & 0xffff) + (s >>> 16);
        }
        return (int) s;
    }

    static long pseudo(final byte[] p, final int proto, final int l4len) {
        long s = 0;
        for (int i = 12; i < 20; i += 2) {
            s += ((p[i] & 0xff) << 8) | (p[i + 1] & 0xff);
        }
        return s + proto + l4len;
    }

    /** True if the IPv4 header checksum verifies. */
    static boolean ipChecksumOk(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        return onesSum(p, 0, ihl, 0) == 0xffff;
    }

    /** True if the TCP or UDP checksum over pseudo-header + segment verifies. */
    public static boolean l4ChecksumOk(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        final int proto = p[9] & 0xff;
        return onesSum(p, ihl, p.length - ihl, pseudo(p, proto, p.length - ihl)) == 0xffff;
    }

    public static int u16(final byte[] p, final int i) {
        return ((p[i] & 0xff) << 8) | (p[i + 1] & 0xff);
    }

    public static int u32(final byte[] p, final int i) {
        return (u16(p, i) << 16) | u16(p, i + 2);
    }

    static void put16(final byte[] p, final int i, final int v) {
        p[i] = (byte) (v >>> 8);
        p[i + 1] = (byte) v;
    }

    static void put32(final byte[] p, final int i, final int v) {
        put16(p, i, v >>> 16);
        put16(p, i + 2, v);
    }

    /** Recomputes the IPv4 header checksum from scratch. */
    static void fixIp(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        put16(p, 10, 0);
        put16(p, 10, ~onesSum(p, 0, ihl, 0) & 0xffff);
    }

    /** Recomputes the full TCP/UDP checksum from scratch (UDP 0 sent as 0xffff). */
    static void fixL4(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        final int proto = p[9] & 0xff;
        final int at = ihl + (proto == 6 ? 16 : 6);
        put16(p, at, 0);
        int c = ~onesSum(p, ihl, p.length - ihl, pseudo(p, proto, p.length - ihl)) & 0xffff;
        if (proto == 17 && c == 0) {
            c = 0xffff;
        }
        put16(p, at, c);
    }

    /** Puts the pseudo-header partial sum (not complemented) in the L4 checksum field, as a NEEDS_CSUM sender does. */
    static void seedPartial(final byte[] p) {
        final int ihl = (p[0] & 0x0f) * 4;
        final int proto = p[9] & 0xff;
        put16(p, ihl + (proto == 6 ? 16 : 6), onesSum(new byte[0], 0, 0, pseudo(p, proto, p.length - ihl)));
    }

    /** Builder for IPv4/TCP packets. */
    static final class Tcp {
        int src = SRC;
        int dst = DST;
        int sport = 40000;
        int dport = 5001;
        int id = 0x1234;
        boolean df = true;
        int tos = 0;
        int ttl = 64;
        int seq = 0x10000000;
        int ack = 0x20000000;
        int flags = ACK;
        int window = 502;
        int urg = 0;
        byte[] ipOptions = new byte[0];
        byte[] tcpOptions = timestamps(1000, 2000);
        byte[] payload = new byte[0];

        Tcp payload(final int n, final long seed) {
            payload = new byte[n];
            new Random(seed).nextBytes(payload);
            return this;
        }

        byte[] build() {
            final int ihl = 20 + ipOptions.length;
            final int thl = 20 + tcpOptions.length;
            final byte[] p = new byte[ihl + thl + payload.length];
            p[0] = (byte) (0x40 | (ihl / 4));
            p[1] = (byte) tos;
            put16(p, 2, p.length);
            put16(p, 4, id);
            put16(p, 6, df ? 0x4000 : 0);
            p[8] = (byte) ttl;
            p[9] = 6;
            put32(p, 12, src);
            put32(p, 16, dst);
            System.arraycopy(ipOptions, 0, p, 20, ipOptions.length);
            put16(p, ihl, sport);
            put16(p, ihl + 2, dport);
            put32(p, ihl + 4, seq);
            put32(p, ihl + 8, ack);
            p[ihl + 12] = (byte) ((thl / 4) << 4);
            p[ihl + 13] = (byte) flags;
            put16(p, ihl + 14, window);
            put16(p, ihl + 18, urg);
            System.arraycopy(tcpOptions, 0, p, ihl + 20, tcpOptions.length);
            System.arraycopy(payload, 0, p, ihl + thl, payload.length);
            fixIp(p);
            fixL4(p);
            return p;
        }
    }

    /**
     * An IPv4/TCP packet without options (20-byte IPv4 + 20-byte TCP header), DF, TTL 64, ports 40000 → 5201, ack
     * 0x11111111, window 512, both checksums complete; with {@code partial} the TCP checksum field holds the
     * pseudo-header sum instead, as a NEEDS_CSUM sender leaves it.
     *
     * @param src source address, first octet most significant
     * @param dst destination address, first octet most significant
     * @param flags the TCP flags byte, e.g. {@code PSH | ACK}
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
     */
    static List<byte[]> stream(final int sport, final int n, final int mss, final int lastPayload, final int firstSeq,
                               final int firstId, final long seed) {
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

    /** NOP NOP TIMESTAMP (12 bytes), as Linux sends on established connections. */
    static byte[] timestamps(final int tsval, final int tsecr) {
        final byte[] o = new byte[12];
        o[0] = 1;
        o[1] = 1;
        o[2] = 8;
        o[3] = 10;
        put32(o, 4, tsval);
        put32(o, 8, tsecr);
        return o;
    }

    /** An IPv4/UDP packet with a full checksum. */
    static byte[] udp(final int id, final int payloadLength, final long seed) {
        final byte[] p = new byte[28 + payloadLength];
        p[0] = 0x45;
        put16(p, 2, p.length);
        put16(p, 4, id);
        put16(p, 6, 0x4000);
        p[8] = 64;
        p[9] = 17;
        put32(p, 12, SRC);
        put32(p, 16, DST);
        put16(p, 20, 33333);
        put16(p, 22, 4444);
        put16(p, 24, 8 + payloadLength);
        final byte[] pl = new byte[payloadLength];
        new Random(seed).nextBytes(pl);
        System.arraycopy(pl, 0, p, 28, payloadLength);
        fixIp(p);
        fixL4(p);
        return p;
    }

    /** A frame buffer: 10-byte virtio header at 0 followed by the packet, in a direct buffer of the given order. */
    static ByteBuffer frame(final byte[] packet, final java.nio.ByteOrder order) {
        final ByteBuffer b = ByteBuffer.allocateDirect(VirtioNetHdr.LENGTH + packet.length + 16).order(order);
        b.put(VirtioNetHdr.LENGTH, packet);
        return b;
    }

    /** Copies the segments out of a batch. */
    static List<byte[]> segments(final SegmentBatch out) {
        final List<byte[]> list = new ArrayList<>();
        for (int i = 0; i < out.count(); i++) {
            final byte[] p = new byte[out.length(i)];
            out.buffer().get(out.offset(i), p);
            list.add(p);
        }
        return list;
    }

    static String hex(final byte[] p) {
        return java.util.HexFormat.of().formatHex(p);
    }

    static byte[] concat(final List<byte[]> parts) {
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

    static byte[] slice(final byte[] p, final int from) {
        return Arrays.copyOfRange(p, from, p.length);
    }
}
