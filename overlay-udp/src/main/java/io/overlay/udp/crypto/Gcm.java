package io.overlay.udp.crypto;

/**
 * AES-256-GCM (NIST SP 800-38D) as the sealed frame uses it: 96-bit nonce, 128-bit tag, no additional authenticated
 * data, byte arrays in and out. One instance per event loop (not thread-safe); keys ({@link GcmKey}) are shared.
 *
 * <p>Two implementations give the same bytes (checked at start-up and in the tests):
 * <ul>
 *   <li>{@link IntrinsicGcm}: the JDK's own AES counter mode and GHASH blocks, which HotSpot replaces with its AES-NI
 *       and CLMUL stubs, called directly, so nothing is allocated per packet and no per-packet {@code Cipher.init}
 *       is paid. It needs {@code --add-opens java.base/com.sun.crypto.provider=ALL-UNNAMED} (set in
 *       {@code overlay.jar}'s manifest, the benchmark scripts and the tests).</li>
 *   <li>{@link CipherGcm}: the public {@code Cipher} API, which the JDK makes initialise per packet (it refuses to
 *       encrypt twice under one key and nonce) and which then builds its GCM state anew: about 0.9 KiB allocated per
 *       packet on JDK 17. Used when the JDK internals are not open or do not behave as expected.</li>
 * </ul>
 */
public abstract class Gcm {
    /** GCM tag length in bytes. */
    public static final int TAG = 16;

    /**
     * Returns a new instance of the best implementation this JVM allows.
     *
     * @return {@link IntrinsicGcm} if available, else {@link CipherGcm}
     */
    public static Gcm create() {
        return IntrinsicGcm.available() ? new IntrinsicGcm() : new CipherGcm();
    }

    /**
     * Names the implementation {@link #create} picks and why.
     *
     * @return e.g. "JDK AES/GHASH intrinsics (no allocation per packet)"
     */
    public static String description() {
        return IntrinsicGcm.available() ? "JDK AES-CTR/GHASH intrinsics, called directly (no allocation per packet)"
            : "the JDK Cipher API (allocates per packet; " + IntrinsicGcm.unavailableReason() + ")";
    }

    /**
     * Encrypts {@code len} bytes and appends the tag.
     *
     * @param key the key
     * @param nonce 12 bytes
     * @param in the plaintext array
     * @param inOff its first byte
     * @param len its length
     * @param out receives {@code len + 16} bytes; must not overlap the plaintext
     * @param outOff where they start
     * @return {@code len + 16}
     */
    public abstract int seal(GcmKey key, byte[] nonce, byte[] in, int inOff, int len, byte[] out, int outOff);

    /**
     * Verifies the tag and decrypts; writes nothing when the tag fails.
     *
     * @param key the key
     * @param nonce 12 bytes
     * @param in the ciphertext followed by the tag
     * @param inOff its first byte
     * @param len ciphertext and tag length, at least 16
     * @param out receives {@code len - 16} bytes; must not overlap the input
     * @param outOff where they start
     * @return {@code len - 16}, or -1 if the tag did not verify
     */
    public abstract int open(GcmKey key, byte[] nonce, byte[] in, int inOff, int len, byte[] out, int outOff);
}
