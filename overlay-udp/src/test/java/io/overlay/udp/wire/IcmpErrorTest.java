package io.overlay.udp.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class IcmpErrorTest {
    private final Ipv4Header header = new Ipv4Header();

    @Test
    void buildsNetUnreachableByteForByte() {
        final ByteBuffer in = TestPackets.buffer(TestPackets.ECHO_REQUEST, 7);
        final ByteBuffer out = ByteBuffer.allocate(200);
        header.wrap(in, 7);
        assertThat(IcmpError.mayAnswer(header, in, 7)).isTrue();
        final int length = IcmpError.write(header, in, 7, in.limit() - 7, out, 11, IcmpError.MAX_LENGTH);
        assertThat(length).as("the whole 84-byte request quoted").isEqualTo(112);
        assertThat(TestPackets.copy(out, 11, length)).isEqualTo(TestPackets.bytes(TestPackets.NET_UNREACHABLE));
        assertThat(InetChecksum.checksum(out, 11, 20)).isZero();
        assertThat(InetChecksum.checksum(out, 31, length - 20)).isZero();
    }

    @Test
    void buildsTimeExceededFromTheGivenSourceWithTtl64() {
        final ByteBuffer in = TestPackets.buffer(TestPackets.ECHO_REQUEST, 3);
        in.put(3 + Ipv4Header.TTL_OFFSET, (byte) 1);
        header.wrap(in, 3).updateChecksum();
        final ByteBuffer out = ByteBuffer.allocate(200);
        final int source = 0x64400900; // 100.64.9.0, the destination host's TUN address
        final int length = IcmpError.writeTimeExceeded(header, in, 3, in.limit() - 3, out, 5, IcmpError.MAX_LENGTH,
            source);
        assertThat(length).isEqualTo(112);
        assertThat(out.getShort(5 + 2)).as("total length").isEqualTo((short) 112);
        assertThat(out.get(5 + 8)).as("TTL").isEqualTo((byte) 64);
        assertThat(out.get(5 + 9)).as("ICMP").isEqualTo((byte) 1);
        assertThat(out.getInt(5 + 12)).isEqualTo(source);
        assertThat(out.getInt(5 + 16)).as("to the offender's source").isEqualTo(header.source());
        assertThat(out.get(5 + 20)).as("type time exceeded").isEqualTo((byte) 11);
        assertThat(out.get(5 + 21)).as("code TTL exceeded in transit").isZero();
        assertThat(out.getInt(5 + 24)).as("unused").isZero();
        assertThat(TestPackets.copy(out, 5 + 28, 84)).as("the whole offender, TTL 1")
            .isEqualTo(TestPackets.copy(in, 3, 84));
        assertThat(InetChecksum.checksum(out, 5, 20)).isZero();
        assertThat(InetChecksum.checksum(out, 25, length - 20)).isZero();
    }

    /**
     * RFC 1812 §4.3.2.5: a Time Exceeded SHOULD carry precedence 6 (INTERNETWORK CONTROL). Linux's {@code icmp_send}
     * ({@code net/ipv4/icmp.c}) sends {@code RT_TOS(offender) | IPTOS_PREC_INTERNETCONTROL}: the offender's bits under
     * {@code IPTOS_TOS_MASK} 0x1e with precedence 6. The kernel hops of an overlay path (Linux 6.18) answer probes with
     * TOS 0x00, 0xb8, 0x03, 0xff, 0x1c, 0x60 with 0xc0, 0xd8, 0xc2, 0xde, 0xdc, 0xc0; the engine's hops must too.
     * flannel's net unreachable keeps TOS 0 ({@link #buildsNetUnreachableByteForByte}).
     */
    @Test
    void timeExceededHasInternetworkControlPrecedenceAndTheOffendersTosBitsAsLinuxSendsIt() {
        final int[][] tosToAnswer = {{0x00, 0xc0}, {0xb8, 0xd8}, {0x03, 0xc2}, {0xff, 0xde}, {0x1c, 0xdc},
            {0x60, 0xc0}};
        for (int[] c : tosToAnswer) {
            final ByteBuffer in = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
            in.put(Ipv4Header.TOS_OFFSET, (byte) c[0]);
            in.put(Ipv4Header.TTL_OFFSET, (byte) 1);
            header.wrap(in, 0).updateChecksum();
            final ByteBuffer out = ByteBuffer.allocate(200);
            IcmpError.writeTimeExceeded(header, in, 0, in.limit(), out, 0, IcmpError.MAX_LENGTH, 0x64400900);
            assertThat(out.get(Ipv4Header.TOS_OFFSET) & 0xff).as("TOS answering 0x%02x", c[0]).isEqualTo(c[1]);
            assertThat(InetChecksum.checksum(out, 0, 20)).isZero();
            assertThat(out.get(28 + Ipv4Header.TOS_OFFSET) & 0xff).as("quoted as it arrived").isEqualTo(c[0]);
        }
    }

    @Test
    void quotesFewerBytesWhenThePayloadIsShort() {
        // 24-byte packet: header + 4 payload bytes (a UDP header fragment), protocol 17.
        final String hex = "450000180000000040110000644001016440090901020304";
        final ByteBuffer in = TestPackets.buffer(hex, 0);
        in.putShort(10, (short) InetChecksum.ipv4Header(in, 0, 20));
        header.wrap(in, 0);
        final ByteBuffer out = ByteBuffer.allocate(200);
        final int length = IcmpError.write(header, in, 0, in.limit(), out, 0, IcmpError.MAX_LENGTH);
        assertThat(length).isEqualTo(20 + 8 + 24);
        assertThat(out.getShort(2)).isEqualTo((short) 52);
        assertThat(TestPackets.copy(out, 28, 24)).isEqualTo(TestPackets.copy(in, 0, 24));
        assertThat(InetChecksum.checksum(out, 20, 32)).isZero();
    }

    /**
     * RFC 1812 §4.3.2.3: a router's ICMP error SHOULD quote as much of the offender as fits without the error
     * exceeding 576 bytes; Linux's {@code icmp_send} ({@code net/ipv4/icmp.c}) quotes 576 - 20 - 8 = 548 bytes.
     */
    @Test
    void quotesTheFirst548BytesOfALargeOffenderIn576Bytes() {
        final byte[] packet = TestPackets.udp(7, 1000 - 28, 3);
        final ByteBuffer in = ByteBuffer.allocate(5 + packet.length).put(5, packet);
        header.wrap(in, 5);
        final ByteBuffer out = ByteBuffer.allocate(2000);
        final int length = IcmpError.write(header, in, 5, in.limit() - 5, out, 9, IcmpError.MAX_LENGTH);
        assertThat(length).isEqualTo(576);
        assertThat(out.getShort(9 + 2) & 0xffff).as("total length").isEqualTo(576);
        assertThat(TestPackets.copy(out, 9 + 28, 548)).as("the offender's first 548 bytes")
            .isEqualTo(Arrays.copyOf(packet, 548));
        assertThat(InetChecksum.checksum(out, 9, 20)).as("IP checksum").isZero();
        assertThat(InetChecksum.checksum(out, 9 + 20, 556)).as("ICMP checksum").isZero();

        in.put(5 + Ipv4Header.TTL_OFFSET, (byte) 1);
        header.updateChecksum();
        final int exceeded = IcmpError.writeTimeExceeded(header, in, 5, in.limit() - 5, out, 0, IcmpError.MAX_LENGTH,
            0x64400900);
        assertThat(exceeded).as("time exceeded").isEqualTo(576);
        assertThat(TestPackets.copy(out, 28, 548)).isEqualTo(TestPackets.copy(in, 5, 548));
        assertThat(InetChecksum.checksum(out, 0, 20)).isZero();
        assertThat(InetChecksum.checksum(out, 20, 556)).isZero();
    }

    @Test
    void quotesAnOffenderThatFitsWhole() {
        final byte[] packet = TestPackets.udp(7, 100 - 28, 4);
        final ByteBuffer in = ByteBuffer.allocate(packet.length + 64).put(0, packet);
        header.wrap(in, 0);
        final ByteBuffer out = ByteBuffer.allocate(2000);
        final int length = IcmpError.write(header, in, 0, in.limit(), out, 0, IcmpError.MAX_LENGTH);
        assertThat(length).isEqualTo(20 + 8 + 100);
        assertThat(out.getShort(2)).isEqualTo((short) 128);
        assertThat(TestPackets.copy(out, 28, 100)).isEqualTo(packet);
        assertThat(InetChecksum.checksum(out, 0, 20)).isZero();
        assertThat(InetChecksum.checksum(out, 20, 108)).isZero();
        assertThat(out.get(128)).as("nothing past the offender's total length (64 spare bytes are zero)").isZero();
    }

    @Test
    void quotesAHeaderWithOptionsFromItsFirstByte() {
        final TestPackets.Tcp t = new TestPackets.Tcp().payload(1000 - 60 - 32, 5);
        t.ipOptions = new byte[40];
        Arrays.fill(t.ipOptions, (byte) 1); // NOP
        final byte[] packet = t.build();
        assertThat(packet).hasSize(1000);
        assertThat(packet[0]).as("IHL 15: 60 bytes").isEqualTo((byte) 0x4f);
        final ByteBuffer in = ByteBuffer.wrap(packet);
        header.wrap(in, 0);
        final ByteBuffer out = ByteBuffer.allocate(2000);
        final int length = IcmpError.write(header, in, 0, in.limit(), out, 0, IcmpError.MAX_LENGTH);
        assertThat(length).isEqualTo(576);
        assertThat(out.get(0)).as("the message's own header has no options").isEqualTo((byte) 0x45);
        assertThat(TestPackets.copy(out, 28, 548)).isEqualTo(Arrays.copyOf(packet, 548));
        assertThat(InetChecksum.checksum(out, 0, 20)).isZero();
        assertThat(InetChecksum.checksum(out, 20, 556)).isZero();
    }

    @Test
    void neverReadsPastTheEndOfATruncatedOffender() {
        final byte[] packet = TestPackets.udp(7, 1000 - 28, 6);
        final ByteBuffer in = ByteBuffer.wrap(Arrays.copyOf(packet, 300)); // claims 1000 bytes, holds 300
        header.wrap(in, 0);
        assertThat(header.totalLength()).isEqualTo(1000);
        final ByteBuffer out = ByteBuffer.allocate(2000);
        final int length = IcmpError.write(header, in, 0, in.limit(), out, 0, IcmpError.MAX_LENGTH);
        assertThat(length).as("the 300 bytes present").isEqualTo(20 + 8 + 300);
        assertThat(TestPackets.copy(out, 28, 300)).isEqualTo(Arrays.copyOf(packet, 300));
        assertThat(InetChecksum.checksum(out, 20, 308)).isZero();
    }

    /**
     * The caller bounds the quote: a split TSO segment holds only its headers at the offset, a loop's MTU below 576
     * caps the message (Linux: room = min(route MTU, 576)), and RFC 792's header and 8 bytes always stay.
     */
    @Test
    void quotesOnlyThePresentBytesAndFitsTheGivenMaxLength() {
        final byte[] packet = TestPackets.udp(7, 1000 - 28, 8);
        final ByteBuffer in = ByteBuffer.wrap(packet);
        header.wrap(in, 0);
        final ByteBuffer out = ByteBuffer.allocate(2000);
        assertThat(IcmpError.write(header, in, 0, 52, out, 0, IcmpError.MAX_LENGTH)).as("52 bytes present")
            .isEqualTo(28 + 52);
        assertThat(InetChecksum.checksum(out, 20, 60)).isZero();
        assertThat(IcmpError.writeTimeExceeded(header, in, 0, 1000, out, 0, 400, 0x64400900)).as("MTU 400")
            .isEqualTo(400);
        assertThat(TestPackets.copy(out, 28, 372)).isEqualTo(Arrays.copyOf(packet, 372));
        assertThat(InetChecksum.checksum(out, 20, 380)).isZero();
        assertThat(IcmpError.write(header, in, 0, 1000, out, 0, 68)).as("MTU 68").isEqualTo(68);
        assertThat(IcmpError.write(header, in, 0, 1000, out, 0, 40)).as("never below header and 8 bytes")
            .isEqualTo(28 + 28);
        assertThat(IcmpError.write(header, in, 0, 1000, out, 0, 9000)).as("never above 576").isEqualTo(576);
    }

    @Test
    void neverAnswersIcmpErrorsOrLaterFragments() {
        final ByteBuffer error = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        error.put(20, (byte) 3); // the offender is itself a destination unreachable
        assertThat(IcmpError.mayAnswer(header.wrap(error, 0), error, 0)).isFalse();
        error.put(20, (byte) 11); // time exceeded
        assertThat(IcmpError.mayAnswer(header.wrap(error, 0), error, 0)).isFalse();
        error.put(20, (byte) 0); // echo reply: a query, answered (RFC 1122 3.2.2)
        assertThat(IcmpError.mayAnswer(header.wrap(error, 0), error, 0)).isTrue();

        final ByteBuffer fragment = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        fragment.putShort(6, (short) 0x0001); // fragment offset 8 bytes
        assertThat(IcmpError.mayAnswer(header.wrap(fragment, 0), fragment, 0)).isFalse();
        fragment.putShort(6, (short) 0x2000); // first fragment (MF set, offset 0): answered
        assertThat(IcmpError.mayAnswer(header.wrap(fragment, 0), fragment, 0)).isTrue();

        final ByteBuffer multicast = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        multicast.putInt(16, 0xe0000001);
        assertThat(IcmpError.mayAnswer(header.wrap(multicast, 0), multicast, 0)).isFalse();
        final ByteBuffer noSource = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        noSource.putInt(12, 0);
        assertThat(IcmpError.mayAnswer(header.wrap(noSource, 0), noSource, 0)).isFalse();
    }

    @Test
    void neverAnswersAboutASubnetBroadcastDestinationOrSourceNorALoopbackSource() {
        final ByteBuffer p = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        final int dst = 0x644008ff; // 100.64.8.255
        p.putInt(16, dst);
        assertThat(IcmpError.mayAnswer(header.wrap(p, 0), p, 0, 0xff)).as("/24 broadcast").isFalse();
        assertThat(IcmpError.mayAnswer(header.wrap(p, 0), p, 0, 0x3f)).as("/26 broadcast").isFalse();
        assertThat(IcmpError.mayAnswer(header.wrap(p, 0), p, 0, 0x1ff)).as("not a /23's").isTrue();
        assertThat(IcmpError.mayAnswer(header.wrap(p, 0), p, 0, 0)).as("/32: none").isTrue();
        p.putInt(16, (dst & ~0xff) | 0xfe);
        assertThat(IcmpError.mayAnswer(header.wrap(p, 0), p, 0, 0xff)).as("x.y.z.254").isTrue();
        final int src = p.getInt(12);
        p.putInt(12, src | 0xff);
        assertThat(IcmpError.mayAnswer(header.wrap(p, 0), p, 0, 0xff)).as("broadcast source").isFalse();
        p.putInt(12, 0x7f000001);
        assertThat(IcmpError.mayAnswer(header.wrap(p, 0), p, 0, 0xff)).as("loopback source").isFalse();
    }
}
