package io.overlay.examples;

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
 * rules' together, so {@code /readyz} answers 503 until the rules are in place, as flanneld's does.
 */
final class HostTraffic implements OverlayListener {
    private final TrafficManager manager;
    private volatile Supplier<Ipv4Prefix> network = () -> null;

    /**
     * Creates the glue.
     *
     * @param manager the rules to apply; closed by {@link #close()}
     */
    HostTraffic(final TrafficManager manager) {
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

    @Override
    public void leaseAcquired(final Lease lease) {
        apply(lease);
    }

    @Override
    public void leaseReacquired(final Lease previous, final Lease current) {
        apply(current);
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
            status.tunName(), status.bridge(), status.peers(), status.counters());
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
            Thread.sleep(20);
        }
    }

    /** Removes the rules (on a clean exit). */
    void close() {
        manager.close();
    }
}
