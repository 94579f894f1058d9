package io.overlay.udp.crypto;

import java.security.GeneralSecurityException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * HKDF with HMAC-SHA256 (RFC 5869): {@link #extract} then {@link #expand}. Control plane only (allocates).
 */
public final class Hkdf {
    /** SHA-256's output length in bytes, HashLen in RFC 5869. */
    public static final int HASH_LEN = 32;

    private Hkdf() {
    }

    /**
     * HKDF-Extract (RFC 5869 §2.2): {@code PRK = HMAC-SHA256(salt, IKM)}; an empty salt stands for
     * {@link #HASH_LEN} zero bytes.
     *
     * @param salt the salt, may be empty
     * @param ikm the input keying material
     * @return the 32-byte pseudorandom key
     */
    public static byte[] extract(final byte[] salt, final byte[] ikm) {
        final Mac mac = hmac(salt.length == 0 ? new byte[HASH_LEN] : salt);
        return mac.doFinal(ikm);
    }

    /**
     * HKDF-Expand (RFC 5869 §2.3): {@code T(i) = HMAC-SHA256(PRK, T(i-1) | info | i)}, the first {@code length} bytes
     * of {@code T(1) | T(2) | ...}.
     *
     * @param prk the pseudorandom key, at least 32 bytes
     * @param info the context, may be empty
     * @param length output length, 1..255 × 32 bytes
     * @return the output keying material
     * @throws IllegalArgumentException if {@code length} is outside 1..8160 or {@code prk} is shorter than 32 bytes
     */
    public static byte[] expand(final byte[] prk, final byte[] info, final int length) {
        if (length < 1 || length > 255 * HASH_LEN) {
            throw new IllegalArgumentException("HKDF-Expand length must be 1.." + 255 * HASH_LEN + ", got " + length);
        }
        if (prk.length < HASH_LEN) {
            throw new IllegalArgumentException("HKDF-Expand PRK must be at least " + HASH_LEN + " bytes, got "
                + prk.length);
        }
        final Mac mac = hmac(prk);
        final byte[] out = new byte[length];
        byte[] t = new byte[0];
        int done = 0;
        for (int i = 1; done < length; i++) {
            mac.update(t);
            mac.update(info);
            mac.update((byte) i);
            t = mac.doFinal();
            final int n = Math.min(t.length, length - done);
            System.arraycopy(t, 0, out, done, n);
            done += n;
        }
        return out;
    }

    private static Mac hmac(final byte[] key) {
        try {
            final Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        }
    }
}
