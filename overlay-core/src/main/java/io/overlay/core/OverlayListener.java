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

    /**
     * The overlay cannot go on in this process: its TUN device was deleted by someone else (its descriptors are dead,
     * nothing can be restored in place). Comes after {@link #notReady} with the same reason; the overlay stays not
     * ready and forwards nothing through the lost device until it is {@link Overlay#close() closed} and a new one
     * started, which opens a new device (the lease stays in etcd, so the same subnet comes back). The launcher exits
     * with status 1 here, so that a supervisor such as systemd's {@code Restart=on-failure} starts it again. Called at
     * most once.
     *
     * @param reason what happened, e.g. {@code TUN device flannel0 was deleted ...; restart needed}
     */
    default void failed(String reason) {
    }
}
