package io.overlay.core.spi;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.NetworkConfig;
import java.util.List;

/**
 * Lease and peer events from a {@link SubnetAllocator}. Every method has a default: a no-op, except
 * {@link #peersChanged}, which calls the single-peer methods. Called on the allocator's thread, one event at a time;
 * implementations must return quickly and never block (the allocator renews the lease and follows the watch on that
 * thread), handing anything slow to a thread of their own.
 */
public interface LeaseListener {
    /**
     * The own lease was renewed.
     *
     * @param lease the lease with its new TTL
     */
    default void leaseRenewed(Lease lease) {
    }

    /**
     * The own lease was lost (its key deleted or its etcd lease expired). Stop advertising the subnet; a
     * {@link #leaseReacquired} follows when a new lease is had.
     *
     * @param lease the lost lease
     */
    default void leaseLost(Lease lease) {
    }

    /**
     * A lease was acquired again after {@link #leaseLost}; the subnet may differ.
     *
     * @param previous the lost lease
     * @param current the new lease
     */
    default void leaseReacquired(Lease previous, Lease current) {
    }

    /**
     * A peer's lease appeared (including every peer present when watching starts).
     *
     * @param lease the peer's lease
     */
    default void peerAdded(Lease lease) {
    }

    /**
     * A peer's lease changed attributes (e.g. a new PublicIP for the same subnet).
     *
     * @param previous the old lease
     * @param current the new lease
     */
    default void peerChanged(Lease previous, Lease current) {
    }

    /**
     * The network config in the registry changed while running (flanneld reads it once at start-up and never
     * notices). Called when the stored config starts to differ from the running one and when it is the running one
     * again; a deleted or invalid config is only logged.
     *
     * @param running the config this host runs with (its lease, TUN route and engine follow it)
     * @param stored the config now in the registry
     * @param restartNeeded what differs that only a restart applies, one item each, e.g.
     *     {@code "Network 100.64.0.0/16 -> 100.65.0.0/16"}; empty when the stored config is the running one again
     *     or its difference was applied (a new SubnetMin/SubnetMax that still holds this host's subnet)
     */
    default void networkConfigChanged(NetworkConfig running, NetworkConfig stored, List<String> restartNeeded) {
    }

    /**
     * A peer's lease was removed or expired.
     *
     * @param lease the removed lease
     */
    default void peerRemoved(Lease lease) {
    }

    /**
     * Several peer changes at once, in order: the peers of a listing (at start, or the difference a re-list found) or
     * the watch events that arrived together. Allocators deliver peer changes through this method so a listener can
     * apply a whole batch at once (the overlay publishes one route table snapshot per call). The default calls
     * {@link #peerAdded}, {@link #peerChanged} or {@link #peerRemoved} for each change, in order, so a listener that
     * implements only those keeps working.
     *
     * @param changes the changes, in order; not empty; do not modify
     */
    default void peersChanged(final List<PeerChange> changes) {
        for (PeerChange c : changes) {
            switch (c.kind()) {
                case ADDED -> peerAdded(c.current());
                case CHANGED -> peerChanged(c.previous(), c.current());
                default -> peerRemoved(c.previous());
            }
        }
    }

    /**
     * Every peer lease present when the allocator started watching has been delivered (by the calls before this
     * one). Called once after {@link SubnetAllocator#start}, also when there are no peers, by allocators whose
     * {@link SubnetAllocator#reportsPeersListed()} is {@code true}.
     */
    default void peersListed() {
    }
}
