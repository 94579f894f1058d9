package io.overlay.udp.crypto;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Both AES-GCM implementations against NIST's GCM test vectors (the AES-256 cases 14 and 15 of McGrew and Viega's
 * "The Galois/Counter Mode of Operation", as in NIST SP 800-38D's validation set, without AAD), and against each
 * other over random sizes; and the intrinsic one allocates nothing per packet.
 */
class GcmTest {
    private static final HexFormat HEX = HexFormat.of();

    @Test
    void theIntrinsicPathIsAvailableInTheTests() {
        assertThat(IntrinsicGcm.unavailableReason()).as("surefire opens java.base/com.sun.crypto.provider").isNull();
        assertThat(Gcm.create()).isInstanceOf(IntrinsicGcm.class);
    }

    @Test
    void gcmSpecTestCases14And15() {
        for (Gcm gcm : new Gcm[] {new IntrinsicGcm(), new CipherGcm()}) {
            final GcmKey zero = GcmKey.of(new byte[32]);
            final byte[] out = new byte[64 + 16];
            // test case 14: K = 0^256, IV = 0^96, P = 0^128
            assertThat(gcm.seal(zero, new byte[12], new byte[16], 0, 16, out, 0)).isEqualTo(32);
            assertThat(HEX.formatHex(out, 0, 32)).as(gcm.getClass().getSimpleName())
                .isEqualTo("cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919");
            // test case 15
            final GcmKey k = GcmKey.of(HEX.parseHex(
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
            final byte[] p = HEX.parseHex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
            final byte[] iv = HEX.parseHex("cafebabefacedbaddecaf888");
            assertThat(gcm.seal(k, iv, p, 0, 64, out, 0)).isEqualTo(80);
            assertThat(HEX.formatHex(out)).as(gcm.getClass().getSimpleName()).isEqualTo(
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838"
                    + "c5f61e6393ba7a0abcc9f662898015ad" + "b094dac5d93471bdec1a502270e3cc6c");
            final byte[] back = new byte[64];
            assertThat(gcm.open(k, iv, out, 0, 80, back, 0)).isEqualTo(64);
            assertThat(back).isEqualTo(p);
            out[79] ^= 1;
            assertThat(gcm.open(k, iv, out, 0, 80, back, 0)).isEqualTo(-1);
        }
    }

    @Test
    void bothImplementationsAgreeOverRandomSizesKeysAndNonces() {
        final SplittableRandom random = new SplittableRandom(38_000_000_4L);
        final Gcm a = new IntrinsicGcm();
        final Gcm b = new CipherGcm();
        final GcmKey[] keys = new GcmKey[5];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = GcmKey.of(bytes(random, 32));
        }
        for (int n = 0; n < 2000; n++) {
            final int len = n < 100 ? n : random.nextInt(9000);
            final GcmKey key = keys[random.nextInt(keys.length)];
            final byte[] nonce = bytes(random, 12);
            final byte[] p = bytes(random, len + 5);
            final byte[] x = new byte[len + 16];
            final byte[] y = new byte[len + 16];
            a.seal(key, nonce, p, 5, len, x, 0);
            b.seal(key, nonce, p, 5, len, y, 0);
            assertThat(x).as("length %d", len).isEqualTo(y);
            final byte[] back = new byte[len];
            assertThat(a.open(key, nonce, y, 0, y.length, back, 0)).isEqualTo(len);
            assertThat(back).isEqualTo(Arrays.copyOfRange(p, 5, 5 + len));
        }
    }

    /** A loop that used a retired key's slot meets the slot's next key: it must not seal with the old key's state. */
    @Test
    void aReusedSlotServesItsNewKey() {
        final byte[] rawA = new byte[32];
        final byte[] rawB = new byte[32];
        java.util.Arrays.fill(rawA, (byte) 0xA1);
        java.util.Arrays.fill(rawB, (byte) 0xB2);
        final byte[] nonce = new byte[12];
        final byte[] plain = new byte[300];
        final byte[] viaLoop = new byte[plain.length + Gcm.TAG];
        final byte[] viaCipher = new byte[plain.length + Gcm.TAG];
        final IntrinsicGcm loop = new IntrinsicGcm();
        final GcmKey a = GcmKey.of(rawA);
        loop.seal(a, nonce, plain, 0, plain.length, viaLoop, 0);
        a.release();
        final GcmKey b = GcmKey.of(rawB);
        assertThat(b.slot).isEqualTo(a.slot);
        loop.seal(b, nonce, plain, 0, plain.length, viaLoop, 0);
        new CipherGcm().seal(b, nonce, plain, 0, plain.length, viaCipher, 0);
        assertThat(viaLoop).isEqualTo(viaCipher);
        b.release();
    }

    @Test
    void theIntrinsicPathAllocatesNothingPerPacket() {
        final com.sun.management.ThreadMXBean mx =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        final Gcm gcm = new IntrinsicGcm();
        final GcmKey key = GcmKey.of(new byte[32]);
        final byte[] nonce = new byte[12];
        final byte[] p = new byte[1443];
        final byte[] c = new byte[1443 + 16];
        for (int i = 0; i < 20_000; i++) { // warm up: the first use of a key makes this loop's counter mode
            nonce[0] = (byte) i;
            gcm.seal(key, nonce, p, 0, p.length, c, 0);
            gcm.open(key, nonce, c, 0, c.length, p, 0);
        }
        final long before = mx.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < 10_000; i++) {
            nonce[1] = (byte) i;
            gcm.seal(key, nonce, p, 0, p.length, c, 0);
            gcm.open(key, nonce, c, 0, c.length, p, 0);
        }
        final long perPacket = (mx.getCurrentThreadAllocatedBytes() - before) / 10_000;
        assertThat(perPacket).as("bytes allocated per seal + open").isZero();
    }

    private static byte[] bytes(final SplittableRandom random, final int n) {
        final byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }
}
