package io.overlay.udp.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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

    /**
     * Direct buffers (read raw, 32 bytes per step) of either byte order and heap buffers give the RFC 1071 sum of a
     * word-by-word reference for every length 0..600 and random ones up to 64 KiB, at every offset mod 8, including
     * all-ones data (the largest partial sums).
     */
    @Test
    void sumMatchesAWordByWordReferenceForEveryKindOfBufferLengthAndOffset() {
        final SplittableRandom random = new SplittableRandom(17);
        final int capacity = 65_536 + 16;
        final byte[] data = new byte[capacity];
        final ByteBuffer directBig = ByteBuffer.allocateDirect(capacity);
        final ByteBuffer directLittle = ByteBuffer.allocateDirect(capacity).order(ByteOrder.LITTLE_ENDIAN);
        final ByteBuffer heap = ByteBuffer.wrap(data);
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < capacity; i++) {
                data[i] = round == 0 ? (byte) random.nextInt(256) : (byte) 0xff;
            }
            directBig.put(0, data);
            directLittle.put(0, data);
            for (int n = 0; n < 1_200; n++) {
                final int length = n <= 600 ? n : random.nextInt(65_537);
                final int offset = n % 8 + (n > 600 ? random.nextInt(8) : 0);
                final int want = reference(data, offset, length);
                assertThat(InetChecksum.fold(InetChecksum.sum(directBig, offset, length)))
                    .as("direct BE %d+%d", offset, length).isEqualTo(want);
                assertThat(InetChecksum.fold(InetChecksum.sum(directLittle, offset, length)))
                    .as("direct LE %d+%d", offset, length).isEqualTo(want);
                assertThat(InetChecksum.fold(InetChecksum.sum(heap, offset, length))).as("heap %d+%d", offset, length)
                    .isEqualTo(want);
            }
        }
    }

    @Test
    void aRangeBeyondADirectBufferIsRefused() {
        final ByteBuffer buf = ByteBuffer.allocateDirect(64);
        assertThatThrownBy(() -> InetChecksum.sum(buf, 60, 8)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> InetChecksum.sum(buf, -1, 8)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    /** RFC 1071 word by word: 16-bit big-endian words, an odd last byte padded, end-around carry, folded. */
    private static int reference(final byte[] data, final int offset, final int length) {
        long sum = 0;
        for (int i = 0; i < length; i += 2) {
            final int hi = data[offset + i] & 0xff;
            final int lo = i + 1 < length ? data[offset + i + 1] & 0xff : 0;
            sum += hi << 8 | lo;
        }
        while (sum >>> 16 != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) sum;
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
