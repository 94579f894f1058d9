package io.overlay.core.net;

import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * The overlay's route table: peer subnet to the peer's underlay address ({@link Peer}). Written by the control plane
 * (the allocator's thread), read by the packet path.
 *
 * <p><b>Threading.</b> Readers ({@link #lookup}, {@link #hasPeer}) take no lock and allocate nothing: they read one
 * immutable snapshot through one volatile field, so a reader sees the table before or after a write, never a mix.
 * Writers ({@link #apply}, {@link #put}, {@link #remove}, {@link #replaceAll}) build the next snapshot under this
 * object's monitor and publish it with one volatile write. {@link #apply} takes a whole {@link RouteChanges} batch
 * (a listing, a re-list's difference, a burst of watch events) and publishes it as one snapshot; batches handed to
 * {@code apply} on other threads while one is being built wait and are then applied together, as one more snapshot.
 *
 * <p><b>Cost.</b> Routes and the peers' PublicIPs (with a count of routes each) are two open-addressing hash tables
 * kept in pages ({@link PagedTable}): a write copies the page directories and only the pages it changes (4 KiB
 * each), then costs O(1) per change (hash insert, or a backward-shift delete of linear probing). So a single lease
 * event copies ~10 KB (JMH {@code RouteBatchBenchmark.oneEventAtN}: 8.8 KB at 1,000 peers, 10.0 KB at 16,383),
 * and loading N routes in one batch is O(N), where N single puts into a flat copied table would be O(N²). Memory:
 * 32 to 64 bytes per route and per PublicIP. A lookup costs one volatile read and, per distinct prefix length present
 * (normally one, since all flannel leases share {@code SubnetLen}), one probe sequence. Longest prefix wins, unlike
 * flannel's first-match linear scan ({@code find_route} in flannel v0.28.9 {@code pkg/backend/udp/proxy_amd64.c}),
 * which only matters when sizes differ.
 */
public final class RouteTable {
    /**
     * What {@link #lookup} returns when no route matches: -1, which no {@link Peer#packed() packed peer} can be (a
     * packed peer is a 48-bit value, never negative).
     */
    public static final long NO_ROUTE = -1;

    private final Object writeLock = new Object();
    /** Batches handed to {@link #apply}, taken by whichever writer holds the lock next. */
    private final ConcurrentLinkedQueue<RouteChanges> pending = new ConcurrentLinkedQueue<>();
    private volatile Snapshot snapshot = Snapshot.EMPTY;
    private volatile long version;

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
     * Returns whether {@code publicIp} is the PublicIP of any routed peer. Lock-free and allocation-free (a probe of
     * the current snapshot's table of peer addresses); used by the packet path to accept datagrams only from known
     * peers.
     *
     * @param publicIp an underlay address, int form
     * @return {@code true} if some route's peer has that PublicIP
     */
    public boolean hasPeer(final int publicIp) {
        return snapshot.peerIps.get(ipKey(publicIp), 0) != 0;
    }

    /**
     * Applies a batch of changes in order and publishes the result as one snapshot (none when nothing changed).
     * Returns once the changes are visible to readers. Batches passed in by other threads while this one waits for
     * the lock are applied with it, after it, in the order they were passed in.
     *
     * @param changes the changes; not modified, and must not be modified until this returns
     * @throws NullPointerException if {@code changes} is null
     */
    public void apply(final RouteChanges changes) {
        Objects.requireNonNull(changes, "changes");
        if (changes.isEmpty()) {
            return;
        }
        pending.add(changes);
        synchronized (writeLock) {
            final List<RouteChanges> queued = drainPending();
            if (queued.isEmpty()) {
                return; // the writer before us applied ours too, and published before it let go of the lock
            }
            final Edit e = new Edit(snapshot, puts(queued));
            applyAll(e, queued);
            publish(e);
        }
    }

    /**
     * Adds or replaces the route for {@code subnet} (a batch of one: {@link #apply} is cheaper for many).
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
            final List<RouteChanges> queued = drainPending();
            final Edit e = new Edit(snapshot, puts(queued) + 1);
            applyAll(e, queued);
            final Peer old = e.put(subnet, peer);
            publish(e);
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
            final List<RouteChanges> queued = drainPending();
            final Edit e = new Edit(snapshot, puts(queued));
            applyAll(e, queued);
            final Peer old = subnet == null ? null : e.remove(subnet);
            publish(e);
            return old;
        }
    }

    /**
     * Replaces every route at once (one snapshot build, O(n)); batches still waiting in {@link #apply} are
     * superseded.
     *
     * @param all the complete new table
     * @throws NullPointerException if a subnet or peer in it is null; the table is then unchanged
     */
    public void replaceAll(final Map<Ipv4Prefix, Peer> all) {
        final RouteChanges changes = new RouteChanges(all.size());
        all.forEach(changes::put);
        synchronized (writeLock) {
            drainPending();
            final Edit e = new Edit(Snapshot.EMPTY, changes.puts());
            e.replacing = true;
            applyAll(e, List.of(changes));
            publish(e);
        }
    }

    /**
     * Returns the current routes, read from one snapshot without a lock.
     *
     * @return an unmodifiable map that never changes (later writes publish other snapshots), iterated sorted by subnet
     *     ({@link Ipv4Prefix#compareTo}); its size and lookups cost O(1), its first iteration builds the sorted copy
     */
    public Map<Ipv4Prefix, Peer> routes() {
        return new Routes(snapshot);
    }

    /**
     * Returns the number of routes.
     *
     * @return the count
     */
    public int size() {
        return snapshot.routes.size;
    }

    /**
     * Returns how many snapshots were published since creation: each write that changed something publishes one,
     * whatever the number of changes in it. For tests and diagnostics.
     *
     * @return the count
     */
    public long version() {
        return version;
    }

    private List<RouteChanges> drainPending() {
        final List<RouteChanges> out = new ArrayList<>(2);
        for (RouteChanges c = pending.poll(); c != null; c = pending.poll()) {
            out.add(c);
        }
        return out;
    }

    private static int puts(final List<RouteChanges> batches) {
        int n = 0;
        for (RouteChanges c : batches) {
            n += c.puts();
        }
        return n;
    }

    private static void applyAll(final Edit e, final List<RouteChanges> batches) {
        for (RouteChanges c : batches) {
            for (int i = 0, n = c.size(); i < n; i++) {
                final Peer peer = c.peer(i);
                if (peer == null) {
                    e.remove(c.subnet(i));
                } else {
                    e.put(c.subnet(i), peer);
                }
            }
        }
    }

    /** Under {@code writeLock}. */
    private void publish(final Edit e) {
        if (e.changed()) {
            snapshot = e.build();
            version++;
        }
    }

    /** A route's key in the route table: network address and prefix length + 1 (so never 0, the empty slot). */
    private static long routeKey(final int address, final int length) {
        return (address & 0xffff_ffffL) << 8 | (length + 1);
    }

    /** A PublicIP's key in the table of peer addresses (never 0). */
    private static long ipKey(final int ip) {
        return (ip & 0xffff_ffffL) << 8 | 1;
    }

    /**
     * The next snapshot being built by one writer under {@code writeLock}: editors of the current snapshot's two
     * tables, which copy a page on its first write, so no reader ever sees a change before {@link #build()}.
     */
    private static final class Edit {
        private final Snapshot base;
        private final int[] lengthCounts;
        private final PagedTable.Editor routes;
        /** PublicIP to the number of routes that point at it; an IP leaves when its count reaches 0. */
        private final PagedTable.Editor ips;
        /** A {@link #replaceAll}: publish even when the result equals the base. */
        private boolean replacing;

        Edit(final Snapshot base, final int puts) {
            this.base = base;
            this.lengthCounts = base.lengthCounts.clone();
            this.routes = new PagedTable.Editor(base.routes, puts);
            this.ips = new PagedTable.Editor(base.peerIps, puts);
        }

        boolean changed() {
            return replacing || routes.changed();
        }

        Peer put(final Ipv4Prefix subnet, final Peer peer) {
            final long packed = peer.packed();
            final long old = routes.put(routeKey(subnet.address(), subnet.length()), packed, NO_ROUTE);
            if (old == NO_ROUTE) {
                lengthCounts[subnet.length()]++;
                count(peer.publicIp(), 1);
                return null;
            }
            if (Peer.ipOf(old) != peer.publicIp()) {
                count(Peer.ipOf(old), -1);
                count(peer.publicIp(), 1);
            }
            return Peer.unpack(old);
        }

        Peer remove(final Ipv4Prefix subnet) {
            final long old = routes.remove(routeKey(subnet.address(), subnet.length()), NO_ROUTE);
            if (old == NO_ROUTE) {
                return null;
            }
            lengthCounts[subnet.length()]--;
            count(Peer.ipOf(old), -1);
            return Peer.unpack(old);
        }

        private void count(final int ip, final int delta) {
            final long key = ipKey(ip);
            final long n = ips.get(key, 0) + delta;
            if (n == 0) {
                ips.remove(key, 0);
            } else {
                ips.put(key, n, 0);
            }
        }

        Snapshot build() {
            boolean sameLengths = true;
            for (int l = 0; l <= 32; l++) {
                sameLengths &= (lengthCounts[l] > 0) == (base.lengthCounts[l] > 0);
            }
            int[] lengths = base.lengths;
            int[] masks = base.masks;
            if (!sameLengths) {
                int distinct = 0;
                for (int l = 0; l <= 32; l++) {
                    distinct += lengthCounts[l] > 0 ? 1 : 0;
                }
                lengths = new int[distinct];
                masks = new int[distinct];
                for (int l = 32, i = 0; l >= 0; l--) {
                    if (lengthCounts[l] > 0) {
                        lengths[i] = l;
                        masks[i++] = Ipv4.mask(l);
                    }
                }
            }
            return new Snapshot(lengths, masks, routes.build(), ips.build(), lengthCounts);
        }
    }

    /** An immutable route table and its peers' PublicIPs; never changed once published. */
    private static final class Snapshot {
        static final Snapshot EMPTY = new Snapshot(new int[0], new int[0], PagedTable.EMPTY, PagedTable.EMPTY,
            new int[33]);

        private final int[] lengths; // distinct prefix lengths, longest first
        private final int[] masks;
        private final PagedTable routes; // routeKey -> packed peer
        private final PagedTable peerIps; // ipKey -> number of routes with that PublicIP (> 0)
        private final int[] lengthCounts; // routes per prefix length 0..32

        private Snapshot(final int[] lengths, final int[] masks, final PagedTable routes, final PagedTable peerIps,
                         final int[] lengthCounts) {
            this.lengths = lengths;
            this.masks = masks;
            this.routes = routes;
            this.peerIps = peerIps;
            this.lengthCounts = lengthCounts;
        }

        long lookup(final int dst) {
            for (int i = 0; i < lengths.length; i++) {
                final long peer = routes.get(routeKey(dst & masks[i], lengths[i]), NO_ROUTE);
                if (peer != NO_ROUTE) {
                    return peer;
                }
            }
            return NO_ROUTE;
        }

        Map<Ipv4Prefix, Peer> sortedRoutes() {
            final Map<Ipv4Prefix, Peer> out = new TreeMap<>();
            routes.forEach((key, peer) ->
                out.put(Ipv4Prefix.of((int) (key >>> 8), (int) (key & 0xff) - 1), Peer.unpack(peer)));
            return Collections.unmodifiableMap(out);
        }

        @Override
        public String toString() {
            return "Snapshot" + Arrays.toString(lengths) + " size " + routes.size;
        }
    }

    /**
     * {@link #routes()}: an unmodifiable map over one snapshot. {@code size}, {@code get} and {@code containsKey} read
     * the snapshot's table; anything that iterates sorts the routes into a {@code TreeMap} once, on first use. So a
     * caller that only counts or looks up (the health line, the {@code /metrics} gauge, every health probe) no longer
     * copies every route: with 5,000 peers a copy was ~1 MB of garbage per call.
     */
    private static final class Routes extends AbstractMap<Ipv4Prefix, Peer> {
        private final Snapshot snapshot;
        private volatile Map<Ipv4Prefix, Peer> sorted; // built at most a few times under a race, all equal

        Routes(final Snapshot snapshot) {
            this.snapshot = snapshot;
        }

        @Override
        public int size() {
            return snapshot.routes.size;
        }

        @Override
        public Peer get(final Object key) {
            if (!(Objects.requireNonNull(key, "key") instanceof Ipv4Prefix p)) { // as the sorted copy: no null key
                return null;
            }
            final long peer = snapshot.routes.get(routeKey(p.address(), p.length()), NO_ROUTE);
            return peer == NO_ROUTE ? null : Peer.unpack(peer);
        }

        @Override
        public boolean containsKey(final Object key) {
            return get(key) != null;
        }

        // Every mutator refuses, whatever its arguments, as Collections.unmodifiableMap does (AbstractMap's would
        // return quietly when there is nothing to change).
        @Override
        public Peer put(final Ipv4Prefix key, final Peer value) {
            throw unmodifiable();
        }

        @Override
        public Peer remove(final Object key) {
            throw unmodifiable();
        }

        @Override
        public void putAll(final Map<? extends Ipv4Prefix, ? extends Peer> m) {
            throw unmodifiable();
        }

        @Override
        public void clear() {
            throw unmodifiable();
        }

        @Override
        public void replaceAll(final BiFunction<? super Ipv4Prefix, ? super Peer, ? extends Peer> f) {
            throw unmodifiable();
        }

        @Override
        public Peer putIfAbsent(final Ipv4Prefix key, final Peer value) {
            throw unmodifiable();
        }

        @Override
        public boolean remove(final Object key, final Object value) {
            throw unmodifiable();
        }

        @Override
        public boolean replace(final Ipv4Prefix key, final Peer oldValue, final Peer newValue) {
            throw unmodifiable();
        }

        @Override
        public Peer replace(final Ipv4Prefix key, final Peer value) {
            throw unmodifiable();
        }

        @Override
        public Peer computeIfAbsent(final Ipv4Prefix key, final Function<? super Ipv4Prefix, ? extends Peer> f) {
            throw unmodifiable();
        }

        @Override
        public Peer computeIfPresent(final Ipv4Prefix key,
                                     final BiFunction<? super Ipv4Prefix, ? super Peer, ? extends Peer> f) {
            throw unmodifiable();
        }

        @Override
        public Peer compute(final Ipv4Prefix key,
                            final BiFunction<? super Ipv4Prefix, ? super Peer, ? extends Peer> f) {
            throw unmodifiable();
        }

        @Override
        public Peer merge(final Ipv4Prefix key, final Peer value,
                          final BiFunction<? super Peer, ? super Peer, ? extends Peer> f) {
            throw unmodifiable();
        }

        @Override
        public Set<Ipv4Prefix> keySet() {
            return Collections.unmodifiableSet(super.keySet()); // contains() still reads the snapshot
        }

        @Override
        public Collection<Peer> values() {
            return Collections.unmodifiableCollection(super.values());
        }

        private static UnsupportedOperationException unmodifiable() {
            return new UnsupportedOperationException("the routes of a snapshot cannot be changed");
        }

        @Override
        public Set<Entry<Ipv4Prefix, Peer>> entrySet() {
            Map<Ipv4Prefix, Peer> m = sorted;
            if (m == null) {
                m = snapshot.sortedRoutes();
                sorted = m;
            }
            return m.entrySet();
        }
    }
}
