package io.overlay.udp.crypto;

import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.spec.SecretKeySpec;

/**
 * One AES-256-GCM key, prepared once for every event loop: the JDK key object for {@link CipherGcm}, and for
 * {@link IntrinsicGcm} the expanded AES key and the GHASH subkey table (a template each loop copies). {@link #slot}
 * numbers the keys in use so that each loop keeps its own per-key counter-mode state in an array; a released key's
 * slot is reused.
 */
public final class GcmKey {
    private static final AtomicInteger SLOTS = new AtomicInteger();
    /** Slots of released keys, reused before new ones are numbered, so that the loops' arrays stay small. */
    private static final java.util.ArrayDeque<Integer> FREE = new java.util.ArrayDeque<>();

    final byte[] raw;
    final SecretKeySpec spec;
    final int slot;
    /** {@code com.sun.crypto.provider.AESCrypt} initialised with the key, or {@code null}. */
    final Object aes;
    /**
     * The GHASH subkey table for H = AES(key, 0^128) as the JDK's {@code GHASH} made it, or {@code null}: never hashed
     * with, only copied by each loop ({@link IntrinsicGcm}), since the intrinsic fills the table on first use.
     */
    final long[] htbl;

    private GcmKey(final byte[] raw) {
        this.raw = raw.clone();
        this.spec = new SecretKeySpec(raw, "AES");
        this.slot = takeSlot();
        final Object[] prepared = IntrinsicGcm.prepare(raw);
        this.aes = prepared == null ? null : prepared[0];
        this.htbl = prepared == null ? null : (long[]) prepared[1];
    }

    private volatile boolean released;

    private static int takeSlot() {
        synchronized (FREE) {
            final Integer free = FREE.poll(); // last freed first (push): the loops likely still hold its slot
            return free != null ? free : SLOTS.getAndIncrement();
        }
    }

    /**
     * Gives the key's slot back for another key (control thread, once the key is retired). A loop that still holds
     * state for this key in the slot replaces it when it meets the slot's next key ({@link IntrinsicGcm} checks the
     * key, not only the slot), so a late packet under this key stays correct, merely slower.
     */
    void release() {
        synchronized (FREE) {
            if (!released) {
                released = true;
                FREE.push(slot);
            }
        }
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
