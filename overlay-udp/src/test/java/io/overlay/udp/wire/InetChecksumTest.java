package io.overlay.udp.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class InetChecksumTest {
    @Test
    void fullChecksumOfRfc1071Example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement), checksum = ~ddf2 = 220d.
        final ByteBuffer buf = ByteBuffer.wrap(new byte[] {0x00, 0x01, (byte) 0xf2, 0x03, (byte) 0xf4, (byte) 0xf5,
            (byte) 0xf6, (byte) 0xf7});
        assertThat(InetChecksum.checksum(buf, 0, 8)).isEqualTo(0x220d);
    }

    @Test
    void oddLengthIsPaddedWithZero() {
        final ByteBuffer buf = ByteBuffer.wrap(new byte[] {0x12, 0x34, 0x56});
        assertThat(InetChecksum.checksum(buf, 0, 3)).isEqualTo(~(0x1234 + 0x5600) & 0xffff);
    }

    @Test
    void headerChecksumOfKnownPacketIgnoresTheStoredField() {
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, 3);
        assertThat(InetChecksum.ipv4Header(buf, 3, 20)).isEqualTo(0x55eb);
        buf.putShort(3 + 10, (short) 0x1111);
        assertThat(InetChecksum.ipv4Header(buf, 3, 20)).isEqualTo(0x55eb);
    }

    @Test
    void ttlDecrementMatchesFullRecomputationOverManyRandomHeaders() {
        final SplittableRandom random = new SplittableRandom(1624);
        final Ipv4Header header = new Ipv4Header();
        int checked = 0;
        for (int n = 0; n < 200_000; n++) {
            final int ihl = 5 + random.nextInt(11);
            final ByteBuffer buf = ByteBuffer.allocate(ihl * 4);
            for (int i = 0; i < ihl * 4; i++) {
                buf.put(i, (byte) random.nextInt(256));
            }
            buf.put(0, (byte) (0x40 | ihl));
            if (n % 7 == 0) {
                buf.putShort(2, (short) 0xffff); // push sums toward the 0x0000/0xffff edge
                buf.putInt(12, 0xffffffff);
            }
            final int ttl = 2 + random.nextInt(254);
            buf.put(8, (byte) ttl);
            buf.putShort(10, (short) InetChecksum.ipv4Header(buf, 0, ihl * 4));
            header.wrap(buf, 0).decrementTtl();
            assertThat(header.ttl()).isEqualTo(ttl - 1);
            assertThat(header.checksum())
                .as("header %d", n)
                .isEqualTo(InetChecksum.ipv4Header(buf, 0, ihl * 4));
            assertThat(InetChecksum.checksum(buf, 0, ihl * 4)).isZero(); // a valid header sums to 0xffff
            checked++;
        }
        assertThat(checked).isEqualTo(200_000);
    }

    @Test
    void incrementalUpdateOfRfc1624Example() {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000 (equation 3), not 0xffff.
        assertThat(InetChecksum.incrementalUpdate(0xdd2f, 0x5555, 0x3285)).isEqualTo(0x0000);
    }
}
