package io.overlay.udp.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
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
     * Direct buffers (read raw, 32 bytes per step) of either byte order, heap buffers of either byte order, and the
     * buffer-read fallback on direct buffers give the RFC 1071 sum of a word-by-word reference for every length
     * 0..600 and random ones up to 64 KiB, at random offsets, including all-ones data (the largest partial sums).
     */
    @Test
    void sumMatchesAWordByWordReferenceForEveryKindOfBufferLengthAndOffset() {
        final SplittableRandom random = new SplittableRandom(17);
        final int capacity = 65_536 + 16;
        final byte[] data = new byte[capacity];
        final ByteBuffer directBig = ByteBuffer.allocateDirect(capacity);
        final ByteBuffer directLittle = ByteBuffer.allocateDirect(capacity).order(ByteOrder.LITTLE_ENDIAN);
        final ByteBuffer heapBig = ByteBuffer.wrap(data);
        final ByteBuffer heapLittle = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < capacity; i++) {
                data[i] = round == 0 ? (byte) random.nextInt(256) : (byte) 0xff;
            }
            directBig.put(0, data);
            directLittle.put(0, data);
            for (int n = 0; n < 1_200; n++) {
                final int length = n <= 600 ? n : random.nextInt(65_537);
                final int offset = random.nextInt(16);
                final int want = reference(data, offset, length);
                for (ByteBuffer buf : List.of(directBig, directLittle, heapBig, heapLittle)) {
                    assertThat(InetChecksum.fold(InetChecksum.sum(buf, offset, length)))
                        .as("%s %s %d+%d", buf.isDirect() ? "direct" : "heap", buf.order(), offset, length)
                        .isEqualTo(want);
                }
                for (ByteBuffer buf : List.of(directBig, directLittle)) {
                    assertThat(InetChecksum.fold(InetChecksum.sumReads(buf, offset, length)))
                        .as("reads of direct %s %d+%d", buf.order(), offset, length).isEqualTo(want);
                }
            }
        }
    }

    /** Slices at every base 0..19 (their own address and limit), and a read-only little-endian view of each. */
    @Test
    void slicesAndReadOnlyViewsOfDirectBuffersSumTheirOwnBytes() {
        final SplittableRandom random = new SplittableRandom(23);
        final byte[] data = new byte[400];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) random.nextInt(256);
        }
        final ByteBuffer whole = ByteBuffer.allocateDirect(data.length).put(0, data);
        for (int base = 0; base < 20; base++) {
            final ByteBuffer slice = whole.slice(base, data.length - base);
            final ByteBuffer view = slice.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
            for (int offset = 0; offset < 20; offset++) {
                for (int length = 0; length < 300; length++) {
                    final int want = reference(data, base + offset, length);
                    assertThat(InetChecksum.fold(InetChecksum.sum(slice, offset, length)))
                        .as("slice at %d, %d+%d", base, offset, length).isEqualTo(want);
                    assertThat(InetChecksum.fold(InetChecksum.sum(view, offset, length)))
                        .as("view at %d, %d+%d", base, offset, length).isEqualTo(want);
                }
            }
        }
    }

    @Test
    void aRangeBeyondTheLimitIsRefused() {
        final ByteBuffer direct = ByteBuffer.allocateDirect(64);
        assertThatThrownBy(() -> InetChecksum.sum(direct, 60, 8)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> InetChecksum.sum(direct, -1, 8)).isInstanceOf(IndexOutOfBoundsException.class);
        direct.limit(32);
        assertThatThrownBy(() -> InetChecksum.sum(direct, 28, 8)).isInstanceOf(IndexOutOfBoundsException.class);
        final ByteBuffer heap = ByteBuffer.allocate(64).limit(32);
        assertThatThrownBy(() -> InetChecksum.sum(heap, 28, 8)).isInstanceOf(IndexOutOfBoundsException.class);
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
