package io.overlay.udp.offload;

import io.overlay.testing.TestPackets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Random traffic for the coalescer: in-order TCP streams of three flows, interleaved, with every kind of packet that
 * must end a run or stay single mixed in — PSH, FIN, CWR, ECE, URG, RST, pure ACKs, another TOS (ECN CE), TTL or DF,
 * IP ID jumps and repeats, new timestamps, window, ack or urgent pointer, no TCP options, lost and retransmitted
 * segments, IPv4 options, fragments, corrupted payloads and UDP — so that a merge that is not exactly reversible by
 * segmentation shows up as a difference.
 */
final class RandomSegments {
    /** Source ports of the flows; every TCP packet generated uses one of them. */
    static final int[] PORTS = {50000, 50001, 50002};
    private static final int MSS = 1000;

    private RandomSegments() {
    }

    /**
     * Returns {@code n} packets from seed {@code seed}.
     *
     * @param seed the {@link Random} seed
     * @param n how many packets
     * @return the packets, in the order to feed them
     */
    static List<byte[]> generate(final long seed, final int n) {
        final Random r = new Random(seed);
        final int flows = PORTS.length;
        final int[] seq = new int[flows];
        final int[] id = new int[flows];
        final int[] ts = new int[flows];
        for (int f = 0; f < flows; f++) {
            seq[f] = r.nextInt();
            id[f] = r.nextInt(65536);
        }
        final List<byte[]> list = new ArrayList<>();
        for (int step = 0; step < n; step++) {
            final int f = r.nextInt(flows);
            final TestPackets.Tcp t = new TestPackets.Tcp();
            t.sport = PORTS[f];
            int payload = r.nextInt(8) == 0 ? 1 + r.nextInt(MSS) : MSS;
            int advance = payload;
            final int kind = r.nextInt(64);
            switch (kind) {
                case 0 -> t.flags |= TestPackets.PSH;
                case 1 -> t.flags |= TestPackets.FIN;
                case 2 -> t.flags |= TestPackets.CWR;
                case 3 -> t.flags |= TestPackets.ECE;
                case 4 -> t.flags |= TestPackets.URG;
                case 5 -> t.flags = TestPackets.RST | TestPackets.ACK;
                case 6 -> payload = 0;
                case 7 -> t.tos = 0x03;
                case 8 -> t.tos = 0x02;
                case 9 -> t.ttl = 63;
                case 10 -> t.df = false;
                case 11 -> id[f] += 5;
                case 12 -> ts[f]++;
                case 13 -> t.window = 1000;
                case 14 -> seq[f] += 7;
                case 15 -> {
                    seq[f] -= MSS; // a retransmission of the previous segment's bytes
                    advance = MSS + payload;
                }
                case 16 -> t.ipOptions = new byte[] {1, 1, 1, 0};
                case 17 -> t.urg = 5;
                case 18 -> t.ack = 0x20000001;
                case 19 -> id[f] -= 1;
                case 20 -> t.flags |= TestPackets.ECE | TestPackets.PSH;
                case 21 -> { } // no TCP options, below
                case 22 -> id[f] = 0; // a fixed ID from here on would need FIXEDID, which a TUN frame cannot carry
                default -> { }
            }
            t.payload(payload, seed * 100_000 + step);
            t.seq = seq[f];
            t.id = id[f] & 0xffff;
            t.tcpOptions = kind == 21 ? new byte[0] : TestPackets.timestamps(1000 + ts[f], 2000);
            byte[] p = t.build();
            if (kind == 23) { // first fragment (more fragments, offset 0): its TCP header is there
                TestPackets.put16(p, 6, 0x2000);
                TestPackets.fixIp(p);
            } else if (kind == 24) { // a later fragment: offset 104 bytes, the TCP header is not there
                TestPackets.put16(p, 6, 13);
                TestPackets.fixIp(p);
            } else if (kind == 25) {
                p[p.length - 1] ^= 0x55; // the TCP checksum no longer verifies
            } else if (kind == 26) {
                p = TestPackets.udp(step, 300, step);
            }
            list.add(p);
            seq[f] += advance;
            id[f]++;
        }
        return list;
    }

    /** The flow a packet belongs to, for comparing per-flow order: a port of {@link #PORTS}, or -1 (not TCP). */
    static int flow(final byte[] p) {
        if (p[9] != TestPackets.PROTO_TCP) {
            return -1;
        }
        return TestPackets.u16(p, (p[0] & 0x0f) * 4);
    }
}
