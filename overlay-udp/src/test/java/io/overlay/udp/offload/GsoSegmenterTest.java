package io.overlay.udp.offload;

import static io.overlay.testing.TestPackets.ACK;
import static io.overlay.testing.TestPackets.CWR;
import static io.overlay.testing.TestPackets.ECE;
import static io.overlay.testing.TestPackets.FIN;
import static io.overlay.testing.TestPackets.PSH;
import static io.overlay.testing.TestPackets.u16;
import static io.overlay.testing.TestPackets.u32;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class GsoSegmenterTest {
    private static final int MTU = 1500;
    private final GsoSegmenter segmenter = new GsoSegmenter(MTU);
    private final SegmentBatch out = new SegmentBatch(64, 2048);
    private final VirtioNetHdr hdr = new VirtioNetHdr();

    private OffloadVerdict segment(final byte[] packet, final int gsoType, final int gsoSize, final boolean csum,
                                   final ByteOrder order) {
        final ByteBuffer b = TestPackets.frame(packet, order);
        hdr.wrap(b, 0).clear().gsoType(gsoType).gsoSize(gsoSize).hdrLen(packet.length);
        if (csum) {
            final int ihl = (packet[0] & 0x0f) * 4;
            hdr.flags(VirtioNetHdr.FLAG_NEEDS_CSUM).csumStart(ihl).csumOffset(packet[9] == 6 ? 16 : 6);
        }
        return segmenter.segment(hdr, b, VirtioNetHdr.LENGTH, packet.length, out);
    }

    private static byte[] partial(final byte[] p) {
        final byte[] c = p.clone();
        TestPackets.seedPartial(c);
        return c;
    }

    @ParameterizedTest(name = "payload {0}, mss {1}, {2}")
    @CsvSource({
        "10000, 1448, BIG_ENDIAN", "10000, 1448, LITTLE_ENDIAN", "14480, 1448, BIG_ENDIAN", "1449, 1448, BIG_ENDIAN",
        "64000, 1448, LITTLE_ENDIAN", "65483, 1448, BIG_ENDIAN", "5001, 1000, BIG_ENDIAN", "3333, 537, BIG_ENDIAN"})
    void tcpSuperPacketIsCutAsTheKernelCutsIt(final int payload, final int mss, final String order) {
        final TestPackets.Tcp t = new TestPackets.Tcp().payload(payload, payload);
        t.flags = ACK | PSH | CWR | ECE;
        t.id = 0xfffe; // wraps after two segments
        t.seq = 0xfffff000; // wraps too
        final byte[] sp = partial(t.build());
        final int gso = VirtioNetHdr.GSO_TCPV4 | VirtioNetHdr.GSO_ECN;

        assertThat(segment(sp, gso, mss, true, order.equals("BIG_ENDIAN") ? ByteOrder.BIG_ENDIAN
            : ByteOrder.LITTLE_ENDIAN)).isEqualTo(OffloadVerdict.OK);

        final List<byte[]> segs = Segments.of(out);
        final int n = (payload + mss - 1) / mss;
        assertThat(segs).hasSize(n);
        final int hl = 20 + 32;
        for (int i = 0; i < n; i++) {
            final byte[] s = segs.get(i);
            final int chunk = Math.min(mss, payload - i * mss);
            assertThat(s.length).isEqualTo(hl + chunk);
            assertThat(u16(s, 2)).as("tot_len").isEqualTo(hl + chunk);
            assertThat(u16(s, 4)).as("IP ID").isEqualTo((0xfffe + i) & 0xffff);
            assertThat(u32(s, 24)).as("seq").isEqualTo(0xfffff000 + i * mss);
            final int expectFlags = ACK | ECE | (i == 0 ? CWR : 0) | (i == n - 1 ? PSH : 0);
            assertThat(s[33] & 0xff).as("flags of segment " + i).isEqualTo(expectFlags);
            assertThat(TestPackets.ipChecksumOk(s)).as("IP checksum of segment " + i).isTrue();
            assertThat(TestPackets.l4ChecksumOk(s)).as("TCP checksum of segment " + i).isTrue();
            assertThat(Arrays.copyOfRange(s, hl, s.length))
                .isEqualTo(Arrays.copyOfRange(t.payload, i * mss, i * mss + chunk));
            // everything else in the headers is the super-packet's: TOS, DF, TTL, addresses, ports, ack, window,
            // options
            final byte[] expectHeader = Arrays.copyOf(sp, hl);
            final byte[] header = Arrays.copyOf(s, hl);
            for (int at : new int[] {2, 3, 4, 5, 10, 11, 24, 25, 26, 27, 33, 36, 37}) {
                expectHeader[at] = 0;
                header[at] = 0;
            }
            assertThat(header).isEqualTo(expectHeader);
        }
    }

    @ParameterizedTest(name = "payload {0}, mss {1}")
    @CsvSource({"10000, 1448", "1449, 1448", "65483, 1448", "3333, 537", "1000, 1448"})
    void splitSegmentsAreTheSameBytesWithThePayloadLeftInPlace(final int payload, final int mss) {
        final TestPackets.Tcp t = new TestPackets.Tcp().payload(payload, payload + 1);
        t.flags = ACK | PSH;
        final byte[] sp = partial(t.build());
        assertThat(segment(sp, VirtioNetHdr.GSO_TCPV4, mss, true, ByteOrder.BIG_ENDIAN)).isEqualTo(OffloadVerdict.OK);
        final List<String> copied = Segments.of(out).stream().map(TestPackets::hex).toList();

        final ByteBuffer b = TestPackets.frame(sp, ByteOrder.BIG_ENDIAN);
        hdr.wrap(b, 0).clear().gsoType(VirtioNetHdr.GSO_TCPV4).gsoSize(mss).hdrLen(sp.length)
            .flags(VirtioNetHdr.FLAG_NEEDS_CSUM).csumStart(20).csumOffset(16);
        assertThat(segmenter.segmentInPlace(hdr, b, VirtioNetHdr.LENGTH, sp.length, out)).isEqualTo(OffloadVerdict.OK);
        assertThat(Segments.of(out).stream().map(TestPackets::hex).toList()).containsExactlyElementsOf(copied);
        final int hl = 20 + 32;
        for (int i = 0; i < out.count(); i++) {
            if (payload > mss) {
                assertThat(out.headLength(i)).as("only headers copied").isEqualTo(hl);
                assertThat(out.tailBuffer()).isSameAs(b);
                assertThat(out.tailOffset(i)).isEqualTo(VirtioNetHdr.LENGTH + hl + i * mss);
            } else {
                assertThat(out.tailLength(i)).as("one segment: copied whole").isZero();
            }
        }
    }

    @Test
    void finStaysOnTheLastSegmentOnlyAndAccEcnKeepsCwrEverywhere() {
        final TestPackets.Tcp t = new TestPackets.Tcp().payload(4000, 7);
        t.flags = ACK | FIN | CWR;
        final byte[] sp = t.build();
        assertThat(segment(sp, VirtioNetHdr.GSO_TCPV4 | VirtioNetHdr.GSO_ACCECN, 1400, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.OK);
        final List<byte[]> segs = Segments.of(out);
        assertThat(segs).extracting(s -> s[33] & 0xff).containsExactly(ACK | CWR, ACK | CWR, ACK | CWR | FIN);
        assertThat(segs).allMatch(TestPackets::l4ChecksumOk);
    }

    @Test
    void ipOptionsAreCopiedIntoEverySegment() {
        final TestPackets.Tcp t = new TestPackets.Tcp().payload(3000, 3);
        t.ipOptions = new byte[] {1, 1, 1, 0}; // NOP NOP NOP EOL
        final byte[] sp = t.build();
        assertThat(segment(sp, VirtioNetHdr.GSO_TCPV4, 1400, false, ByteOrder.BIG_ENDIAN)).isEqualTo(OffloadVerdict.OK);
        final List<byte[]> segs = Segments.of(out);
        assertThat(segs).hasSize(3).allMatch(TestPackets::ipChecksumOk).allMatch(TestPackets::l4ChecksumOk);
        assertThat(segs).allMatch(s -> s[0] == 0x46 && s[20] == 1 && s[23] == 0);
    }

    @Test
    void segmentsConcatenateBackToTheStream() {
        final TestPackets.Tcp t = new TestPackets.Tcp().payload(65483, 11);
        assertThat(segment(partial(t.build()), VirtioNetHdr.GSO_TCPV4, 1448, true, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.OK);
        final List<byte[]> payloads = Segments.of(out).stream().map(s -> TestPackets.slice(s, 52)).toList();
        assertThat(TestPackets.concat(payloads)).isEqualTo(t.payload);
    }

    @Test
    void aGsoPacketThatFitsOneSegmentOnlyGetsItsChecksumCompleted() {
        final byte[] full = new TestPackets.Tcp().payload(1000, 5).build();
        assertThat(segment(partial(full), VirtioNetHdr.GSO_TCPV4, 1448, true, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.OK);
        assertThat(Segments.of(out)).hasSize(1).first().isEqualTo(full);
    }

    @Test
    void aPlainPacketIsCopiedUnchanged() {
        final byte[] p = TestPackets.udp(7, 333, 1);
        assertThat(segment(p, VirtioNetHdr.GSO_NONE, 0, false, ByteOrder.BIG_ENDIAN)).isEqualTo(OffloadVerdict.OK);
        assertThat(Segments.of(out)).hasSize(1).first().isEqualTo(p);
    }

    @Test
    void needsCsumWithoutGsoIsCompletedForTcpAndUdp() {
        for (byte[] full : List.of(new TestPackets.Tcp().payload(777, 9).build(), TestPackets.udp(9, 555, 2))) {
            assertThat(segment(partial(full), VirtioNetHdr.GSO_NONE, 0, true, ByteOrder.LITTLE_ENDIAN))
                .isEqualTo(OffloadVerdict.OK);
            assertThat(Segments.of(out)).hasSize(1).first().isEqualTo(full);
        }
    }

    @Test
    void completeChecksumWorksInPlace() {
        final byte[] full = new TestPackets.Tcp().payload(100, 1).build();
        final ByteBuffer b = TestPackets.frame(partial(full), ByteOrder.BIG_ENDIAN);
        hdr.wrap(b, 0).clear().flags(VirtioNetHdr.FLAG_NEEDS_CSUM).csumStart(20).csumOffset(16);
        assertThat(GsoSegmenter.completeChecksum(hdr, b, VirtioNetHdr.LENGTH, full.length))
            .isEqualTo(OffloadVerdict.OK);
        final byte[] got = new byte[full.length];
        b.get(VirtioNetHdr.LENGTH, got);
        assertThat(got).isEqualTo(full);
        hdr.gsoType(VirtioNetHdr.GSO_TCPV4).gsoSize(10);
        assertThat(GsoSegmenter.completeChecksum(hdr, b, VirtioNetHdr.LENGTH, full.length))
            .isEqualTo(OffloadVerdict.UNSUPPORTED_GSO_TYPE);
    }

    @Test
    void aZeroUdpChecksumIsSentAsAllOnes() {
        // find a UDP payload whose checksum computes to 0: vary the first payload word until it does
        final byte[] p = TestPackets.udp(1, 40, 3);
        TestPackets.put16(p, 28, 0);
        TestPackets.put16(p, 26, 0);
        final int sum = TestPackets.onesSum(p, 20, p.length - 20, TestPackets.pseudo(p, 17, p.length - 20));
        TestPackets.put16(p, 28, ~sum & 0xffff); // now the data sums to 0xffff: the checksum computes to 0
        final byte[] seeded = partial(p);
        assertThat(segment(seeded, VirtioNetHdr.GSO_NONE, 0, true, ByteOrder.BIG_ENDIAN)).isEqualTo(OffloadVerdict.OK);
        final byte[] s = Segments.of(out).get(0);
        assertThat(u16(s, 26)).isEqualTo(0xffff);
        assertThat(TestPackets.l4ChecksumOk(s)).isTrue();
    }

    @Test
    void usoSuperPacketBecomesWholeDatagrams() {
        final byte[] full = TestPackets.udp(0x8000, 4000, 21);
        assertThat(segment(partial(full), VirtioNetHdr.GSO_UDP_L4, 1400, true, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.OK);
        final List<byte[]> segs = Segments.of(out);
        assertThat(segs).hasSize(3).extracting(s -> s.length).containsExactly(1428, 1428, 1228);
        assertThat(segs).extracting(s -> u16(s, 4)).containsExactly(0x8000, 0x8001, 0x8002);
        assertThat(segs).extracting(s -> u16(s, 24)).containsExactly(1408, 1408, 1208);
        assertThat(segs).allMatch(TestPackets::ipChecksumOk).allMatch(TestPackets::l4ChecksumOk);
        assertThat(TestPackets.concat(segs.stream().map(s -> TestPackets.slice(s, 28)).toList()))
            .isEqualTo(TestPackets.slice(full, 28));
    }

    @Test
    void malformedFramesAreRefusedAndLeaveTheBatchEmpty() {
        final byte[] good = new TestPackets.Tcp().payload(5000, 1).build();
        // header problems
        assertThat(segment(good, 2, 1400, false, ByteOrder.BIG_ENDIAN)).isEqualTo(OffloadVerdict.UNKNOWN_GSO_TYPE);
        assertThat(out.count()).isZero();
        assertThat(segment(good, VirtioNetHdr.GSO_TCPV4, 0, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.ZERO_GSO_SIZE);
        assertThat(segment(good, VirtioNetHdr.GSO_TCPV6, 1400, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.UNSUPPORTED_GSO_TYPE);
        assertThat(segment(good, VirtioNetHdr.GSO_UDP, 1400, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.UNSUPPORTED_GSO_TYPE);
        // IPv4 problems
        final byte[] badLen = good.clone();
        TestPackets.put16(badLen, 2, good.length - 1);
        assertThat(segment(badLen, VirtioNetHdr.GSO_TCPV4, 1400, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.BAD_IPV4);
        final byte[] v6 = good.clone();
        v6[0] = 0x65;
        assertThat(segment(v6, VirtioNetHdr.GSO_TCPV4, 1400, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.BAD_IPV4);
        final byte[] frag = good.clone();
        TestPackets.put16(frag, 6, 0x2000);
        assertThat(segment(frag, VirtioNetHdr.GSO_TCPV4, 1400, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.BAD_IPV4);
        assertThat(segment(Arrays.copyOf(good, 19), VirtioNetHdr.GSO_NONE, 0, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.BAD_IPV4);
        // transport problems
        assertThat(segment(TestPackets.udp(1, 5000, 1), VirtioNetHdr.GSO_TCPV4, 1400, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.BAD_TRANSPORT);
        final byte[] shortDoff = good.clone();
        shortDoff[32] = 0x40; // data offset 4 words
        assertThat(segment(shortDoff, VirtioNetHdr.GSO_TCPV4, 1400, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.BAD_TRANSPORT);
        final ByteBuffer b = TestPackets.frame(good, ByteOrder.BIG_ENDIAN);
        hdr.wrap(b, 0).clear().gsoType(VirtioNetHdr.GSO_TCPV4).gsoSize(1400).flags(VirtioNetHdr.FLAG_NEEDS_CSUM)
            .csumStart(24).csumOffset(16);
        assertThat(segmenter.segment(hdr, b, VirtioNetHdr.LENGTH, good.length, out))
            .isEqualTo(OffloadVerdict.BAD_CSUM_OFFSETS);
        // size problems
        assertThat(segment(good, VirtioNetHdr.GSO_TCPV4, 1449, false, ByteOrder.BIG_ENDIAN))
            .isEqualTo(OffloadVerdict.SEGMENT_EXCEEDS_MTU);
        assertThat(segment(new TestPackets.Tcp().payload(2000, 1).build(), VirtioNetHdr.GSO_NONE, 0, false,
            ByteOrder.BIG_ENDIAN)).isEqualTo(OffloadVerdict.SEGMENT_EXCEEDS_MTU);
        assertThat(segment(new TestPackets.Tcp().payload(65000, 1).build(), VirtioNetHdr.GSO_TCPV4, 536, false,
            ByteOrder.BIG_ENDIAN)).isEqualTo(OffloadVerdict.TOO_MANY_SEGMENTS);
        assertThat(out.count()).isZero();
    }

    @Test
    void segmentsArePackedBackToBack() {
        final byte[] sp = new TestPackets.Tcp().payload(5000, 3).build();
        assertThat(segment(sp, VirtioNetHdr.GSO_TCPV4, 1448, false, ByteOrder.BIG_ENDIAN)).isEqualTo(OffloadVerdict.OK);
        assertThat(out.count()).isEqualTo(4);
        int at = 0;
        for (int i = 0; i < out.count(); i++) {
            assertThat(out.offset(i)).isEqualTo(at);
            at += out.length(i);
        }
        assertThat(at).isEqualTo(3 * 1500 + 52 + 5000 - 3 * 1448);
        final byte[] all = new byte[at];
        out.buffer().get(0, all);
        assertThat(all).isEqualTo(TestPackets.concat(Segments.of(out)));
        out.clear();
        assertThat(out.count()).isZero();
        assertThatThrownBy(() -> out.offset(0)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void badConstructionArgumentsAreNamed() {
        assertThatThrownBy(() -> new GsoSegmenter(67)).hasMessageContaining("MTU");
        assertThatThrownBy(() -> new SegmentBatch(0, 1500)).hasMessageContaining("slots");
        assertThatThrownBy(() -> new SegmentBatch(4, 20)).hasMessageContaining("slotSize");
        assertThatThrownBy(() -> out.length(0)).isInstanceOf(IndexOutOfBoundsException.class);
    }
}
