package io.overlay.udp.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.DropReason;
import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class Ipv4HeaderTest {
    private static final int MTU = 1472;
    private final Ipv4Header header = new Ipv4Header();

    @Test
    void readsFieldsOfKnownPacket() {
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, 5);
        header.wrap(buf, 5);
        assertThat(header.version()).isEqualTo(4);
        assertThat(header.headerLength()).isEqualTo(20);
        assertThat(header.totalLength()).isEqualTo(84);
        assertThat(header.ttl()).isEqualTo(64);
        assertThat(header.protocol()).isEqualTo(1);
        assertThat(header.fragmentOffset()).isZero();
        assertThat(header.checksum()).isEqualTo(0x55eb);
        assertThat(header.source()).isEqualTo(0x64400101);
        assertThat(header.destination()).isEqualTo(0x64400909);
        assertThat(header.validate(84, MTU)).isNull();
    }

    @Test
    void decrementTtlGivesTheExpectedForwardedBytes() {
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        header.wrap(buf, 0).decrementTtl();
        assertThat(TestPackets.copy(buf, 0, 84)).isEqualTo(TestPackets.bytes(TestPackets.ECHO_REQUEST_FORWARDED));
    }

    @Test
    void validationNamesEveryDefect() {
        assertThat(validate(TestPackets.ECHO_REQUEST, 84, 83)).isEqualTo(DropReason.OVERSIZED);
        assertThat(validate(TestPackets.ECHO_REQUEST, 19, MTU)).isEqualTo(DropReason.TOO_SHORT);
        assertThat(validate("60000000" + TestPackets.ECHO_REQUEST.substring(8), 84, MTU))
            .isEqualTo(DropReason.NOT_IPV4);
        assertThat(validate("44" + TestPackets.ECHO_REQUEST.substring(2), 84, MTU))
            .isEqualTo(DropReason.BAD_HEADER_LENGTH);
        assertThat(validate("4f" + TestPackets.ECHO_REQUEST.substring(2, 40), 20, MTU))
            .isEqualTo(DropReason.BAD_HEADER_LENGTH); // 60-byte header in a 20-byte packet
        assertThat(validate(TestPackets.ECHO_REQUEST, 80, MTU)).isEqualTo(DropReason.BAD_TOTAL_LENGTH); // cut
        assertThat(validate(TestPackets.ECHO_REQUEST + "00000000", 88, MTU))
            .isEqualTo(DropReason.BAD_TOTAL_LENGTH); // padded
        assertThat(validate(TestPackets.ECHO_REQUEST, 84, 84)).isNull(); // exactly the MTU
    }

    @Test
    void checksumVerifiesInEitherByteOrderWithOptionsAndCatchesAnyFlippedBit() {
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, 3);
        assertThat(header.wrap(buf, 3).checksumValid()).isTrue();
        assertThat(header.wrap(buf.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN), 3).checksumValid()).isTrue();
        header.wrap(buf, 3).decrementTtl(); // the RFC 1624 patch keeps it valid
        assertThat(header.checksumValid()).isTrue();
        for (int bit = 0; bit < 160; bit++) {
            buf.put(3 + bit / 8, (byte) (buf.get(3 + bit / 8) ^ (1 << (bit % 8))));
            assertThat(header.checksumValid()).as("bit %d flipped", bit).isFalse();
            buf.put(3 + bit / 8, (byte) (buf.get(3 + bit / 8) ^ (1 << (bit % 8))));
        }
        // a 24-byte header (one option word: 4 x NOP), checksum recomputed over all 24 bytes
        final byte[] p = TestPackets.bytes("46" + TestPackets.ECHO_REQUEST.substring(2, 40) + "01010101"
            + TestPackets.ECHO_REQUEST.substring(40));
        p[3] += 4; // total length 88
        TestPackets.fixIp(p);
        final ByteBuffer options = ByteBuffer.wrap(p);
        assertThat(header.wrap(options, 0).validate(88, MTU)).isNull();
        assertThat(header.checksumValid()).isTrue();
        p[21] = 0; // the option word changes: only a checksum over all 24 bytes notices
        assertThat(header.checksumValid()).isFalse();
    }

    private DropReason validate(final String hex, final int length, final int mtu) {
        return header.wrap(TestPackets.buffer(hex, 0), 0).validate(length, mtu);
    }
}
