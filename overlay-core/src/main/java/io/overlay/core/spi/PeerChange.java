package io.overlay.core.spi;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;

/**
 * One change of a peer's lease, as {@link LeaseListener#peersChanged} delivers it in a batch: added
 * ({@code previous} null), changed (both set, same subnet: new attributes such as another PublicIP) or removed
 * ({@code current} null: deleted or expired).
 *
 * @param previous the lease before the change, or {@code null} when the peer is new
 * @param current the lease after the change, or {@code null} when the peer is gone
 */
public record PeerChange(Lease previous, Lease current) {
    /** What happened to the peer. */
    public enum Kind {
        /** A new peer: {@link LeaseListener#peerAdded}. */
        ADDED,
        /** New attributes for a known subnet: {@link LeaseListener#peerChanged}. */
        CHANGED,
        /** The peer's lease is gone: {@link LeaseListener#peerRemoved}. */
        REMOVED
    }

    /**
     * Checks the shape.
     *
     * @throws IllegalArgumentException if both leases are null, or both are set with different subnets
     */
    public PeerChange {
        if (previous == null && current == null) {
            throw new IllegalArgumentException("a peer change needs a previous or a current lease");
        }
        if (previous != null && current != null && !previous.subnet().equals(current.subnet())) {
            throw new IllegalArgumentException("a changed peer keeps its subnet: " + previous.subnet() + " -> "
                + current.subnet());
        }
    }

    /**
     * A new peer.
     *
     * @param lease its lease
     * @return the change
     */
    public static PeerChange added(final Lease lease) {
        return new PeerChange(null, lease);
    }

    /**
     * New attributes for a known peer.
     *
     * @param previous the old lease
     * @param current the new lease, same subnet
     * @return the change
     */
    public static PeerChange changed(final Lease previous, final Lease current) {
        return new PeerChange(previous, current);
    }

    /**
     * A peer that is gone.
     *
     * @param lease its last lease
     * @return the change
     */
    public static PeerChange removed(final Lease lease) {
        return new PeerChange(lease, null);
    }

    /**
     * Returns what happened.
     *
     * @return added, changed or removed
     */
    public Kind kind() {
        return previous == null ? Kind.ADDED : current == null ? Kind.REMOVED : Kind.CHANGED;
    }

    /**
     * Returns the peer's subnet.
     *
     * @return the subnet of whichever lease is set
     */
    public Ipv4Prefix subnet() {
        return current != null ? current.subnet() : previous.subnet();
    }

    /**
     * Returns the lease as it is now, or as it was last for a removed peer.
     *
     * @return the current lease, else the previous one
     */
    public Lease lease() {
        return current != null ? current : previous;
    }
}
