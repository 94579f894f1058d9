package io.overlay.core;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.spi.PeerChange;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands the public keys of peers' leases to the engine ({@link PacketEngine#peerKey}, {@link PacketEngine#peerGone}),
 * then passes every event on to the next listener unchanged (a batch stays one batch). Runs on the allocator's
 * thread, before the route table hears of the peer, so a new peer's key is in place when the first packet is routed
 * to it; key derivation is one X25519 and a few HMACs, well under a millisecond. Used only when encryption is on.
 */
final class PeerKeyFollower implements LeaseListener {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);

    private final PacketEngine engine;
    private final LeaseListener next;

    private PeerKeyFollower(final PacketEngine engine, final LeaseListener next) {
        this.engine = engine;
        this.next = next;
    }

    /** Returns a listener that updates the engine's peer keys, then calls {@code next}. */
    static LeaseListener before(final PacketEngine engine, final LeaseListener next) {
        return new PeerKeyFollower(engine, next);
    }

    @Override
    public void leaseRenewed(final Lease lease) {
        next.leaseRenewed(lease);
    }

    @Override
    public void leaseLost(final Lease lease) {
        next.leaseLost(lease);
    }

    @Override
    public void leaseReacquired(final Lease previous, final Lease current) {
        next.leaseReacquired(previous, current);
    }

    @Override
    public void networkConfigChanged(final NetworkConfig running, final NetworkConfig stored,
                                     final List<String> restartNeeded) {
        next.networkConfigChanged(running, stored, restartNeeded);
    }

    @Override
    public void peersChanged(final List<PeerChange> changes) {
        for (PeerChange c : changes) {
            keys(c);
        }
        next.peersChanged(changes);
    }

    @Override
    public void peerAdded(final Lease lease) {
        keys(PeerChange.added(lease));
        next.peerAdded(lease);
    }

    @Override
    public void peerChanged(final Lease previous, final Lease current) {
        keys(PeerChange.changed(previous, current));
        next.peerChanged(previous, current);
    }

    @Override
    public void peerRemoved(final Lease lease) {
        keys(PeerChange.removed(lease));
        next.peerRemoved(lease);
    }

    @Override
    public void peersListed() {
        next.peersListed();
    }

    private void keys(final PeerChange c) {
        switch (c.kind()) {
            case ADDED -> key(c.current());
            case CHANGED -> {
                if (c.previous().attrs().publicIp() != c.current().attrs().publicIp()) {
                    engine.peerGone(c.previous().attrs().publicIp());
                }
                key(c.current());
            }
            default -> engine.peerGone(c.previous().attrs().publicIp());
        }
    }

    private void key(final Lease lease) {
        final int ip = lease.attrs().publicIp();
        try {
            engine.peerKey(ip, EngineEncryption.publicKeyOf(lease.attrs()).orElse(null));
        } catch (IllegalArgumentException e) {
            LOG.warn("Peer {} ({}) advertises a bad key, treating it as keyless: {}", lease.subnet(),
                Ipv4.format(ip), e.getMessage());
            engine.peerKey(ip, null);
        }
    }
}
