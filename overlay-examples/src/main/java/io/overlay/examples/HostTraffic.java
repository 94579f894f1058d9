package io.overlay.examples;

import io.overlay.core.ForwardingOverlayListener;
import io.overlay.core.OverlayListener;
import io.overlay.core.OverlayStatus;
import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TrafficManager;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * The launcher's glue between an {@link io.overlay.core.Overlay} and a {@link TrafficManager}, in the shape of
 * flanneld's main (flannel v0.28.9 {@code main.go}): once the lease is known the host rules are applied for the
 * Network and the subnet (again after a re-acquired lease), and the launcher's readiness is the overlay's and the
 * rules' together, so {@code /readyz} answers 503 and systemd hears no {@code READY=1} until the rules are in place,
 * as with flanneld. Every event is passed on to the next listener (the systemd notifier; peer batches, the end of the
 * listing and network config changes too, {@link ForwardingOverlayListener}), {@link #ready} only once
 * the rules are in place ({@link #announceIfReady} passes a held-back one on).
 */
final class HostTraffic extends ForwardingOverlayListener {
    private final TrafficManager manager;
    private volatile Supplier<Ipv4Prefix> network = () -> null;
    /** Guarded by {@code this}: a ready() was turned into notReady() because the rules were missing. */
    private boolean readyHeldBack;

    /**
     * Creates the glue.
     *
     * @param manager the rules to apply; closed by {@link #close()}
     * @param next the listener every event is passed on to
     */
    HostTraffic(final TrafficManager manager, final OverlayListener next) {
        super(next);
        this.manager = Objects.requireNonNull(manager, "manager");
    }

    /**
     * Names where the Network comes from (the overlay's status), once the overlay exists.
     *
     * @param network returns the overlay Network, read when a lease event arrives (the config is read before)
     */
    void network(final Supplier<Ipv4Prefix> network) {
        this.network = Objects.requireNonNull(network, "network");
    }

    /** Has the manager clean up what an earlier run left, while the lease is acquired; once the host is ours. */
    void prepare() {
        manager.prepare();
    }

    @Override
    public void leaseAcquired(final Lease lease) {
        apply(lease);
        next.leaseAcquired(lease);
    }

    @Override
    public void leaseReacquired(final Lease previous, final Lease current) {
        apply(current);
        next.leaseReacquired(previous, current);
    }

    @Override
    public synchronized void ready(final OverlayStatus status) {
        final OverlayStatus gated = gate(status);
        readyHeldBack = !gated.ready();
        if (gated.ready()) {
            next.ready(gated);
        } else {
            next.notReady(gated.reason());
        }
    }

    @Override
    public synchronized void notReady(final String reason) {
        readyHeldBack = false;
        next.notReady(reason);
    }

    /**
     * Passes on a {@link #ready} that was held back while the rules were missing, if they are in place now.
     *
     * @param status the overlay's own status
     */
    synchronized void announceIfReady(final OverlayStatus status) {
        final OverlayStatus gated = gate(status);
        if (readyHeldBack && gated.ready()) {
            readyHeldBack = false;
            next.ready(gated);
        }
    }

    private void apply(final Lease lease) {
        final Ipv4Prefix n = network.get();
        if (n != null) {
            manager.apply(n, lease.subnet());
        }
    }

    /**
     * Returns the overlay's status, turned not-ready while the host rules are missing.
     *
     * @param status the overlay's own status
     * @return {@code status}, or a copy that is not ready with the rules' problem as the reason
     */
    OverlayStatus gate(final OverlayStatus status) {
        final Optional<String> problem = manager.problem();
        if (!status.ready() || problem.isEmpty()) {
            return status;
        }
        return new OverlayStatus(false, problem.get(), status.lease(), status.network(), status.mtu(),
            status.tunName(), status.bridge(), status.peers(), status.counters(), status.allocator(),
            status.offloads());
    }

    /**
     * Waits until the host rules are in place or a problem other than "installing" is known, at most
     * {@code timeoutMillis}.
     *
     * @param timeoutMillis the longest wait
     * @throws InterruptedException if interrupted
     */
    void awaitSettled(final long timeoutMillis) throws InterruptedException {
        final long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (manager.problem().filter(p -> p.equals(TrafficManager.INSTALLING)).isPresent()
            && System.nanoTime() < deadline) {
            Thread.sleep(5); // the ready line waits on this: a start-up poll of a few ms is cheap
        }
    }

    /** Removes the rules (on a clean exit). */
    void close() {
        manager.close();
    }
}
