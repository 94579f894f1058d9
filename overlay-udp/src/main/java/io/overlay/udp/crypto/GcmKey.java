package io.overlay.udp.crypto;

import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.spec.SecretKeySpec;

/**
 * One AES-256-GCM key, prepared once for every event loop: the JDK key object for {@link CipherGcm}, and for
 * {@link IntrinsicGcm} the expanded AES key and the GHASH subkey table (read-only after construction, shared by the
 * loops). {@link #slot()} numbers keys so that each loop keeps its own per-key counter-mode state in an array.
 */
public final class GcmKey {
    private static final AtomicInteger SLOTS = new AtomicInteger();

    final byte[] raw;
    final SecretKeySpec spec;
    final int slot;
    /** {@code com.sun.crypto.provider.AESCrypt} initialised with the key, or {@code null}. */
    final Object aes;
    /** The GHASH subkey table for H = AES(key, 0^128), or {@code null}. */
    final long[] htbl;

    private GcmKey(final byte[] raw) {
        this.raw = raw.clone();
        this.spec = new SecretKeySpec(raw, "AES");
        this.slot = SLOTS.getAndIncrement();
        final Object[] prepared = IntrinsicGcm.prepare(raw);
        this.aes = prepared == null ? null : prepared[0];
        this.htbl = prepared == null ? null : (long[]) prepared[1];
    }

    /**
     * Prepares a key.
     *
     * @param raw the 32-byte AES-256 key
     * @return the key
     * @throws IllegalArgumentException if it is not 32 bytes
     */
    public static GcmKey of(final byte[] raw) {
        if (raw.length != SessionKeys.KEY_BYTES) {
            throw new IllegalArgumentException("AES-256 key must be 32 bytes, got " + raw.length);
        }
        return new GcmKey(raw);
    }
}
