package io.overlay.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The packet builder's own checksum and builders, against RFC 1071's example and fixed packets. */
class TestPacketsTest {
    @Test
    void onesSumMatchesRfc1071sNumericalExample() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2
        assertThat(TestPackets.onesSum(TestPackets.bytes("0001 f203 f4f5 f6f7"), 0, 8, 0)).isEqualTo(0xddf2);
        // an odd last byte counts as the high byte of a zero-padded word
        assertThat(TestPackets.onesSum(new byte[] {0x01}, 0, 1, 0)).isEqualTo(0x0100);
        assertThat(TestPackets.onesSum(new byte[] {(byte) 0xff, (byte) 0xff, 0x00, 0x01}, 0, 4, 0))
            .as("end-around carry").isEqualTo(0x0001);
    }

    @Test
    void fixedEchoRequestAndItsForwardedFormVerify() {
        for (String hex : List.of(TestPackets.ECHO_REQUEST, TestPackets.ECHO_REQUEST_FORWARDED)) {
            final byte[] p = TestPackets.bytes(hex);
            assertThat(TestPackets.ipChecksumOk(p)).isTrue();
            assertThat(TestPackets.onesSum(p, 20, p.length - 20, 0)).as("ICMP checksum").isEqualTo(0xffff);
        }
        final byte[] unreachable = TestPackets.bytes(TestPackets.NET_UNREACHABLE);
        assertThat(TestPackets.ipChecksumOk(unreachable)).isTrue();
        assertThat(TestPackets.onesSum(unreachable, 20, unreachable.length - 20, 0)).isEqualTo(0xffff);
    }

    @Test
    void icmpEchoIsAValidEchoRequestWithItsSequence() {
        final byte[] p = TestPackets.icmpEcho(TestPackets.SRC, TestPackets.DST, 7);
        assertThat(p).hasSize(84);
        assertThat(TestPackets.ipChecksumOk(p)).isTrue();
        assertThat(TestPackets.onesSum(p, 20, 64, 0)).as("ICMP checksum").isEqualTo(0xffff);
        assertThat(p[9]).isEqualTo((byte) TestPackets.PROTO_ICMP);
        assertThat(p[20]).as("type: echo request").isEqualTo((byte) 8);
        assertThat(TestPackets.u16(p, 26)).isEqualTo(7);
        assertThat(TestPackets.u32(p, 12)).isEqualTo(TestPackets.SRC);
        assertThat(TestPackets.u32(p, 16)).isEqualTo(TestPackets.DST);
        assertThat(TestPackets.u16(p, 4)).as("not 0, which a raw socket would replace").isEqualTo(TestPackets.ECHO_ID);
        final byte[] q = TestPackets.icmpEcho(TestPackets.SRC, TestPackets.DST, 0x5a17, 9, 36);
        assertThat(q).hasSize(36);
        assertThat(TestPackets.u16(q, 2)).isEqualTo(36);
        assertThat(TestPackets.ipChecksumOk(q)).isTrue();
        assertThat(TestPackets.onesSum(q, 20, 16, 0)).as("ICMP checksum").isEqualTo(0xffff);
        assertThat(TestPackets.u16(q, 24)).as("identifier").isEqualTo(0x5a17);
        assertThat(TestPackets.u16(q, 26)).as("sequence").isEqualTo(9);
        assertThat(TestPackets.icmpEcho(TestPackets.SRC, TestPackets.DST, 0, 7, 84)).isEqualTo(p);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> TestPackets.icmpEcho(1, 2, 0, 0, 27))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("got 27");
    }

    @Test
    void tcpAndUdpBuildersCompleteBothChecksumsAndSeedPartialLeavesThePseudoHeaderSum() {
        final TestPackets.Tcp t = new TestPackets.Tcp().payload(1001, 3);
        t.ipOptions = new byte[] {1, 1, 1, 0}; // NOP NOP NOP EOL
        for (byte[] p : List.of(t.build(), TestPackets.udp(7, 333, 1),
            TestPackets.udp(0x64400101, 1234, 0x64400202, 53, new byte[] {1, 2, 3}))) {
            assertThat(TestPackets.ipChecksumOk(p)).isTrue();
            assertThat(TestPackets.l4ChecksumOk(p)).isTrue();
            assertThat(TestPackets.u16(p, 2)).as("total length").isEqualTo(p.length);
            final byte[] partial = p.clone();
            TestPackets.seedPartial(partial);
            assertThat(TestPackets.l4ChecksumOk(partial)).isFalse();
            final int ihl = (p[0] & 0x0f) * 4;
            final int field = ihl + (p[9] == TestPackets.PROTO_TCP ? 16 : 6);
            assertThat(TestPackets.u16(partial, field)).isEqualTo(TestPackets.pseudoHeaderSum(ByteBuffer.wrap(p), 0,
                p.length, p[9]));
            TestPackets.fixL4(partial);
            assertThat(partial).isEqualTo(p);
        }
        assertThat(t.build()[0]).as("IHL counts the options").isEqualTo((byte) 0x46);
    }

    @Test
    void writeTcpWritesTheBuilderPacketAtTheOffset() {
        final ByteBuffer buf = ByteBuffer.allocate(200);
        final int n = TestPackets.writeTcp(buf, 13, 0x64400102, 0x64400203, 40000 << 16 | 5201, 9, 77, 100);
        assertThat(n).isEqualTo(140);
        final byte[] p = TestPackets.copy(buf, 13, n);
        assertThat(TestPackets.ipChecksumOk(p)).isTrue();
        assertThat(TestPackets.l4ChecksumOk(p)).isTrue();
        assertThat(TestPackets.u16(p, 20)).isEqualTo(40000);
        assertThat(TestPackets.u16(p, 22)).isEqualTo(5201);
        assertThat(TestPackets.u32(p, 24)).isEqualTo(77);
        assertThat(p[33]).isEqualTo((byte) TestPackets.ACK);
    }

    @Test
    void echoReplyInPlaceSwapsAddressesAndKeepsBothChecksumsValid() {
        final ByteBuffer b = ByteBuffer.wrap(TestPackets.bytes(TestPackets.ECHO_REQUEST));
        TestPackets.echoReplyInPlace(b);
        assertThat(TestPackets.src(b)).isEqualTo(0x64400909);
        assertThat(TestPackets.dst(b)).isEqualTo(0x64400101);
        assertThat(b.get(20)).as("echo reply").isZero();
        assertThat(TestPackets.ipChecksumOk(b)).isTrue();
        assertThat(TestPackets.onesSum(b, 20, 64, 0)).isEqualTo(0xffff);
    }

    @Test
    void hexDumpsArePairsSeparatedBySpacesWhateverTheWrittenForm() {
        assertThat(TestPackets.hex(new byte[] {0x45, 0, 0, 0x54})).isEqualTo("45 00 00 54");
        assertThat(TestPackets.hex("45 00 | 00\n 54")).isEqualTo("45 00 00 54");
        assertThat(TestPackets.hex(ByteBuffer.wrap(new byte[] {1, 2, 3}).position(1))).isEqualTo("02 03");
    }
}
