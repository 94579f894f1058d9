package io.overlay.core;

import io.overlay.core.flannel.Lease;
import io.overlay.core.spi.ForwardingLeaseListener;

/**
 * An {@link OverlayListener} that passes every event on to the next listener unchanged, lease and peer events
 * included ({@link ForwardingLeaseListener}): the base of a decorator that acts on a few events and must not drop
 * the others.
 */
public abstract class ForwardingOverlayListener extends ForwardingLeaseListener<OverlayListener>
    implements OverlayListener {
    /**
     * @param next the listener every event is passed on to
     * @throws NullPointerException if {@code next} is null
     */
    protected ForwardingOverlayListener(final OverlayListener next) {
        super(next);
    }

    @Override
    public void leaseAcquired(final Lease lease) {
        next.leaseAcquired(lease);
    }

    @Override
    public void ready(final OverlayStatus status) {
        next.ready(status);
    }

    @Override
    public void notReady(final String reason) {
        next.notReady(reason);
    }

    @Override
    public void failed(final String reason) {
        next.failed(reason);
    }
}
