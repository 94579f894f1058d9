package io.overlay.udp.offload;

import static io.overlay.testing.TestPackets.ACK;
import static io.overlay.testing.TestPackets.CWR;
import static io.overlay.testing.TestPackets.FIN;
import static io.overlay.testing.TestPackets.ECE;
import static io.overlay.testing.TestPackets.PSH;
import static io.overlay.testing.TestPackets.RST;
import static io.overlay.testing.TestPackets.SYN;
import static io.overlay.testing.TestPackets.URG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class TcpCoalescerTest {
    private static final int MSS = 1448;

    final List<byte[]> frames = new ArrayList<>();
    private final TcpCoalescer coalescer = create(8);
    /** Every packet fed gets its own bytes here, so in-place runs may reference them until the flush. */
    private final ByteBuffer in = ByteBuffer.allocateDirect(4 << 20);
    private int cursor;

    /** What the sink was told: super-packets (frames of 2+ packets), their packets, and all packets and bytes. */
    private long superPackets;
    private long segmentsMerged;
    private long packetsOut;
    private long packetBytesOut;

    void record(final ByteBuffer buf, final int offset, final int length, final int packets,
                        final int packetBytes) {
        final byte[] f = new byte[length];
        buf.get(offset, f);
        frames.add(f);
        if (packets > 1) {
            superPackets++;
            segmentsMerged += packets;
        }
        packetsOut += packets;
        packetBytesOut += packetBytes;
    }

    /** The coalescer under test; {@link TcpCoalescerInPlaceTest} runs every test in place. */
    TcpCoalescer create(final int flows) {
        return new TcpCoalescer(flows, this::record);
    }

    /** Copies {@code p} to fresh bytes of {@link #in} and returns its offset. */
    private int place(final byte[] p) {
        if (cursor + p.length + 100 > in.capacity()) {
            cursor = 0;
        }
        final int at = cursor + 100;
        in.put(at, p);
        cursor = at + p.length;
        return at;
    }

    void feed(final List<byte[]> packets) {
        for (byte[] p : packets) {
            coalescer.add(in, place(p), p.length);
        }
    }

    /** An in-order stream of {@code n} segments of one flow: full MSS, the last {@code lastPayload} bytes with PSH. */
    private static List<byte[]> stream(final int sport, final int n, final int lastPayload, final int id0) {
        return TestPackets.stream(sport, n, MSS, lastPayload, 0x7ffff000, id0, sport * 1000L);
    }

    private static byte[] packet(final byte[] frame) {
        return Arrays.copyOfRange(frame, VirtioNetHdr.LENGTH, frame.length);
    }

    /** Segments every frame with the segmenter, the way the kernel would when it forwards the frame. */
    static List<byte[]> resegment(final List<byte[]> frames) {
        final GsoSegmenter segmenter = new GsoSegmenter(1500);
        final SegmentBatch out = new SegmentBatch(128, 1500); // TunDevice.MAX_GSO_SEGMENTS, as the engine
        final VirtioNetHdr hdr = new VirtioNetHdr();
        final List<byte[]> all = new ArrayList<>();
        for (byte[] f : frames) {
            final ByteBuffer b = ByteBuffer.allocateDirect(f.length).order(ByteOrder.LITTLE_ENDIAN);
            b.put(0, f);
            hdr.wrap(b, 0);
            assertThat(segmenter.segment(hdr, b, VirtioNetHdr.LENGTH, f.length - VirtioNetHdr.LENGTH, out))
                .isEqualTo(OffloadVerdict.OK);
            all.addAll(Segments.of(out));
        }
        return all;
    }

    static void assertSamePackets(final List<byte[]> actual, final List<byte[]> expected) {
        assertThat(actual.stream().map(TestPackets::hex).toList())
            .containsExactlyElementsOf(expected.stream().map(TestPackets::hex).toList());
    }

    @Test
    void anInOrderStreamBecomesOneSuperPacketThatSegmentsBackExactly() {
        final List<byte[]> x = stream(40000, 44, 700, 0xfff0);
        feed(x);
        coalescer.flush();

        assertThat(frames).hasSize(1);
        final byte[] f = frames.get(0);
        final VirtioNetHdr hdr = new VirtioNetHdr().wrap(ByteBuffer.wrap(f), 0);
        assertThat(hdr.flags()).isEqualTo(VirtioNetHdr.FLAG_NEEDS_CSUM);
        assertThat(hdr.gsoType()).isEqualTo(VirtioNetHdr.GSO_TCPV4);
        assertThat(hdr.gsoSize()).isEqualTo(MSS);
        assertThat(hdr.hdrLen()).isEqualTo(52);
        assertThat(hdr.csumStart()).isEqualTo(20);
        assertThat(hdr.csumOffset()).isEqualTo(16);
        assertThat(hdr.check(f.length - 10)).isEqualTo(OffloadVerdict.OK);

        final byte[] sp = packet(f);
        assertThat(sp.length).isEqualTo(52 + 43 * MSS + 700);
        assertThat(TestPackets.u16(sp, 2)).isEqualTo(sp.length);
        assertThat(TestPackets.u16(sp, 4)).isEqualTo(0xfff0);
        assertThat(sp[33] & 0xff).isEqualTo(ACK | PSH);
        assertThat(TestPackets.ipChecksumOk(sp)).isTrue();
        // the TCP checksum field holds the pseudo-header sum: completing it gives a valid full checksum
        final int completed = ~TestPackets.onesSum(sp, 20, sp.length - 20, 0) & 0xffff;
        TestPackets.put16(sp, 36, completed);
        assertThat(TestPackets.l4ChecksumOk(sp)).isTrue();

        assertSamePackets(resegment(frames), x);
        assertThat(superPackets).isEqualTo(1);
        assertThat(segmentsMerged).isEqualTo(44);
        assertThat(packetsOut).as("every packet given to add, as the sink was told").isEqualTo(44);
        assertThat(packetBytesOut).isEqualTo(x.stream().mapToLong(p -> p.length).sum());
    }

    @Test
    void runsStopAt64KibAndStillSegmentBackExactly() {
        final List<byte[]> x = stream(40001, 100, 1448, 1);
        feed(x);
        coalescer.flush();
        assertThat(frames.size()).isBetween(3, 4);
        assertThat(frames).allMatch(f -> f.length - 10 <= 65535);
        assertSamePackets(resegment(frames), x);
    }

    @Test
    void aSingleSegmentIsPassedOnByteForByteWithAnEmptyHeader() {
        final List<byte[]> x = stream(40002, 1, 500, 9);
        final byte[] noPsh = new TestPackets.Tcp().payload(800, 3).build();
        feed(List.of(x.get(0), noPsh));
        coalescer.flush();
        assertThat(frames).hasSize(2);
        for (int i = 0; i < 2; i++) {
            assertThat(Arrays.copyOf(frames.get(i), 10)).containsOnly(0);
        }
        assertThat(packet(frames.get(0))).isEqualTo(x.get(0));
        assertThat(packet(frames.get(1))).isEqualTo(noPsh);
    }

    @Test
    void packetsThatCannotJoinArePassedThroughInOrderAfterTheirFlowIsFlushed() {
        final List<byte[]> x = stream(40003, 6, MSS, 100);
        final List<byte[]> fed = new ArrayList<>(x.subList(0, 3));
        final TestPackets.Tcp pureAck = new TestPackets.Tcp();
        pureAck.sport = 40003;
        final byte[] ack = pureAck.build();
        fed.add(ack);
        fed.add(TestPackets.udp(5, 100, 1));
        fed.addAll(x.subList(3, 6));
        feed(fed);
        coalescer.flush();
        // run of 3, pure ACK, UDP, run of 3 (the last has PSH)
        assertThat(frames).hasSize(4);
        assertThat(packet(frames.get(1))).isEqualTo(ack);
        assertThat(packet(frames.get(2))[9]).isEqualTo((byte) 17);
        final List<byte[]> data = resegment(List.of(frames.get(0), frames.get(3)));
        assertSamePackets(data, x);
    }

    @Test
    void controlFlagsOptionsAndBadChecksumsAreNeverMerged() {
        for (int flag : new int[] {SYN, URG, CWR}) {
            final TestPackets.Tcp t = new TestPackets.Tcp().payload(MSS, flag);
            t.flags = ACK | flag;
            final TestPackets.Tcp next = new TestPackets.Tcp().payload(MSS, flag + 1);
            next.seq = t.seq + MSS;
            next.id = t.id + 1;
            next.flags = ACK | flag;
            feed(List.of(t.build(), next.build()));
        }
        final TestPackets.Tcp opts = new TestPackets.Tcp().payload(MSS, 1);
        opts.ipOptions = new byte[] {1, 1, 1, 0};
        final byte[] withOptions = opts.build();
        final byte[] corrupt = new TestPackets.Tcp().payload(MSS, 2).build();
        corrupt[100] ^= 1;
        feed(List.of(withOptions, corrupt));
        coalescer.flush();
        assertThat(frames).hasSize(8);
        assertThat(superPackets).isZero();
        assertThat(coalescer.badChecksums()).isEqualTo(1);
        assertThat(packet(frames.get(7))).isEqualTo(corrupt);
    }

    @Test
    void aTcpPacketWithIpOptionsFlushesItsFlowFirst() {
        final List<byte[]> x = stream(40007, 3, MSS, 1);
        final TestPackets.Tcp opts = new TestPackets.Tcp().payload(100, 5);
        opts.sport = 40007;
        opts.ipOptions = new byte[] {1, 1, 1, 0};
        final byte[] withOptions = opts.build();
        feed(List.of(x.get(0), x.get(1), withOptions));
        assertThat(frames).hasSize(2); // the run of two, then the packet with options, in that order
        assertThat(packet(frames.get(1))).isEqualTo(withOptions);
        assertSamePackets(resegment(frames.subList(0, 1)), x.subList(0, 2));
    }

    @Test
    void gapsIdJumpsAndHeaderChangesEndTheRun() {
        final List<byte[]> x = stream(40004, 8, MSS, 50);
        final byte[] gap = x.get(2).clone(); // seq jumps by one MSS: a lost segment
        TestPackets.put32(gap, 24, TestPackets.u32(gap, 24) + MSS);
        TestPackets.fixL4(gap);
        final byte[] idJump = x.get(4).clone();
        TestPackets.put16(idJump, 4, 7);
        TestPackets.fixIp(idJump);
        final byte[] newAck = x.get(6).clone();
        TestPackets.put32(newAck, 28, 0x20000100);
        TestPackets.fixL4(newAck);
        feed(List.of(x.get(0), x.get(1), gap, x.get(3), idJump, x.get(5), newAck, x.get(7)));
        coalescer.flush();
        // [0 1] [gap] [3] [idJump] [5] [newAck] [7]: each break ends a run (3 is behind gap, 5's ID does not follow
        // idJump's, 7's ack differs from newAck's); nothing is lost or reordered
        assertThat(frames).hasSize(7);
        assertThat(superPackets).isEqualTo(1);
        final List<byte[]> back = resegment(frames);
        assertSamePackets(back, List.of(x.get(0), x.get(1), gap, x.get(3), idJump, x.get(5), newAck, x.get(7)));
    }

    @Test
    void aShortSegmentEndsTheRun() {
        final List<byte[]> a = stream(40005, 3, 1000, 1); // 1448, 1448, 1000+PSH
        final List<byte[]> fed = new ArrayList<>(a.subList(0, 2));
        final TestPackets.Tcp shortOne = new TestPackets.Tcp().payload(700, 1);
        shortOne.sport = 40005;
        shortOne.seq = 0x7ffff000 + 2 * MSS;
        shortOne.id = 3;
        fed.add(shortOne.build());
        final TestPackets.Tcp after = new TestPackets.Tcp().payload(MSS, 2);
        after.sport = 40005;
        after.seq = shortOne.seq + 700;
        after.id = 4;
        fed.add(after.build());
        feed(fed);
        coalescer.flush();
        assertThat(frames).hasSize(2);
        assertThat(new VirtioNetHdr().wrap(ByteBuffer.wrap(frames.get(0)), 0).gsoSize()).isEqualTo(MSS);
        assertSamePackets(resegment(frames), fed);
    }

    @Test
    void interleavedFlowsAreCoalescedSeparatelyAndKeepTheirOwnOrder() {
        final List<byte[]> a = stream(41000, 10, 300, 10);
        final List<byte[]> b = stream(42000, 10, 400, 2000);
        final List<byte[]> fed = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            fed.add(a.get(i));
            fed.add(b.get(i));
        }
        feed(fed);
        coalescer.flush();
        assertThat(frames).hasSize(2);
        final List<byte[]> back = resegment(frames);
        final List<byte[]> backA = back.stream().filter(p -> TestPackets.u16(p, 20) == 41000).toList();
        final List<byte[]> backB = back.stream().filter(p -> TestPackets.u16(p, 20) == 42000).toList();
        assertSamePackets(backA, a);
        assertSamePackets(backB, b);
    }

    @Test
    void withOneFlowSlotInterleavedFlowsEvictEachOtherButLoseNothing() {
        final TcpCoalescer one = create(1);
        final List<byte[]> a = stream(41001, 4, 300, 10);
        final List<byte[]> b = stream(42001, 4, 400, 2000);
        for (int i = 0; i < 4; i++) {
            for (byte[] p : List.of(a.get(i), b.get(i))) {
                one.add(in, place(p), p.length);
            }
        }
        one.flush();
        // a0 | b0 | a1 | b1 | a2 | b2 evicted in turn; a3 (PSH) goes out alone; b3 joins b2
        assertThat(frames).hasSize(7);
        final List<byte[]> back = resegment(frames);
        assertSamePackets(back.stream().filter(p -> TestPackets.u16(p, 20) == 41001).toList(), a);
        assertSamePackets(back.stream().filter(p -> TestPackets.u16(p, 20) == 42001).toList(), b);
    }

    @Test
    void finIsKeptOnTheLastSegment() {
        final List<byte[]> x = new ArrayList<>(stream(40006, 3, MSS, 1).subList(0, 2));
        final TestPackets.Tcp fin = new TestPackets.Tcp().payload(100, 9);
        fin.sport = 40006;
        fin.seq = 0x7ffff000 + 2 * MSS;
        fin.id = 3;
        fin.flags = ACK | FIN;
        x.add(fin.build());
        feed(x);
        assertThat(frames).hasSize(1); // a FIN ends the run at once, no flush needed
        assertThat(packet(frames.get(0))[33] & 0xff).isEqualTo(ACK | FIN);
        assertSamePackets(resegment(frames), x);
    }

    /** Segment {@code i} of an in-order flow from port {@code sport}: MSS bytes, sequence and IP ID counting up. */
    private static TestPackets.Tcp seg(final int sport, final int i) {
        final TestPackets.Tcp t = new TestPackets.Tcp().payload(MSS, sport * 100L + i);
        t.sport = sport;
        t.seq = 0x10000000 + i * MSS;
        t.id = 0x100 + i;
        return t;
    }

    private static VirtioNetHdr header(final byte[] frame) {
        return new VirtioNetHdr().wrap(ByteBuffer.wrap(frame), 0);
    }

    @Test
    void aCwrSegmentIsNeverMergedIntoARunAndEndsIt() {
        // tcp_gro_receive: "flush = flags & TCP_FLAG_CWR" — and TSO keeps CWR on the first segment only
        final TestPackets.Tcp cwr = seg(40010, 2);
        cwr.flags = ACK | CWR;
        final List<byte[]> x = List.of(seg(40010, 0).build(), seg(40010, 1).build(), cwr.build(),
            seg(40010, 3).build(), seg(40010, 4).build());
        feed(x);
        coalescer.flush();
        assertThat(frames).hasSize(3); // [0 1] [2, CWR, alone] [3 4]
        assertThat(packet(frames.get(1))).isEqualTo(x.get(2));
        assertThat(Arrays.copyOf(frames.get(1), 10)).containsOnly(0);
        assertThat(frames).allSatisfy(f -> assertThat(header(f).gsoType() & VirtioNetHdr.GSO_ECN).isZero());
        assertSamePackets(resegment(frames), x);
        assertThat(superPackets).isEqualTo(2);
    }

    @Test
    void segmentsWithAnotherTosTtlOrDfAreNotMerged() {
        final TestPackets.Tcp ce = seg(40011, 1);
        ce.tos = 0x03; // ECN CE, marked by a router on one segment only
        final TestPackets.Tcp ttl = seg(40011, 2);
        ttl.ttl = 63;
        final TestPackets.Tcp noDf = seg(40011, 3);
        noDf.df = false;
        final List<byte[]> x = List.of(seg(40011, 0).build(), ce.build(), ttl.build(), noDf.build(),
            seg(40011, 4).build(), seg(40011, 5).build());
        feed(x);
        coalescer.flush();
        assertThat(frames).hasSize(5); // 0 | 1 | 2 | 3 | [4 5]
        assertThat(superPackets).isEqualTo(1);
        assertSamePackets(resegment(frames), x);
    }

    @Test
    void ecnMarkedRunsMergeAndKeepTheirMark() {
        final List<byte[]> x = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            final TestPackets.Tcp t = seg(40012, i);
            t.tos = 0x2b; // DSCP 10, ECN CE on every segment
            x.add(t.build());
        }
        feed(x);
        coalescer.flush();
        assertThat(frames).hasSize(1);
        assertThat(packet(frames.get(0))[1]).isEqualTo((byte) 0x2b);
        assertSamePackets(resegment(frames), x);
    }

    @Test
    void segmentsWithOtherTimestampsWindowOrOptionLengthAreNotMerged() {
        final List<byte[]> x = new ArrayList<>();
        x.add(seg(40013, 0).build());
        for (int i = 1; i <= 4; i++) {
            final TestPackets.Tcp t = seg(40013, i);
            t.tcpOptions = TestPackets.timestamps(1001, 2000); // TSval moved on from segment 1
            t.window = i >= 3 ? 600 : t.window; // the window moved on from segment 3
            x.add(t.build());
        }
        final TestPackets.Tcp noOptions = seg(40013, 5);
        noOptions.tcpOptions = new byte[0];
        x.add(noOptions.build());
        feed(x);
        coalescer.flush();
        assertThat(frames).hasSize(4); // [0] [1 2] [3 4] [5]
        assertThat(superPackets).isEqualTo(2);
        assertSamePackets(resegment(frames), x);
    }

    @Test
    void eceIsMergedLikeAckAndKeptOnEverySegment() {
        final List<byte[]> x = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            final TestPackets.Tcp t = seg(40014, i);
            t.flags = i < 3 ? ACK | ECE : ACK;
            x.add(t.build());
        }
        feed(x);
        coalescer.flush();
        assertThat(frames).hasSize(2); // [0 1 2] with ECE, [3 4] without
        assertThat(packet(frames.get(0))[33] & 0xff).isEqualTo(ACK | ECE);
        assertThat(header(frames.get(0)).gsoType()).isEqualTo(VirtioNetHdr.GSO_TCPV4);
        assertSamePackets(resegment(frames), x);
    }

    @Test
    void aFixedIpIdIsNotMergedEvenWithDf() {
        // The kernel's GRO merges fixed-ID DF segments as SKB_GSO_TCP_FIXEDID, which a virtio_net_hdr cannot carry:
        // the kernel would re-segment the frame with incrementing IDs. Such segments stay single, byte for byte.
        final List<byte[]> x = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            final TestPackets.Tcp t = seg(40015, i);
            t.id = 0;
            x.add(t.build());
        }
        feed(x);
        coalescer.flush();
        assertThat(frames).hasSize(3);
        assertThat(superPackets).isZero();
        for (int i = 0; i < 3; i++) {
            assertThat(packet(frames.get(i))).isEqualTo(x.get(i));
        }
    }

    @Test
    void ipFragmentsPassUntouchedAfterTheirAddressPairIsFlushed() {
        final byte[] first = seg(40016, 2).build();
        TestPackets.put16(first, 6, 0x2000); // more fragments, offset 0: the TCP header is there
        TestPackets.fixIp(first);
        final byte[] later = seg(40016, 3).build();
        TestPackets.put16(later, 6, 13); // offset 104: no TCP header
        TestPackets.fixIp(later);
        final List<byte[]> x = List.of(seg(40016, 0).build(), seg(40016, 1).build(), first, later,
            seg(40016, 4).build(), seg(40016, 5).build());
        feed(x);
        coalescer.flush();
        assertThat(frames).hasSize(4); // [0 1] first later [4 5]
        assertThat(packet(frames.get(1))).isEqualTo(first);
        assertThat(packet(frames.get(2))).isEqualTo(later);
        assertThat(Arrays.copyOf(frames.get(1), 10)).containsOnly(0);
        assertThat(Arrays.copyOf(frames.get(2), 10)).containsOnly(0);
        assertThat(coalescer.passedThrough()).isEqualTo(2);
        assertSamePackets(resegment(frames), x);
    }

    @Test
    void anRstWithDataFlushesItsFlowAndPassesThrough() {
        final TestPackets.Tcp rst = seg(40017, 2);
        rst.flags = ACK | RST;
        final List<byte[]> x = List.of(seg(40017, 0).build(), seg(40017, 1).build(), rst.build());
        feed(x);
        assertThat(frames).hasSize(2); // the run first, then the RST: no flush needed
        assertThat(packet(frames.get(1))).isEqualTo(x.get(2));
        assertSamePackets(resegment(frames), x);
    }

    @Test
    void aSegmentLargerThanTheRunsGsoSizeStartsANewRun() {
        final List<byte[]> x = new ArrayList<>();
        int seq = 0x30000000;
        for (int i = 0; i < 5; i++) {
            final TestPackets.Tcp t = new TestPackets.Tcp().payload(i < 2 ? 1000 : MSS, i);
            t.sport = 40018;
            t.seq = seq;
            t.id = 7 + i;
            seq += t.payload.length;
            x.add(t.build());
        }
        feed(x);
        coalescer.flush();
        assertThat(frames).hasSize(2); // [1000 1000] [1448 1448 1448]
        assertThat(header(frames.get(0)).gsoSize()).isEqualTo(1000);
        assertThat(header(frames.get(1)).gsoSize()).isEqualTo(MSS);
        assertSamePackets(resegment(frames), x);
    }

    @Test
    void randomTrafficAlwaysSegmentsBackIntoExactlyThePacketsFedFlowByFlow() {
        for (long seed = 1; seed <= 6; seed++) {
            frames.clear();
            final TcpCoalescer two = create(2); // three flows: runs are evicted too
            final List<byte[]> x = RandomSegments.generate(seed, 1500);
            final java.util.Random flushes = new java.util.Random(seed);
            for (byte[] p : x) {
                assertThat(two.add(in, place(p), p.length)).isTrue();
                if (flushes.nextInt(40) == 0) {
                    two.flush(); // a receive batch ends
                }
            }
            two.flush();
            assertThat(superPackets).as("runs were merged").isPositive();
            for (byte[] f : frames) {
                assertThat(header(f).check(f.length - VirtioNetHdr.LENGTH)).isEqualTo(OffloadVerdict.OK);
            }
            final List<byte[]> back = resegment(frames);
            for (int flow : new int[] {-1, 50000, 50001, 50002}) {
                assertSamePackets(back.stream().filter(p -> RandomSegments.flow(p) == flow).toList(),
                    x.stream().filter(p -> RandomSegments.flow(p) == flow).toList());
            }
        }
    }

    @Test
    void oversizedInputIsCountedNotEmitted() {
        assertThat(coalescer.add(in, 0, 65536)).as("refused, for the caller to count").isFalse();
        assertThat(frames).isEmpty();
        assertThatThrownBy(() -> new TcpCoalescer(0, this::record)).hasMessageContaining("maxFlows");
        assertThatThrownBy(() -> new TcpCoalescer(8, null)).hasMessageContaining("sink");
    }
}
