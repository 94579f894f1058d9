package io.overlay.core;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.PeerChange;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An {@link OverlayListener} that remembers what happened since start, for status pages and metrics: when this
 * host's lease was last granted or renewed (hence how long it has left), how often it was lost and re-acquired, and
 * when each peer's lease last changed. Every event is recorded, then passed on to a delegate listener.
 *
 * <pre>{@code
 * OverlayHistory history = new OverlayHistory(myListener);
 * Overlay overlay = Overlay.builder().allocator(allocator).listener(history).build();
 * }</pre>
 *
 * <p>Events arrive on the overlay's event thread; every method here may be read from any thread and takes no lock.
 */
public final class OverlayHistory extends ForwardingOverlayListener {
    /** The lease as last granted or renewed, and when that event arrived. */
    private record Granted(Lease lease, Instant at) {
    }

    private final Clock clock;
    private volatile Granted granted;
    private final AtomicLong leasesLost = new AtomicLong();
    private final AtomicLong leasesReacquired = new AtomicLong();
    private final Map<Ipv4Prefix, Instant> peersChanged = new ConcurrentHashMap<>();

    /** Creates a history that passes events to no other listener. */
    public OverlayHistory() {
        this(new OverlayListener() { }, Clock.systemUTC());
    }

    /**
     * Creates a history that passes every event on to {@code next} (after recording it).
     *
     * @param next the listener to call, e.g. the host agent's own
     */
    public OverlayHistory(final OverlayListener next) {
        this(next, Clock.systemUTC());
    }

    OverlayHistory(final OverlayListener next, final Clock clock) {
        super(next);
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /**
     * Returns how long this host's lease has left: the TTL etcd granted at the last acquisition, renewal or
     * re-acquisition minus the time since. Empty while no lease is held (before start, after it was lost) and for a
     * reservation, which never expires.
     *
     * @return the remaining time, never negative
     */
    public Optional<Duration> leaseRemaining() {
        final Granted g = granted;
        if (g == null || g.lease().reservation() || g.lease().ttl().isZero()) {
            return Optional.empty();
        }
        final Duration left = g.lease().ttl().minus(Duration.between(g.at(), clock.instant()));
        return Optional.of(left.isNegative() ? Duration.ZERO : left);
    }

    /**
     * Returns when the lease was last granted or renewed.
     *
     * @return the instant, empty while no lease is held
     */
    public Optional<Instant> leaseGrantedAt() {
        final Granted g = granted;
        return g == null ? Optional.empty() : Optional.of(g.at());
    }

    /**
     * Returns how many times the lease was lost.
     *
     * @return the count since start
     */
    public long leasesLost() {
        return leasesLost.get();
    }

    /**
     * Returns how many times a lease was re-acquired after a loss (same subnet or another).
     *
     * @return the count since start
     */
    public long leasesReacquired() {
        return leasesReacquired.get();
    }

    /**
     * Returns when each current peer's lease was last added or changed (PublicIP or attributes).
     *
     * @return a copy sorted by subnet
     */
    public Map<Ipv4Prefix, Instant> peersChanged() {
        return new TreeMap<>(peersChanged);
    }

    @Override
    public void leaseAcquired(final Lease lease) {
        granted = new Granted(lease, clock.instant());
        next.leaseAcquired(lease);
    }

    @Override
    public void leaseRenewed(final Lease lease) {
        if (granted != null) {
            granted = new Granted(lease, clock.instant());
        }
        next.leaseRenewed(lease);
    }

    @Override
    public void leaseLost(final Lease lease) {
        granted = null;
        leasesLost.incrementAndGet();
        next.leaseLost(lease);
    }

    @Override
    public void leaseReacquired(final Lease previous, final Lease current) {
        granted = new Granted(current, clock.instant());
        leasesReacquired.incrementAndGet();
        next.leaseReacquired(previous, current);
    }

    @Override
    public void peerAdded(final Lease lease) {
        peersChanged.put(lease.subnet(), clock.instant());
        next.peerAdded(lease);
    }

    @Override
    public void peerChanged(final Lease previous, final Lease current) {
        peersChanged.put(current.subnet(), clock.instant());
        next.peerChanged(previous, current);
    }

    @Override
    public void peerRemoved(final Lease lease) {
        peersChanged.remove(lease.subnet());
        next.peerRemoved(lease);
    }

    /** Records every change (one clock reading for the batch), then passes the batch on as one call. */
    @Override
    public void peersChanged(final List<PeerChange> changes) {
        final Instant now = clock.instant();
        for (PeerChange c : changes) {
            if (c.kind() == PeerChange.Kind.REMOVED) {
                peersChanged.remove(c.subnet());
            } else {
                peersChanged.put(c.subnet(), now);
            }
        }
        next.peersChanged(changes);
    }

}
