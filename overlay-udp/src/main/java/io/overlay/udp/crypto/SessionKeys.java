package io.overlay.udp.crypto;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The two keys between this host and one peer, one per direction, derived with HKDF-SHA256 (RFC 5869):
 *
 * <pre>
 * shared = X25519(own private key, peer public key)                 (RFC 7748 §6.1)
 * PRK    = HKDF-Extract(salt = pre-shared key or empty, IKM = shared)
 * key(S→R) = HKDF-Expand(PRK, "overlay-udp aes-256-gcm v1" | pub(S) | pub(R), 32)
 * keyId(S→R) = first 4 bytes of SHA-256("overlay-udp key id v1" | pub(S) | pub(R)), big-endian
 * </pre>
 *
 * <p>Both hosts compute the same {@code key(S→R)}; each direction has its own key and id. The pre-shared key (any
 * length, typically 32 random bytes from {@code --psk-file}) is mixed in as the salt, so a host that can write to etcd
 * but does not hold it cannot derive any key. Key ids depend on the public keys only: a datagram sealed under an old
 * key pair carries an id the receiver does not hold and is dropped as an unknown key before any decryption.
 *
 * @param sendKey the 32-byte AES-256 key for this host → peer
 * @param sendKeyId the key id written into sealed datagrams to the peer
 * @param receiveKey the 32-byte AES-256 key for peer → this host
 * @param receiveKeyId the key id expected in sealed datagrams from the peer
 */
public record SessionKeys(byte[] sendKey, int sendKeyId, byte[] receiveKey, int receiveKeyId) {
    private static final byte[] KEY_LABEL = "overlay-udp aes-256-gcm v1".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ID_LABEL = "overlay-udp key id v1".getBytes(StandardCharsets.US_ASCII);
    /** AES-256 key length in bytes. */
    public static final int KEY_BYTES = 32;

    /**
     * Derives the keys between {@code own} and a peer.
     *
     * @param own this host's key pair
     * @param peerPublicKey the peer's raw 32-byte public key
     * @param psk the pre-shared key, or an empty array for none
     * @return the keys
     * @throws IllegalArgumentException if the peer's key is malformed or a low-order point
     */
    public static SessionKeys derive(final HostKeyPair own, final byte[] peerPublicKey, final byte[] psk) {
        final byte[] shared = own.agree(peerPublicKey);
        final byte[] prk = Hkdf.extract(psk, shared);
        final byte[] mine = own.publicKey();
        return new SessionKeys(Hkdf.expand(prk, concat(KEY_LABEL, mine, peerPublicKey), KEY_BYTES),
            keyId(mine, peerPublicKey), Hkdf.expand(prk, concat(KEY_LABEL, peerPublicKey, mine), KEY_BYTES),
            keyId(peerPublicKey, mine));
    }

    /**
     * Returns the key id of the direction {@code sender → receiver}.
     *
     * @param sender the sender's raw public key
     * @param receiver the receiver's raw public key
     * @return the id
     */
    public static int keyId(final byte[] sender, final byte[] receiver) {
        try {
            final byte[] h = MessageDigest.getInstance("SHA-256").digest(concat(ID_LABEL, sender, receiver));
            return (h[0] & 0xff) << 24 | (h[1] & 0xff) << 16 | (h[2] & 0xff) << 8 | h[3] & 0xff;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private static byte[] concat(final byte[] a, final byte[] b, final byte[] c) {
        final byte[] out = new byte[a.length + b.length + c.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        System.arraycopy(c, 0, out, a.length + b.length, c.length);
        return out;
    }
}
