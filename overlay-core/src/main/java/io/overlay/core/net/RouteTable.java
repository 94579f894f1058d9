package io.overlay.core.net;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The overlay's route table: peer subnet to the peer's underlay address ({@link Peer}). Written by the control plane
 * (the allocator's watch thread), read by the packet path.
 *
 * <p><b>Threading.</b> Writers ({@link #put}, {@link #remove}, {@link #replaceAll}) are serialised by this object's
 * monitor and publish a new immutable snapshot through one volatile field. Readers ({@link #lookup}) take no lock and
 * allocate nothing: a reader sees either the table before or after an update, never a mix. Every write copies the
 * table (O(n) per update, fine for lease events; use {@link #replaceAll} for bulk loads). A lookup costs one volatile
 * read and, per distinct prefix length present (normally one, since all
 * flannel leases share {@code SubnetLen}), one probe sequence of an open-addressing hash table. Longest prefix wins,
 * unlike flannel's first-match linear scan ({@code find_route} in flannel v0.28.9
 * {@code pkg/backend/udp/proxy_amd64.c}), which only matters when sizes differ.
 */
public final class RouteTable {
    /**
     * What {@link #lookup} returns when no route matches: -1, which no {@link Peer#packed() packed peer} can be (a
     * packed peer is a 48-bit value, never negative).
     */
    public static final long NO_ROUTE = -1;

    private final Object writeLock = new Object();
    private volatile Snapshot snapshot = Snapshot.build(Map.of());
    private Map<Ipv4Prefix, Peer> routes = new LinkedHashMap<>();

    /**
     * Returns the packed peer ({@link Peer#packed()}) of the longest prefix containing {@code dst}, or
     * {@link #NO_ROUTE}.
     * Lock-free and allocation-free; safe on any thread.
     *
     * @param dst the destination address, int form
     * @return the packed peer, or {@link #NO_ROUTE} when no route matches
     */
    public long lookup(final int dst) {
        return snapshot.lookup(dst);
    }

    /**
     * Returns whether {@code publicIp} is the PublicIP of any routed peer. Lock-free and allocation-free (a binary
     * search in the current snapshot's sorted peer addresses); used by the packet path to accept datagrams only
     * from known peers.
     *
     * @param publicIp an underlay address, int form
     * @return {@code true} if some route's peer has that PublicIP
     */
    public boolean hasPeer(final int publicIp) {
        return Arrays.binarySearch(snapshot.peerIps, publicIp) >= 0;
    }

    /**
     * Adds or replaces the route for {@code subnet}.
     *
     * @param subnet the peer's subnet
     * @param peer where its packets go
     * @return the previous peer for that subnet, or {@code null}
     * @throws NullPointerException if subnet or peer is null
     */
    public Peer put(final Ipv4Prefix subnet, final Peer peer) {
        Objects.requireNonNull(subnet, "subnet");
        Objects.requireNonNull(peer, "peer");
        synchronized (writeLock) {
            final Map<Ipv4Prefix, Peer> next = new LinkedHashMap<>(routes);
            final Peer old = next.put(subnet, peer);
            publish(next);
            return old;
        }
    }

    /**
     * Removes the route for exactly {@code subnet}.
     *
     * @param subnet the subnet
     * @return the removed peer, or {@code null} if there was none
     */
    public Peer remove(final Ipv4Prefix subnet) {
        synchronized (writeLock) {
            if (!routes.containsKey(subnet)) {
                return null;
            }
            final Map<Ipv4Prefix, Peer> next = new LinkedHashMap<>(routes);
            final Peer old = next.remove(subnet);
            publish(next);
            return old;
        }
    }

    /**
     * Replaces every route at once (one snapshot build, O(n)); used for an initial listing.
     *
     * @param all the complete new table
     * @throws NullPointerException if a subnet or peer in it is null; the table is then unchanged
     */
    public void replaceAll(final Map<Ipv4Prefix, Peer> all) {
        final Map<Ipv4Prefix, Peer> copy = new LinkedHashMap<>(all);
        copy.forEach((k, v) -> {
            Objects.requireNonNull(k, "subnet");
            Objects.requireNonNull(v, "peer");
        });
        synchronized (writeLock) {
            publish(copy);
        }
    }

    /**
     * Returns the current routes.
     *
     * @return an unmodifiable copy, in insertion order
     */
    public Map<Ipv4Prefix, Peer> routes() {
        synchronized (writeLock) {
            return Collections.unmodifiableMap(new LinkedHashMap<>(routes));
        }
    }

    /**
     * Returns the number of routes.
     *
     * @return the count
     */
    public int size() {
        return snapshot.size;
    }

    private void publish(final Map<Ipv4Prefix, Peer> next) {
        routes = next;
        snapshot = Snapshot.build(next);
    }

    /** Immutable open-addressing table keyed by (network address, length). */
    private static final class Snapshot {
        private final int[] lengths; // distinct prefix lengths, longest first
        private final int[] masks;
        private final int[] keys;
        private final byte[] keyLengths; // 0 = empty slot (length stored + 1)
        private final long[] values;
        private final int slotMask;
        private final int size;
        private int[] peerIps = new int[0]; // distinct peer PublicIPs, sorted (signed order, as binarySearch uses)

        private Snapshot(final int[] lengths, final int capacity, final int size) {
            this.lengths = lengths;
            this.masks = new int[lengths.length];
            for (int i = 0; i < lengths.length; i++) {
                masks[i] = Ipv4.mask(lengths[i]);
            }
            this.keys = new int[capacity];
            this.keyLengths = new byte[capacity];
            this.values = new long[capacity];
            this.slotMask = capacity - 1;
            this.size = size;
        }

        static Snapshot build(final Map<Ipv4Prefix, Peer> routes) {
            final int[] lengths = routes.keySet().stream().mapToInt(Ipv4Prefix::length).distinct()
                .map(l -> -l).sorted().map(l -> -l).toArray();
            int capacity = 8;
            while (capacity < routes.size() * 2) {
                capacity <<= 1;
            }
            final Snapshot s = new Snapshot(lengths, capacity, routes.size());
            for (Map.Entry<Ipv4Prefix, Peer> e : routes.entrySet()) {
                s.insert(e.getKey().address(), e.getKey().length(), e.getValue().packed());
            }
            s.peerIps = routes.values().stream().mapToInt(Peer::publicIp).distinct().sorted().toArray();
            return s;
        }

        private void insert(final int key, final int length, final long value) {
            int slot = hash(key, length) & slotMask;
            while (keyLengths[slot] != 0) {
                slot = (slot + 1) & slotMask;
            }
            keys[slot] = key;
            keyLengths[slot] = (byte) (length + 1);
            values[slot] = value;
        }

        long lookup(final int dst) {
            for (int i = 0; i < lengths.length; i++) {
                final int length = lengths[i];
                final int key = dst & masks[i];
                final byte tag = (byte) (length + 1);
                int slot = hash(key, length) & slotMask;
                byte k;
                while ((k = keyLengths[slot]) != 0) {
                    if (k == tag && keys[slot] == key) {
                        return values[slot];
                    }
                    slot = (slot + 1) & slotMask;
                }
            }
            return NO_ROUTE;
        }

        private static int hash(final int key, final int length) {
            int h = key * 0x9E3779B1 + length;
            return h ^ (h >>> 16);
        }

        @Override
        public String toString() {
            return "Snapshot" + Arrays.toString(lengths) + " size " + size;
        }
    }
}
