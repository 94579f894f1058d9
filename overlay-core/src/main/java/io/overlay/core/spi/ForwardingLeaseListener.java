package io.overlay.core.spi;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.NetworkConfig;
import java.util.List;
import java.util.Objects;

/**
 * A {@link LeaseListener} that passes every event on to the next listener unchanged: the base of a decorator, which
 * overrides only the events it acts on (after or around passing them on) and cannot drop the others by forgetting
 * one. A batch stays one batch: {@link #peersChanged} is passed on as it is, not as single peer events.
 *
 * @param <L> the type of the next listener
 */
public abstract class ForwardingLeaseListener<L extends LeaseListener> implements LeaseListener {
    /** Where every event goes. */
    protected final L next;

    /**
     * @param next the listener every event is passed on to
     * @throws NullPointerException if {@code next} is null
     */
    protected ForwardingLeaseListener(final L next) {
        this.next = Objects.requireNonNull(next, "next");
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
    public void peerAdded(final Lease lease) {
        next.peerAdded(lease);
    }

    @Override
    public void peerChanged(final Lease previous, final Lease current) {
        next.peerChanged(previous, current);
    }

    @Override
    public void peerRemoved(final Lease lease) {
        next.peerRemoved(lease);
    }

    @Override
    public void peersChanged(final List<PeerChange> changes) {
        next.peersChanged(changes);
    }

    @Override
    public void peersListed() {
        next.peersListed();
    }

    @Override
    public void networkConfigChanged(final NetworkConfig running, final NetworkConfig stored,
                                     final List<String> restartNeeded) {
        next.networkConfigChanged(running, stored, restartNeeded);
    }
}
