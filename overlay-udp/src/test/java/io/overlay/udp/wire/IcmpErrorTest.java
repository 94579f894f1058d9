package io.overlay.udp.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class IcmpErrorTest {
    private final Ipv4Header header = new Ipv4Header();

    @Test
    void buildsNetUnreachableByteForByte() {
        final ByteBuffer in = TestPackets.buffer(TestPackets.ECHO_REQUEST, 7);
        final ByteBuffer out = ByteBuffer.allocate(200);
        header.wrap(in, 7);
        assertThat(IcmpError.mayAnswer(header, in, 7)).isTrue();
        final int length = IcmpError.write(header, in, 7, out, 11);
        assertThat(length).isEqualTo(56);
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
        final int length = IcmpError.writeTimeExceeded(header, in, 3, out, 5, source);
        assertThat(length).isEqualTo(56);
        assertThat(out.getShort(5 + 2)).as("total length").isEqualTo((short) 56);
        assertThat(out.get(5 + 8)).as("TTL").isEqualTo((byte) 64);
        assertThat(out.get(5 + 9)).as("ICMP").isEqualTo((byte) 1);
        assertThat(out.getInt(5 + 12)).isEqualTo(source);
        assertThat(out.getInt(5 + 16)).as("to the offender's source").isEqualTo(header.source());
        assertThat(out.get(5 + 20)).as("type time exceeded").isEqualTo((byte) 11);
        assertThat(out.get(5 + 21)).as("code TTL exceeded in transit").isZero();
        assertThat(out.getInt(5 + 24)).as("unused").isZero();
        assertThat(TestPackets.copy(out, 5 + 28, 28)).as("the offender's header and 8 bytes, TTL 1")
            .isEqualTo(TestPackets.copy(in, 3, 28));
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
            IcmpError.writeTimeExceeded(header, in, 0, out, 0, 0x64400900);
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
        final int length = IcmpError.write(header, in, 0, out, 0);
        assertThat(length).isEqualTo(20 + 8 + 24);
        assertThat(out.getShort(2)).isEqualTo((short) 52);
        assertThat(TestPackets.copy(out, 28, 24)).isEqualTo(TestPackets.copy(in, 0, 24));
        assertThat(InetChecksum.checksum(out, 20, 32)).isZero();
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
