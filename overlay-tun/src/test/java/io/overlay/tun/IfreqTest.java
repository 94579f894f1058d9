package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The 40-byte {@code struct ifreq} of TUNSETIFF, byte for byte (x86-64). */
class IfreqTest {
    @Test
    void encodesNameThenFlagsAtSixteenInAFortyByteDirectBuffer() {
        final ByteBuffer b = Ifreq.encode("flannel%d".getBytes(StandardCharsets.US_ASCII),
            (short) (Ifreq.IFF_TUN | Ifreq.IFF_NO_PI));
        assertThat(b.isDirect()).isTrue();
        assertThat(b.capacity()).isEqualTo(40);
        assertThat(ByteOrder.nativeOrder()).isEqualTo(ByteOrder.LITTLE_ENDIAN);
        assertThat(TestPackets.hex(b)).isEqualTo(TestPackets.hex(
            "66 6c 61 6e 6e 65 6c 25 64 00 00 00 00 00 00 00" // "flannel%d", NUL-padded to 16
                + "| 01 10"                                   // IFF_TUN|IFF_NO_PI = 0x1001, little-endian short
                + "| 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")); // rest of the union
    }

    @Test
    void multiQueueFlagSetsBitEight() {
        final ByteBuffer b = Ifreq.encode(new byte[] {'t'},
            (short) (Ifreq.IFF_TUN | Ifreq.IFF_NO_PI | Ifreq.IFF_MULTI_QUEUE));
        assertThat(b.get(16)).isEqualTo((byte) 0x01);
        assertThat(b.get(17)).isEqualTo((byte) 0x11);
        assertThat(Ifreq.flags(b)).isEqualTo((short) 0x1101);
    }

    @Test
    void readsBackTheKernelsName() {
        final ByteBuffer b = Ifreq.encode("flannel%d".getBytes(StandardCharsets.US_ASCII), (short) 0x1001);
        b.put(7, (byte) '1').put(8, (byte) '2').put(9, (byte) 0); // what the kernel writes back: "flannel12"
        assertThat(Ifreq.name(b)).isEqualTo("flannel12");
        final ByteBuffer full = Ifreq.encode("abcdefghijklmno".getBytes(StandardCharsets.US_ASCII), (short) 0);
        assertThat(Ifreq.name(full)).isEqualTo("abcdefghijklmno");
    }
}
