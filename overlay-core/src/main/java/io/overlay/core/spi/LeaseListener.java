package io.overlay.core.spi;

import io.overlay.core.flannel.Lease;

/**
 * Lease and peer events from a {@link SubnetAllocator}. Every method has a no-op default. Called on the allocator's
 * thread, one event at a time; implementations must not block.
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
     * A peer's lease was removed or expired.
     *
     * @param lease the removed lease
     */
    default void peerRemoved(Lease lease) {
    }
}
