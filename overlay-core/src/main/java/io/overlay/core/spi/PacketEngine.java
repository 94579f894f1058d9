package io.overlay.core.spi;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.RouteTable;
import java.io.Closeable;

/**
 * The data plane: carries IPv4 packets between a {@link TunDevice} and UDP datagrams to peers, following a
 * {@link RouteTable}. Implemented by {@code overlay-udp} (flannel's udp backend wire format).
 *
 * <p>Errors on the packet path are counted ({@link #counters()}), never thrown.
 */
public interface PacketEngine extends Closeable {
    /**
     * Starts forwarding. Returns once the UDP socket is bound and the TUN is registered.
     *
     * @throws java.io.IOException if the socket cannot be bound (message names address and port)
     */
    void start() throws java.io.IOException;

    /**
     * Changes the local subnet (after the lease was lost and re-acquired elsewhere). Applied by the packet loop as a
     * command; takes effect for packets processed after it.
     *
     * <p>{@code null} means "no local subnet" (the lease was lost: never keep forwarding for a subnet this host no
     * longer owns, {@code docs/flannel-compatibility.md#lease-ttl-and-renewal}): every inbound datagram is then dropped
     * and counted as {@link DropReason#FOREIGN_DESTINATION} until a subnet is set again. Outbound traffic (TUN to UDP)
     * is not affected.
     *
     * @param subnet the new local subnet, or {@code null} to deliver nothing inbound
     * @throws IllegalArgumentException if {@code subnet} is not inside the overlay Network
     */
    void localSubnet(Ipv4Prefix subnet);

    /**
     * Returns a snapshot of the counters. Safe from any thread.
     *
     * @return the counters
     */
    TrafficCounters counters();

    /**
     * Returns the offloads in use now (the TUN's {@code virtio_net_hdr}, UDP GSO, UDP GRO), as decided at start from
     * the device, the engine's tuning and the kernel. Safe from any thread.
     *
     * @return the offloads; {@link EngineOffloads#NONE} before start or for an engine without offloads
     */
    default EngineOffloads offloads() {
        return EngineOffloads.NONE;
    }

    /**
     * Sets the public key a peer's lease advertises, or that it advertises none; the engine derives the peer's keys
     * and seals to it from the next packet on. Called on a control thread for every peer lease added or changed;
     * an engine without encryption ignores it.
     *
     * @param publicIp the peer's PublicIP, int form
     * @param publicKey the raw 32-byte X25519 public key, or {@code null} when the lease has none
     */
    default void peerKey(int publicIp, byte[] publicKey) {
    }

    /**
     * Forgets the key of a peer whose lease is gone.
     *
     * @param publicIp the peer's PublicIP, int form
     */
    default void peerGone(int publicIp) {
    }

    /**
     * Applies a batch of key changes in order, as {@link #peerKey} and {@link #peerGone} would one by one; an engine
     * with encryption derives the new keys and publishes the result once for the whole batch, so that loading N peers
     * costs N derivations, not N table rebuilds. Control thread.
     *
     * @param changes the changes, in order
     */
    default void peerKeys(java.util.List<PeerKey> changes) {
        for (PeerKey k : changes) {
            if (k.gone()) {
                peerGone(k.publicIp());
            } else {
                peerKey(k.publicIp(), k.publicKey());
            }
        }
    }

    /**
     * Returns the encryption mode, this host's public key and the peers without a key. Safe from any thread.
     *
     * @return the status; {@link EncryptionStatus#OFF} for an engine without encryption
     */
    default EncryptionStatus encryption() {
        return EncryptionStatus.OFF;
    }

    /**
     * Moves the engine's socket(s) to another local underlay address, keeping the port: the address it was started
     * with (or last moved to) is gone from the host, so nothing addressed to this host reaches the old socket and
     * nothing can be sent from it. Returns once every loop sends and receives on the new address; datagrams still
     * queued on the old socket are dropped. Called on a control thread, rarely (an underlay address change).
     * The default says the engine cannot.
     *
     * @param address the new local address, int form; a no-op when it is the current one
     * @throws java.io.IOException if the new socket cannot be bound (the message names address, port and the error);
     *     the engine then keeps the old socket
     * @throws UnsupportedOperationException if the engine cannot move
     * @throws IllegalStateException if the engine is not running
     */
    default void rebind(final int address) throws java.io.IOException {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot move to another underlay "
            + "address while it runs");
    }

    /**
     * Stops forwarding and closes the socket(s); does not close the TUN device. Idempotent.
     */
    @Override
    void close();
}
