package io.overlay.udp.offload;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class VirtioNetHdrTest {
    private final VirtioNetHdr hdr = new VirtioNetHdr();

    private VirtioNetHdr tcp(final ByteBuffer b) {
        return hdr.wrap(b, 3).clear().flags(VirtioNetHdr.FLAG_NEEDS_CSUM).gsoType(VirtioNetHdr.GSO_TCPV4)
            .hdrLen(52).gsoSize(1448).csumStart(20).csumOffset(16);
    }

    @ParameterizedTest
    @EnumSource(names = {"BIG_ENDIAN", "LITTLE_ENDIAN"}, value = ByteOrderName.class)
    void fieldsAreLittleEndianAtTheirOffsetsWhateverTheBufferOrder(final ByteOrderName order) {
        final ByteBuffer b = ByteBuffer.allocateDirect(16).order(order.order);
        tcp(b);
        final byte[] raw = new byte[10];
        b.get(3, raw);
        // flags, gso_type, hdr_len=52 LE, gso_size=1448 (0x05a8) LE, csum_start=20 LE, csum_offset=16 LE
        assertThat(raw).containsExactly(1, 1, 52, 0, (byte) 0xa8, 0x05, 20, 0, 16, 0);
        assertThat(hdr.flags()).isEqualTo(1);
        assertThat(hdr.gsoType()).isEqualTo(VirtioNetHdr.GSO_TCPV4);
        assertThat(hdr.hdrLen()).isEqualTo(52);
        assertThat(hdr.gsoSize()).isEqualTo(1448);
        assertThat(hdr.csumStart()).isEqualTo(20);
        assertThat(hdr.csumOffset()).isEqualTo(16);
        assertThat(hdr.isGso()).isTrue();
        assertThat(hdr.needsChecksum()).isTrue();
        assertThat(b.get(2)).isZero();
        assertThat(b.get(13)).isZero();
    }

    enum ByteOrderName {
        BIG_ENDIAN(ByteOrder.BIG_ENDIAN), LITTLE_ENDIAN(ByteOrder.LITTLE_ENDIAN);

        final ByteOrder order;

        ByteOrderName(final ByteOrder order) {
            this.order = order;
        }
    }

    @Test
    void sixteenBitFieldsKeepTheirHighByte() {
        final ByteBuffer b = ByteBuffer.allocateDirect(10);
        hdr.wrap(b, 0).clear().gsoSize(0xfedc).csumStart(0xffff);
        assertThat(hdr.gsoSize()).isEqualTo(0xfedc);
        assertThat(hdr.csumStart()).isEqualTo(0xffff);
    }

    @Test
    void clearZeroesAllTenBytes() {
        final ByteBuffer b = ByteBuffer.allocateDirect(12);
        for (int i = 0; i < 12; i++) {
            b.put(i, (byte) 0x5a);
        }
        hdr.wrap(b, 1).clear();
        for (int i = 1; i < 11; i++) {
            assertThat(b.get(i)).isZero();
        }
        assertThat(b.get(0)).isEqualTo((byte) 0x5a);
        assertThat(b.get(11)).isEqualTo((byte) 0x5a);
        assertThat(hdr.check(60)).isEqualTo(OffloadVerdict.OK);
    }

    @Test
    void aWellFormedTsoHeaderIsAccepted() {
        tcp(ByteBuffer.allocateDirect(16));
        assertThat(hdr.check(65535)).isEqualTo(OffloadVerdict.OK);
        hdr.gsoType(VirtioNetHdr.GSO_TCPV4 | VirtioNetHdr.GSO_ECN);
        assertThat(hdr.check(3000)).isEqualTo(OffloadVerdict.OK);
        hdr.gsoType(VirtioNetHdr.GSO_TCPV4 | VirtioNetHdr.GSO_ACCECN);
        assertThat(hdr.check(3000)).isEqualTo(OffloadVerdict.OK);
    }

    @Test
    void kernelStyleHdrLenCoveringTheWholeLinearPacketIsAccepted() {
        tcp(ByteBuffer.allocateDirect(16)).hdrLen(3000); // virtio_net_hdr_from_skb writes skb_headlen: a hint
        assertThat(hdr.check(3000)).isEqualTo(OffloadVerdict.OK);
    }

    @Test
    void malformedHeadersAreRejectedWithTheirReason() {
        final ByteBuffer b = ByteBuffer.allocateDirect(16);
        assertThat(tcp(b).flags(4).check(3000)).isEqualTo(OffloadVerdict.UNKNOWN_FLAGS);
        assertThat(tcp(b).flags(0x81).check(3000)).isEqualTo(OffloadVerdict.UNKNOWN_FLAGS);
        assertThat(tcp(b).gsoType(2).check(3000)).isEqualTo(OffloadVerdict.UNKNOWN_GSO_TYPE);
        assertThat(tcp(b).gsoType(6).check(3000)).isEqualTo(OffloadVerdict.UNKNOWN_GSO_TYPE);
        assertThat(tcp(b).gsoType(0x21).check(3000)).isEqualTo(OffloadVerdict.UNKNOWN_GSO_TYPE); // UDP tunnel
        assertThat(tcp(b).gsoType(VirtioNetHdr.GSO_UDP_L4 | VirtioNetHdr.GSO_ECN).csumOffset(6).check(3000))
            .isEqualTo(OffloadVerdict.UNKNOWN_GSO_TYPE);
        assertThat(tcp(b).gsoType(VirtioNetHdr.GSO_ECN).check(3000)).isEqualTo(OffloadVerdict.UNKNOWN_GSO_TYPE);
        assertThat(tcp(b).gsoSize(0).check(3000)).isEqualTo(OffloadVerdict.ZERO_GSO_SIZE);
        assertThat(tcp(b).csumStart(19).check(3000)).isEqualTo(OffloadVerdict.BAD_CSUM_OFFSETS);
        assertThat(tcp(b).csumStart(2983).check(3000)).isEqualTo(OffloadVerdict.BAD_CSUM_OFFSETS);
        assertThat(tcp(b).csumStart(2982).csumOffset(16).gsoType(0).check(3000)).isEqualTo(OffloadVerdict.OK);
        assertThat(tcp(b).csumOffset(6).check(3000)).isEqualTo(OffloadVerdict.BAD_CSUM_OFFSETS);
        assertThat(tcp(b).hdrLen(3001).check(3000)).isEqualTo(OffloadVerdict.BAD_HDR_LEN);
        assertThat(tcp(b).check(65536)).isEqualTo(OffloadVerdict.PACKET_TOO_LARGE);
    }

    @Test
    void usoNeedsAPartialUdpChecksum() {
        final ByteBuffer b = ByteBuffer.allocateDirect(16);
        tcp(b).gsoType(VirtioNetHdr.GSO_UDP_L4).csumOffset(6);
        assertThat(hdr.check(3000)).isEqualTo(OffloadVerdict.OK);
        assertThat(hdr.flags(0).check(3000)).isEqualTo(OffloadVerdict.BAD_CSUM_OFFSETS);
        assertThat(tcp(b).gsoType(VirtioNetHdr.GSO_UDP_L4).csumOffset(16).check(3000))
            .isEqualTo(OffloadVerdict.BAD_CSUM_OFFSETS);
    }

    @Test
    void toStringNamesTheFields() {
        tcp(ByteBuffer.allocateDirect(16));
        assertThat(hdr.toString()).contains("gso_type=0x1", "gso_size=1448", "csum_start=20");
    }
}
