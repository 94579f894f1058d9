package io.overlay.udp.crypto;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * {@link Gcm} built from the JDK's own GCM parts in {@code com.sun.crypto.provider} (OpenJDK 17 to 25), called
 * without the {@code Cipher} API: {@code CounterMode.encrypt} for AES-CTR (HotSpot's {@code counterMode_AESCrypt}
 * stub), {@code GHASH.processBlocks} for the authenticator ({@code ghash_processBlocks}, CLMUL) and
 * {@code AESCrypt.encryptBlock} for the tag mask ({@code aescrypt_encryptBlock}). GCM itself is the composition of
 * NIST SP 800-38D §7.1 for a 96-bit IV: {@code J0 = IV | 0^31 | 1}, {@code C = GCTR(inc32(J0), P)},
 * {@code S = GHASH(C | 0-pad | [0]64 | [len(C)]64)}, {@code T = AES(J0) xor S}.
 *
 * <p>Nothing is allocated per packet: the counter-mode object of each key is this loop's own (kept by
 * {@link GcmKey#slot}), its IV array is rewritten and {@code reset()} per packet, the GHASH state is a reused
 * {@code long[2]}. Available only when {@code java.base/com.sun.crypto.provider} is opened to this code and a
 * start-up self-test gives the same bytes as the {@code Cipher} API for a fixed key, nonce and plaintext; otherwise
 * {@link Gcm#create()} uses {@link CipherGcm}.
 */
public final class IntrinsicGcm extends Gcm {
    private static final int BLOCK = 16;
    private static final MethodHandle AES_NEW;
    private static final MethodHandle AES_INIT;
    private static final MethodHandle AES_ENCRYPT_BLOCK;
    private static final MethodHandle GHASH_NEW;
    private static final MethodHandle GHASH_BLOCKS;
    private static final VarHandle GHASH_TABLE;
    private static final MethodHandle CTR_NEW;
    private static final MethodHandle CTR_INIT;
    private static final MethodHandle CTR_RESET;
    private static final MethodHandle CTR_ENCRYPT;
    private static final String UNAVAILABLE;

    static {
        MethodHandle aesNew = null;
        MethodHandle aesInit = null;
        MethodHandle aesBlock = null;
        MethodHandle ghashNew = null;
        MethodHandle ghashBlocks = null;
        VarHandle ghashTable = null;
        MethodHandle ctrNew = null;
        MethodHandle ctrInit = null;
        MethodHandle ctrReset = null;
        MethodHandle ctrEncrypt = null;
        String reason = null;
        try {
            final Class<?> aes = Class.forName("com.sun.crypto.provider.AESCrypt");
            final Class<?> sym = Class.forName("com.sun.crypto.provider.SymmetricCipher");
            final Class<?> ghash = Class.forName("com.sun.crypto.provider.GHASH");
            final Class<?> ctr = Class.forName("com.sun.crypto.provider.CounterMode");
            final MethodHandles.Lookup la = MethodHandles.privateLookupIn(aes, MethodHandles.lookup());
            final MethodHandles.Lookup lg = MethodHandles.privateLookupIn(ghash, MethodHandles.lookup());
            final MethodHandles.Lookup lc = MethodHandles.privateLookupIn(ctr, MethodHandles.lookup());
            aesNew = la.findConstructor(aes, MethodType.methodType(void.class))
                .asType(MethodType.methodType(Object.class));
            aesInit = la.findVirtual(aes, "init", MethodType.methodType(void.class, boolean.class, String.class,
                byte[].class)).asType(MethodType.methodType(void.class, Object.class, boolean.class, String.class,
                byte[].class));
            aesBlock = la.findVirtual(aes, "encryptBlock", MethodType.methodType(void.class, byte[].class, int.class,
                byte[].class, int.class)).asType(MethodType.methodType(void.class, Object.class, byte[].class,
                int.class, byte[].class, int.class));
            ghashNew = lg.findConstructor(ghash, MethodType.methodType(void.class, byte[].class))
                .asType(MethodType.methodType(Object.class, byte[].class));
            ghashBlocks = lg.findStatic(ghash, "processBlocks", MethodType.methodType(void.class, byte[].class,
                int.class, int.class, long[].class, long[].class));
            ghashTable = lg.findVarHandle(ghash, "subkeyHtbl", long[].class);
            ctrNew = lc.findConstructor(ctr, MethodType.methodType(void.class, sym))
                .asType(MethodType.methodType(Object.class, Object.class));
            ctrInit = lc.findVirtual(ctr, "init", MethodType.methodType(void.class, boolean.class, String.class,
                byte[].class, byte[].class)).asType(MethodType.methodType(void.class, Object.class, boolean.class,
                String.class, byte[].class, byte[].class));
            ctrReset = lc.findVirtual(ctr, "reset", MethodType.methodType(void.class))
                .asType(MethodType.methodType(void.class, Object.class));
            ctrEncrypt = lc.findVirtual(ctr, "encrypt", MethodType.methodType(int.class, byte[].class, int.class,
                int.class, byte[].class, int.class)).asType(MethodType.methodType(int.class, Object.class,
                byte[].class, int.class, int.class, byte[].class, int.class));
        } catch (ReflectiveOperationException | RuntimeException e) {
            reason = "JDK GCM internals not reachable: " + e.getClass().getSimpleName() + ": " + e.getMessage()
                + " (run with --add-opens java.base/com.sun.crypto.provider=ALL-UNNAMED)";
        }
        AES_NEW = aesNew;
        AES_INIT = aesInit;
        AES_ENCRYPT_BLOCK = aesBlock;
        GHASH_NEW = ghashNew;
        GHASH_BLOCKS = ghashBlocks;
        GHASH_TABLE = ghashTable;
        CTR_NEW = ctrNew;
        CTR_INIT = ctrInit;
        CTR_RESET = ctrReset;
        CTR_ENCRYPT = ctrEncrypt;
        UNAVAILABLE = reason == null ? selfTest() : reason;
    }

    /**
     * Per key slot: this loop's counter-mode object, the IV array it resets from, and this loop's own copy of the
     * GHASH subkey table: JDK 17's {@code GHASH} keeps H in the first two longs of an 18-long table and HotSpot's x86
     * {@code ghash_processBlocks} stub writes the powers of H into the rest on first use (see {@code GHASH.java} and
     * {@code StubGenerator::generate_avx_ghash_processBlocks} in OpenJDK 17), so a table shared by loops could be
     * read half written.
     */
    private Object[] counters = new Object[8];
    private byte[][] ivs = new byte[8][];
    private long[][] tables = new long[8][];
    /** The key each slot's state belongs to: a slot is reused for another key once its key was retired. */
    private GcmKey[] owners = new GcmKey[8];
    private final byte[] j0 = new byte[BLOCK];
    private final byte[] mask = new byte[BLOCK];
    private final byte[] block = new byte[BLOCK];
    private final byte[] tag = new byte[BLOCK];
    private final long[] state = new long[2];

    /**
     * Creates an instance.
     *
     * @throws IllegalStateException if not {@link #available()}
     */
    public IntrinsicGcm() {
        if (UNAVAILABLE != null) {
            throw new IllegalStateException(UNAVAILABLE);
        }
    }

    /** Whether this JVM lets the JDK's GCM parts be called directly and they passed the self-test. */
    public static boolean available() {
        return UNAVAILABLE == null;
    }

    /** Why {@link #available()} is false, or {@code null}. */
    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    /**
     * Prepares the shared per-key parts: the expanded AES key and the GHASH table. Control plane.
     *
     * @return {AESCrypt, long[] table}, or {@code null} when not available
     */
    static Object[] prepare(final byte[] key) {
        if (AES_NEW == null) {
            return null;
        }
        try {
            final Object aes = (Object) AES_NEW.invokeExact();
            AES_INIT.invokeExact(aes, false, "AES", key);
            final byte[] h = new byte[BLOCK];
            AES_ENCRYPT_BLOCK.invokeExact(aes, new byte[BLOCK], 0, h, 0);
            final Object ghash = (Object) GHASH_NEW.invokeExact(h);
            return new Object[] {aes, (long[]) GHASH_TABLE.get(ghash)};
        } catch (Throwable t) {
            return null;
        }
    }

    @Override
    public int seal(final GcmKey key, final byte[] nonce, final byte[] in, final int inOff, final int len,
                    final byte[] out, final int outOff) {
        try {
            counter(key, nonce);
            final int n = (int) CTR_ENCRYPT.invokeExact(counterOf(key), in, inOff, len, out, outOff);
            tag(key, out, outOff, n);
            System.arraycopy(tag, 0, out, outOff + len, BLOCK);
            return len + BLOCK;
        } catch (Throwable t) {
            throw new IllegalStateException("AES-GCM sealing failed: " + t, t);
        }
    }

    @Override
    public int open(final GcmKey key, final byte[] nonce, final byte[] in, final int inOff, final int len,
                    final byte[] out, final int outOff) {
        final int n = len - BLOCK;
        if (n < 0) {
            return -1;
        }
        try {
            counter(key, nonce);
            tag(key, in, inOff, n);
            int diff = 0;
            for (int i = 0; i < BLOCK; i++) {
                diff |= tag[i] ^ in[inOff + n + i];
            }
            if (diff != 0) {
                return -1;
            }
            final int done = (int) CTR_ENCRYPT.invokeExact(counterOf(key), in, inOff, n, out, outOff);
            return done;
        } catch (Throwable t) {
            throw new IllegalStateException("AES-GCM opening failed: " + t, t);
        }
    }

    /** Sets J0 and this loop's counter mode of {@code key} to inc32(J0). */
    private void counter(final GcmKey key, final byte[] nonce) throws Throwable {
        System.arraycopy(nonce, 0, j0, 0, 12);
        j0[12] = 0;
        j0[13] = 0;
        j0[14] = 0;
        j0[15] = 1;
        Object ctr = key.slot < counters.length && owners[key.slot] == key ? counters[key.slot] : null;
        if (ctr == null) {
            ctr = newCounter(key);
        }
        final byte[] iv = ivs[key.slot];
        System.arraycopy(j0, 0, iv, 0, BLOCK);
        iv[15] = 2;
        CTR_RESET.invokeExact(ctr);
    }

    private Object counterOf(final GcmKey key) {
        return counters[key.slot];
    }

    /** Creates this loop's counter mode for a key it has not used yet (once per key and loop; replaces a retired one). */
    private Object newCounter(final GcmKey key) throws Throwable {
        if (key.slot >= counters.length) {
            final int size = Math.max(key.slot + 1, counters.length * 2);
            counters = Arrays.copyOf(counters, size);
            ivs = Arrays.copyOf(ivs, size);
            tables = Arrays.copyOf(tables, size);
            owners = Arrays.copyOf(owners, size);
        }
        final Object aes = (Object) AES_NEW.invokeExact();
        AES_INIT.invokeExact(aes, false, "AES", key.raw);
        final Object ctr = (Object) CTR_NEW.invokeExact(aes);
        final byte[] iv = new byte[BLOCK];
        CTR_INIT.invokeExact(ctr, false, "AES", key.raw, iv);
        counters[key.slot] = ctr;
        ivs[key.slot] = iv;
        owners[key.slot] = key;
        tables[key.slot] = key.htbl.clone(); // from the pristine table, which no loop hashes with
        return ctr;
    }

    /** tag = AES(J0) xor GHASH(C | pad | [0]64 | [8·n]64). */
    private void tag(final GcmKey key, final byte[] c, final int off, final int n) throws Throwable {
        final long[] htbl = tables[key.slot];
        state[0] = 0;
        state[1] = 0;
        final int full = n >>> 4;
        if (full > 0) {
            GHASH_BLOCKS.invokeExact(c, off, full, state, htbl);
        }
        final int rest = n & (BLOCK - 1);
        if (rest > 0) {
            Arrays.fill(block, (byte) 0);
            System.arraycopy(c, off + (full << 4), block, 0, rest);
            GHASH_BLOCKS.invokeExact(block, 0, 1, state, htbl);
        }
        final long bits = (long) n << 3;
        for (int i = 0; i < 8; i++) {
            block[i] = 0;
            block[8 + i] = (byte) (bits >>> (56 - 8 * i));
        }
        GHASH_BLOCKS.invokeExact(block, 0, 1, state, htbl);
        AES_ENCRYPT_BLOCK.invokeExact(key.aes, j0, 0, mask, 0);
        final long hi = state[0];
        final long lo = state[1];
        for (int i = 0; i < 8; i++) {
            tag[i] = (byte) (mask[i] ^ (hi >>> (56 - 8 * i)));
            tag[8 + i] = (byte) (mask[8 + i] ^ (lo >>> (56 - 8 * i)));
        }
    }

    /** Seals and opens a fixed packet both ways; returns why it failed, or {@code null}. */
    private static String selfTest() {
        try {
            final byte[] raw = new byte[32];
            final byte[] nonce = new byte[12];
            final byte[] plain = new byte[77];
            for (int i = 0; i < plain.length; i++) {
                plain[i] = (byte) (i * 37 + 11);
                raw[i % 32] ^= (byte) (i * 13);
                nonce[i % 12] ^= (byte) (i * 7);
            }
            final GcmKey key = GcmKey.of(raw);
            if (key.aes == null) {
                return "JDK GCM internals did not prepare a key";
            }
            final byte[] viaCipher = new byte[plain.length + BLOCK];
            final byte[] viaIntrinsics = new byte[plain.length + BLOCK];
            new CipherGcm().seal(key, nonce, plain, 0, plain.length, viaCipher, 0);
            final IntrinsicGcm gcm = new IntrinsicGcm(true);
            gcm.seal(key, nonce, plain, 0, plain.length, viaIntrinsics, 0);
            final byte[] back = new byte[plain.length];
            if (!MessageDigest.isEqual(viaCipher, viaIntrinsics)
                || gcm.open(key, nonce, viaCipher, 0, viaCipher.length, back, 0) != plain.length
                || !Arrays.equals(back, plain)) {
                return "JDK GCM internals gave other bytes than the Cipher API";
            }
            viaCipher[3] ^= 1;
            if (gcm.open(key, nonce, viaCipher, 0, viaCipher.length, back, 0) != -1) {
                return "JDK GCM internals accepted a modified ciphertext";
            }
            return null;
        } catch (RuntimeException | Error e) {
            return "JDK GCM internals failed the self-test: " + e;
        }
    }

    /** The self-test's instance, made while the class is still initialising. */
    private IntrinsicGcm(final boolean selfTest) {
    }
}
