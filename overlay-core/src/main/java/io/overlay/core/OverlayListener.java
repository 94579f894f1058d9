package io.overlay.core;

import io.overlay.core.flannel.Lease;
import io.overlay.core.spi.LeaseListener;

/**
 * Events of a running {@link Overlay} for the embedding host agent: the lease and peer events of
 * {@link LeaseListener} plus acquisition and readiness. Every method has a no-op default. Called on overlay's own
 * event thread, one event at a time; implementations must not block.
 */
public interface OverlayListener extends LeaseListener {
    /**
     * The first lease was acquired at start-up.
     *
     * @param lease this host's lease
     */
    default void leaseAcquired(Lease lease) {
    }

    /**
     * The overlay is ready: TUN configured, bridge (if any) addressed, engine forwarding, the peers listed at start
     * routed (with an allocator that {@link io.overlay.core.spi.SubnetAllocator#reportsPeersListed() reports its
     * listing}), {@code subnet.env} written.
     * Called again after every re-acquired lease (same or another subnet) once everything is applied again.
     *
     * @param status the status at that moment
     */
    default void ready(OverlayStatus status) {
    }

    /**
     * The overlay is not ready: the lease was lost and is being re-acquired (the engine then delivers nothing
     * inbound), or applying a re-acquired lease failed and is being retried. Never called after
     * {@link Overlay#close()}.
     *
     * @param reason why, in a few words, e.g. {@code lease 100.64.5.0/24 lost; re-acquiring}
     */
    default void notReady(String reason) {
    }
}
