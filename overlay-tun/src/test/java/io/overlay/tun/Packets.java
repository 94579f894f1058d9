package io.overlay.tun;

import java.nio.ByteBuffer;

/** Crafts and inspects IPv4 packets for the tests (RFC 791 header, RFC 768 UDP, RFC 792 ICMP echo). */
final class Packets {
    static final int ICMP = 1;
    static final int UDP = 17;

    private Packets() {
    }

    /** Writes an IPv4/UDP datagram with correct header and UDP checksums at the buffer's position; flips it. */
    static ByteBuffer udp(final ByteBuffer b, final int src, final int srcPort, final int dst, final int dstPort,
                          final byte[] payload) {
        final int start = b.position();
        final int total = 20 + 8 + payload.length;
        ipv4Header(b, start, total, UDP, src, dst);
        b.putShort(start + 20, (short) srcPort);
        b.putShort(start + 22, (short) dstPort);
        b.putShort(start + 24, (short) (8 + payload.length));
        b.putShort(start + 26, (short) 0);
        b.put(start + 28, payload);
        // pseudo header: src, dst, zero, protocol, UDP length
        long sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + UDP + 8 + payload.length;
        sum += sum(b, start + 20, 8 + payload.length);
        int udpSum = fold(sum);
        b.putShort(start + 26, (short) (udpSum == 0 ? 0xffff : udpSum));
        b.limit(start + total);
        b.position(start);
        return b;
    }

    /** Turns the ICMP echo request in {@code b} (position 0, limit its length) into the echo reply, in place. */
    static void echoReplyInPlace(final ByteBuffer b) {
        final int ihl = ihl(b);
        final int src = b.getInt(12);
        b.putInt(12, b.getInt(16));
        b.putInt(16, src);
        b.putShort(10, (short) 0);
        b.putShort(10, (short) fold(sum(b, 0, ihl)));
        b.put(ihl, (byte) 0); // type 0: echo reply
        b.putShort(ihl + 2, (short) 0);
        b.putShort(ihl + 2, (short) fold(sum(b, ihl, b.limit() - ihl)));
    }

    static int version(final ByteBuffer b) {
        return (b.get(0) & 0xff) >>> 4;
    }

    static int ihl(final ByteBuffer b) {
        return (b.get(0) & 0x0f) * 4;
    }

    static int protocol(final ByteBuffer b) {
        return b.get(9) & 0xff;
    }

    static int src(final ByteBuffer b) {
        return b.getInt(12);
    }

    static int dst(final ByteBuffer b) {
        return b.getInt(16);
    }

    static int totalLength(final ByteBuffer b) {
        return b.getShort(2) & 0xffff;
    }

    static boolean headerChecksumOk(final ByteBuffer b) {
        return fold(sum(b, 0, ihl(b))) == 0;
    }

    private static void ipv4Header(final ByteBuffer b, final int at, final int total, final int protocol,
                                   final int src, final int dst) {
        b.put(at, (byte) 0x45);
        b.put(at + 1, (byte) 0);
        b.putShort(at + 2, (short) total);
        b.putShort(at + 4, (short) 0x1234);
        b.putShort(at + 6, (short) 0x4000); // DF
        b.put(at + 8, (byte) 64);
        b.put(at + 9, (byte) protocol);
        b.putShort(at + 10, (short) 0);
        b.putInt(at + 12, src);
        b.putInt(at + 16, dst);
        b.putShort(at + 10, (short) fold(sum(b, at, 20)));
    }

    private static long sum(final ByteBuffer b, final int at, final int length) {
        long sum = 0;
        for (int i = 0; i + 1 < length; i += 2) {
            sum += b.getShort(at + i) & 0xffff;
        }
        if ((length & 1) != 0) {
            sum += (b.get(at + length - 1) & 0xff) << 8;
        }
        return sum;
    }

    private static int fold(final long sum) {
        long s = sum;
        while ((s >>> 16) != 0) {
            s = (s & 0xffff) + (s >>> 16);
        }
        return (int) ~s & 0xffff;
    }
}
