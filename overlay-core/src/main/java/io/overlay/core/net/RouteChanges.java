package io.overlay.core.net;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * An ordered list of route changes that {@link RouteTable#apply} publishes as one new snapshot: a listing of leases,
 * the difference a re-list found, or a burst of watch events. Later changes of the same subnet win, so
 * {@code put(s, a).remove(s)} leaves no route and {@code remove(s).put(s, b)} leaves {@code b}.
 *
 * <p>Not thread-safe: fill it on one thread, hand it to {@link RouteTable#apply} and do not change it until that
 * returns; it may then be {@link #clear() cleared} and reused.
 */
public final class RouteChanges {
    private final List<Ipv4Prefix> subnets;
    /** {@code null} marks a removal. */
    private final List<Peer> peers;
    private int puts;

    /** Creates an empty list of changes. */
    public RouteChanges() {
        this(16);
    }

    /**
     * Creates an empty list of changes with room for {@code expected} of them.
     *
     * @param expected how many changes will be added, a sizing hint (≥ 0)
     * @throws IllegalArgumentException if {@code expected} is negative
     */
    public RouteChanges(final int expected) {
        if (expected < 0) {
            throw new IllegalArgumentException("expected number of route changes must be >= 0, got " + expected);
        }
        this.subnets = new ArrayList<>(expected);
        this.peers = new ArrayList<>(expected);
    }

    /**
     * Adds or replaces the route for {@code subnet}.
     *
     * @param subnet the peer's subnet
     * @param peer where its packets go
     * @return this
     * @throws NullPointerException if subnet or peer is null
     */
    public RouteChanges put(final Ipv4Prefix subnet, final Peer peer) {
        subnets.add(Objects.requireNonNull(subnet, "subnet"));
        peers.add(Objects.requireNonNull(peer, "peer"));
        puts++;
        return this;
    }

    /**
     * Removes the route for exactly {@code subnet}, if there is one when the change is applied.
     *
     * @param subnet the subnet
     * @return this
     * @throws NullPointerException if subnet is null
     */
    public RouteChanges remove(final Ipv4Prefix subnet) {
        subnets.add(Objects.requireNonNull(subnet, "subnet"));
        peers.add(null);
        return this;
    }

    /**
     * Returns the number of changes (puts and removes).
     *
     * @return the count
     */
    public int size() {
        return subnets.size();
    }

    /**
     * Returns whether there are no changes.
     *
     * @return {@code true} if empty
     */
    public boolean isEmpty() {
        return subnets.isEmpty();
    }

    /**
     * Forgets every change, for reuse.
     *
     * @return this
     */
    public RouteChanges clear() {
        subnets.clear();
        peers.clear();
        puts = 0;
        return this;
    }

    /** The number of puts: how many routes the changes may add at most. */
    int puts() {
        return puts;
    }

    /** The subnet of change {@code i}. */
    Ipv4Prefix subnet(final int i) {
        return subnets.get(i);
    }

    /** The peer of change {@code i}, or {@code null} when it is a removal. */
    Peer peer(final int i) {
        return peers.get(i);
    }

    @Override
    public String toString() {
        return "RouteChanges[" + size() + " changes, " + puts + " puts]";
    }
}
