package io.overlay.core.spi;

/**
 * One change of a peer's key for {@link PacketEngine#peerKeys}: the public key a PublicIP's lease advertises (or that
 * it advertises none), or that no lease uses the PublicIP any more.
 *
 * @param publicIp the peer's PublicIP, int form
 * @param publicKey the raw 32-byte X25519 public key; {@code null} when the lease has none or the peer is gone
 * @param gone whether no lease uses the PublicIP any more
 */
public record PeerKey(int publicIp, byte[] publicKey, boolean gone) {
    /**
     * The key a peer's lease advertises.
     *
     * @param publicIp the PublicIP
     * @param publicKey the raw public key, or {@code null} for none
     * @return the change
     */
    public static PeerKey of(final int publicIp, final byte[] publicKey) {
        return new PeerKey(publicIp, publicKey, false);
    }

    /**
     * No lease uses the PublicIP any more.
     *
     * @param publicIp the PublicIP
     * @return the change
     */
    public static PeerKey gone(final int publicIp) {
        return new PeerKey(publicIp, null, true);
    }
}
