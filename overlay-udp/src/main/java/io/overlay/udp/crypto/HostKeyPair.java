package io.overlay.udp.crypto;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.XECPublicKey;
import java.security.spec.NamedParameterSpec;
import java.security.spec.XECPrivateKeySpec;
import java.security.spec.XECPublicKeySpec;
import java.util.Base64;
import javax.crypto.KeyAgreement;

/**
 * A host's X25519 key pair (RFC 7748) from the JDK's {@code XDH} provider: made fresh at every start and never
 * stored, so every process has its own keys and every derived key is new. Public keys travel as the 32-byte
 * little-endian u-coordinate of RFC 7748 §5, base64 (standard alphabet, padded) in the lease's {@code BackendData}
 * as {@code {"PublicKey":"..."}}, the field flannel's wireguard backend publishes (flannel v0.20.2
 * {@code pkg/backend/wireguard/wireguard.go}, {@code wireguardLeaseAttrs.PublicKey}).
 */
public final class HostKeyPair {
    /** Length of a raw X25519 public key, private key and shared secret, in bytes. */
    public static final int KEY_BYTES = 32;

    private final PrivateKey privateKey;
    private final byte[] publicKey;

    private HostKeyPair(final PrivateKey privateKey, final byte[] publicKey) {
        this.privateKey = privateKey;
        this.publicKey = publicKey;
    }

    /**
     * Makes a new key pair with the JDK's {@code KeyPairGenerator("X25519")}.
     *
     * @return the key pair
     * @throws IllegalStateException if the JDK has no X25519 (Java 11+ has)
     */
    public static HostKeyPair generate() {
        try {
            final KeyPair kp = KeyPairGenerator.getInstance("X25519").generateKeyPair();
            return new HostKeyPair(kp.getPrivate(), encode(((XECPublicKey) kp.getPublic()).getU()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("X25519 is missing from this JDK", e);
        }
    }

    /**
     * Wraps a JDK X25519 key pair made elsewhere (e.g. by {@code EngineEncryption.create}).
     *
     * @param keyPair the key pair
     * @param publicKey its raw 32-byte public key
     * @return the key pair
     */
    public static HostKeyPair of(final KeyPair keyPair, final byte[] publicKey) {
        checkLength("public key", publicKey);
        return new HostKeyPair(keyPair.getPrivate(), publicKey.clone());
    }

    /**
     * Makes the key pair of a given private scalar (for fixed test vectors).
     *
     * @param scalar the 32-byte private key as in RFC 7748 (clamped by X25519 itself)
     * @return the key pair
     * @throws IllegalArgumentException if the scalar is not 32 bytes
     */
    public static HostKeyPair of(final byte[] scalar) {
        checkLength("private key", scalar);
        try {
            final KeyFactory f = KeyFactory.getInstance("XDH");
            final PrivateKey priv = f.generatePrivate(new XECPrivateKeySpec(NamedParameterSpec.X25519,
                scalar.clone()));
            final KeyAgreement ka = KeyAgreement.getInstance("X25519");
            ka.init(priv);
            // the public key is X25519(scalar, 9) (RFC 7748 §6.1)
            final byte[] base = new byte[KEY_BYTES];
            base[0] = 9;
            ka.doPhase(decode(base), true);
            return new HostKeyPair(priv, ka.generateSecret());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("X25519 is missing from this JDK", e);
        }
    }

    /**
     * Makes the key pair a seed and a host's PublicIP stand for: the private key is
     * {@code SHA-256("overlay-udp static key v1" | seed | PublicIP)}. For a static peer table without etcd (benchmarks,
     * tests), where every host must compute every other host's public key; anyone who knows the seed knows every key.
     *
     * @param seed the shared seed text
     * @param publicIp the host's PublicIP, int form
     * @return the key pair
     */
    public static HostKeyPair fromSeed(final String seed, final int publicIp) {
        try {
            final java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            sha.update("overlay-udp static key v1".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            sha.update(seed.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            sha.update(new byte[] {(byte) (publicIp >>> 24), (byte) (publicIp >>> 16), (byte) (publicIp >>> 8),
                (byte) publicIp});
            return of(sha.digest());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /**
     * Returns the JDK key pair (for {@code EngineEncryption}).
     *
     * @return the public and private key objects
     */
    public KeyPair toJdkKeyPair() {
        try {
            return new KeyPair(decode(publicKey), privateKey);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("X25519 is missing from this JDK", e);
        }
    }

    /**
     * Returns the raw public key.
     *
     * @return a copy of the 32-byte little-endian u-coordinate
     */
    public byte[] publicKey() {
        return publicKey.clone();
    }

    /**
     * Returns the public key as published in {@code BackendData}.
     *
     * @return standard base64 of the 32 raw bytes (44 characters)
     */
    public String publicKeyBase64() {
        return Base64.getEncoder().encodeToString(publicKey);
    }

    /**
     * Computes the X25519 shared secret with a peer's public key (RFC 7748 §6.1).
     *
     * @param peerPublicKey the peer's raw 32-byte public key
     * @return the 32-byte shared secret
     * @throws IllegalArgumentException if the key is not 32 bytes or the result is all zero (a low-order point,
     *     RFC 7748 §6.1 says to check for it)
     */
    public byte[] agree(final byte[] peerPublicKey) {
        checkLength("peer public key", peerPublicKey);
        final byte[] secret;
        try {
            final KeyAgreement ka = KeyAgreement.getInstance("X25519");
            ka.init(privateKey);
            ka.doPhase(decode(peerPublicKey), true);
            secret = ka.generateSecret();
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("X25519 with the peer's public key failed: " + e.getMessage(), e);
        }
        int acc = 0;
        for (byte b : secret) {
            acc |= b;
        }
        if (acc == 0) {
            throw new IllegalArgumentException("the peer's public key is a low-order point (all-zero shared secret)");
        }
        return secret;
    }

    /**
     * Decodes a published public key.
     *
     * @param base64 standard base64 of 32 bytes
     * @return the raw key
     * @throws IllegalArgumentException naming what is wrong if it is not base64 of 32 bytes
     */
    public static byte[] parsePublicKey(final String base64) {
        final byte[] raw;
        try {
            raw = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("PublicKey is not base64: '" + base64 + "'", e);
        }
        checkLength("PublicKey", raw);
        return raw;
    }

    /** The JDK's public key object for raw little-endian u (the top bit masked, RFC 7748 §5). */
    private static PublicKey decode(final byte[] raw) throws GeneralSecurityException {
        final byte[] be = new byte[KEY_BYTES];
        for (int i = 0; i < KEY_BYTES; i++) {
            be[i] = raw[KEY_BYTES - 1 - i];
        }
        be[0] &= 0x7f;
        return KeyFactory.getInstance("XDH").generatePublic(new XECPublicKeySpec(NamedParameterSpec.X25519,
            new BigInteger(1, be)));
    }

    private static byte[] encode(final BigInteger u) {
        final byte[] be = u.toByteArray();
        final byte[] le = new byte[KEY_BYTES];
        for (int i = 0; i < KEY_BYTES && i < be.length; i++) {
            le[i] = be[be.length - 1 - i];
        }
        return le;
    }

    private static void checkLength(final String what, final byte[] key) {
        if (key == null || key.length != KEY_BYTES) {
            throw new IllegalArgumentException(what + " must be " + KEY_BYTES + " bytes, got "
                + (key == null ? "none" : key.length));
        }
    }

    @Override
    public String toString() {
        return "HostKeyPair[" + publicKeyBase64() + "]";
    }
}
