package io.overlay.udp.crypto;

import java.security.GeneralSecurityException;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * {@link Gcm} through the public {@code Cipher} API ({@code AES/GCM/NoPadding}): one cipher per direction,
 * initialised per packet with that packet's nonce. The fallback when {@link IntrinsicGcm} is not available; it
 * allocates what {@code Cipher.init} allocates (a {@link GCMParameterSpec}, the JDK's per-init GCM state).
 */
public final class CipherGcm extends Gcm {
    private final Cipher encrypt = newCipher();
    private final Cipher decrypt = newCipher();

    @Override
    public int seal(final GcmKey key, final byte[] nonce, final byte[] in, final int inOff, final int len,
                    final byte[] out, final int outOff) {
        try {
            encrypt.init(Cipher.ENCRYPT_MODE, key.spec, new GCMParameterSpec(TAG * 8, nonce));
            return encrypt.doFinal(in, inOff, len, out, outOff);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM sealing failed: " + e, e);
        }
    }

    @Override
    public int open(final GcmKey key, final byte[] nonce, final byte[] in, final int inOff, final int len,
                    final byte[] out, final int outOff) {
        try {
            decrypt.init(Cipher.DECRYPT_MODE, key.spec, new GCMParameterSpec(TAG * 8, nonce));
            return decrypt.doFinal(in, inOff, len, out, outOff);
        } catch (AEADBadTagException e) {
            return -1;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM opening failed: " + e, e);
        }
    }

    private static Cipher newCipher() {
        try {
            return Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM/NoPadding is missing from this JDK", e);
        }
    }
}
