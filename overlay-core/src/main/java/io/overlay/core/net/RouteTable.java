package io.overlay.core.net;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;

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
 * <p><b>Cost.</b> A write copies the snapshot's three flat arrays (a memory copy of about 26 bytes per route at the
 * table's load factor of at most one half) and then costs O(1) per change (hash insert, or a backward-shift delete
 * of linear probing); the sorted PublicIP array is checked in one pass over the routes when a few PublicIPs were
 * touched, rebuilt (a sort) when many were. Loading N routes in one batch is O(N log N) in the sort and O(N)
 * otherwise, where N single puts would be O(N²). A lookup costs one volatile read and, per distinct
 * prefix length present (normally one, since all flannel leases share {@code SubnetLen}), one probe sequence of an
 * open-addressing hash table. Longest prefix wins, unlike flannel's first-match linear scan ({@code find_route} in
 * flannel v0.28.9 {@code pkg/backend/udp/proxy_amd64.c}), which only matters when sizes differ.
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
            e.changed = true;
            applyAll(e, List.of(changes));
            publish(e);
        }
    }

    /**
     * Returns the current routes, read from one snapshot without a lock.
     *
     * @return an unmodifiable copy, sorted by subnet ({@link Ipv4Prefix#compareTo})
     */
    public Map<Ipv4Prefix, Peer> routes() {
        return snapshot.routes();
    }

    /**
     * Returns the number of routes.
     *
     * @return the count
     */
    public int size() {
        return snapshot.size;
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
        if (e.changed) {
            snapshot = e.build();
            version++;
        }
    }

    private static int hash(final int key, final int length) {
        final int h = key * 0x9E3779B1 + length;
        return h ^ (h >>> 16);
    }

    /** Smallest power of two ≥ 8 that holds {@code routes} at a load factor of at most one half. */
    private static int capacityFor(final int routes) {
        int capacity = Snapshot.MIN_CAPACITY;
        while (capacity < routes * 2L) {
            capacity <<= 1;
        }
        return capacity;
    }

    /**
     * The next snapshot being built by one writer under {@code writeLock}: private copies of the current snapshot's
     * arrays, changed in place, never seen by a reader before {@link #build()}.
     */
    private static final class Edit {
        /** Beyond this many PublicIPs touched, the sorted PublicIPs are rebuilt from all routes (sort, O(n log n)). */
        private static final int TRACKED_IPS = 32;

        private final Snapshot base;
        private final int[] lengthCounts;
        /** PublicIPs of routes added, changed or removed: they may have appeared or disappeared. */
        private int[] touchedIps = new int[4];
        private int touched;
        private boolean allIpsAnew;
        private int[] keys;
        private byte[] keyLengths;
        private long[] values;
        private int mask;
        private int size;
        private boolean changed;

        Edit(final Snapshot base, final int puts) {
            this.base = base;
            this.size = base.size;
            this.lengthCounts = base.lengthCounts.clone();
            final int capacity = capacityFor(base.size + puts);
            if (capacity <= base.keys.length) {
                keys = base.keys.clone();
                keyLengths = base.keyLengths.clone();
                values = base.values.clone();
                mask = base.keys.length - 1;
            } else {
                keys = base.keys;
                keyLengths = base.keyLengths;
                values = base.values;
                rehash(capacity);
            }
        }

        /** Moves every entry into fresh arrays of {@code capacity} slots. */
        private void rehash(final int capacity) {
            final int[] oldKeys = keys;
            final byte[] oldLengths = keyLengths;
            final long[] oldValues = values;
            keys = new int[capacity];
            keyLengths = new byte[capacity];
            values = new long[capacity];
            mask = capacity - 1;
            for (int i = 0; i < oldKeys.length; i++) {
                if (oldLengths[i] != 0) {
                    final int slot = ~find(oldKeys[i], oldLengths[i]);
                    keys[slot] = oldKeys[i];
                    keyLengths[slot] = oldLengths[i];
                    values[slot] = oldValues[i];
                }
            }
        }

        /** The slot holding (key, tag), or {@code ~slot} of the empty slot where it would go. */
        private int find(final int key, final byte tag) {
            int slot = hash(key, tag - 1) & mask;
            byte k;
            while ((k = keyLengths[slot]) != 0) {
                if (k == tag && keys[slot] == key) {
                    return slot;
                }
                slot = (slot + 1) & mask;
            }
            return ~slot;
        }

        Peer put(final Ipv4Prefix subnet, final Peer peer) {
            final long packed = peer.packed();
            final byte tag = (byte) (subnet.length() + 1);
            int slot = find(subnet.address(), tag);
            if (slot >= 0) {
                final long old = values[slot];
                if (old != packed) {
                    values[slot] = packed;
                    if (Peer.ipOf(old) != peer.publicIp()) {
                        touch(Peer.ipOf(old));
                        touch(peer.publicIp());
                    }
                    changed = true;
                }
                return Peer.unpack(old);
            }
            if ((size + 1) * 2L > keys.length) {
                rehash(keys.length * 2);
                slot = find(subnet.address(), tag);
            }
            slot = ~slot;
            keys[slot] = subnet.address();
            keyLengths[slot] = tag;
            values[slot] = packed;
            size++;
            lengthCounts[subnet.length()]++;
            touch(peer.publicIp());
            changed = true;
            return null;
        }

        Peer remove(final Ipv4Prefix subnet) {
            final int slot = find(subnet.address(), (byte) (subnet.length() + 1));
            if (slot < 0) {
                return null;
            }
            final long old = values[slot];
            deleteAt(slot);
            size--;
            lengthCounts[subnet.length()]--;
            touch(Peer.ipOf(old));
            changed = true;
            return Peer.unpack(old);
        }

        /**
         * Linear probing's backward-shift deletion: entries after the hole whose home slot is not cyclically in
         * (hole, entry] move into the hole, so every probe sequence stays unbroken without tombstones.
         */
        private void deleteAt(final int slot) {
            int hole = slot;
            int j = slot;
            while (true) {
                j = (j + 1) & mask;
                if (keyLengths[j] == 0) {
                    break;
                }
                final int home = hash(keys[j], keyLengths[j] - 1) & mask;
                final boolean stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
                if (!stays) {
                    keys[hole] = keys[j];
                    keyLengths[hole] = keyLengths[j];
                    values[hole] = values[j];
                    hole = j;
                }
            }
            keys[hole] = 0;
            keyLengths[hole] = 0;
            values[hole] = 0;
        }

        /** Notes a PublicIP that may have appeared or disappeared; past {@link #TRACKED_IPS}, all are redone. */
        private void touch(final int ip) {
            if (allIpsAnew) {
                return;
            }
            if (touched == TRACKED_IPS) {
                allIpsAnew = true;
                return;
            }
            if (touched == touchedIps.length) {
                touchedIps = Arrays.copyOf(touchedIps, touched * 2);
            }
            touchedIps[touched++] = ip;
        }

        Snapshot build() {
            if (size * 8L < keys.length && keys.length > Snapshot.MIN_CAPACITY) {
                rehash(capacityFor(size)); // shrink after mass removal; hysteresis: grow at 1/2, shrink at 1/8
            }
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
            return new Snapshot(lengths, masks, keys, keyLengths, values, size,
                allIpsAnew ? allPeerIps() : mergedPeerIps(), lengthCounts);
        }

        /** Every route's PublicIP, sorted, without repeats. */
        private int[] allPeerIps() {
            final int[] ips = new int[size];
            int n = 0;
            for (int i = 0; i < keyLengths.length; i++) {
                if (keyLengths[i] != 0) {
                    ips[n++] = Peer.ipOf(values[i]);
                }
            }
            return sortedDistinct(ips, n);
        }

        /**
         * The base's sorted PublicIPs, with each touched one present exactly when some route still uses it: one pass
         * over the routes, a binary search of the few touched PublicIPs each.
         */
        private int[] mergedPeerIps() {
            final int[] old = base.peerIps;
            if (touched == 0) {
                return old;
            }
            final int[] cand = sortedDistinct(touchedIps, touched);
            final boolean[] used = new boolean[cand.length];
            for (int i = 0; i < keyLengths.length; i++) {
                if (keyLengths[i] != 0) {
                    final int j = Arrays.binarySearch(cand, Peer.ipOf(values[i]));
                    if (j >= 0) {
                        used[j] = true;
                    }
                }
            }
            int delta = 0;
            boolean same = true;
            for (int j = 0; j < cand.length; j++) {
                final boolean before = Arrays.binarySearch(old, cand[j]) >= 0;
                delta += (used[j] ? 1 : 0) - (before ? 1 : 0);
                same &= used[j] == before;
            }
            if (same) {
                return old;
            }
            final int[] out = new int[old.length + delta];
            int i = 0;
            int j = 0;
            int o = 0;
            while (i < old.length || j < cand.length) {
                if (j >= cand.length || i < old.length && old[i] < cand[j]) {
                    out[o++] = old[i++];
                } else {
                    if (i < old.length && old[i] == cand[j]) {
                        i++; // a touched one: kept below only if still used
                    }
                    if (used[j]) {
                        out[o++] = cand[j];
                    }
                    j++;
                }
            }
            return out;
        }

        private static int[] sortedDistinct(final int[] ips, final int n) {
            final int[] sorted = Arrays.copyOf(ips, n);
            Arrays.sort(sorted);
            int d = 0;
            for (int i = 0; i < n; i++) {
                if (d == 0 || sorted[d - 1] != sorted[i]) {
                    sorted[d++] = sorted[i];
                }
            }
            return d == n ? sorted : Arrays.copyOf(sorted, d);
        }
    }

    /** Immutable open-addressing table keyed by (network address, length); never changed once published. */
    private static final class Snapshot {
        static final int MIN_CAPACITY = 8;
        static final Snapshot EMPTY = new Snapshot(new int[0], new int[0], new int[MIN_CAPACITY],
            new byte[MIN_CAPACITY], new long[MIN_CAPACITY], 0, new int[0], new int[33]);

        private final int[] lengths; // distinct prefix lengths, longest first
        private final int[] masks;
        private final int[] keys;
        private final byte[] keyLengths; // 0 = empty slot (length stored + 1)
        private final long[] values;
        private final int slotMask;
        private final int size;
        private final int[] peerIps; // distinct peer PublicIPs, sorted (signed order, as binarySearch uses)
        private final int[] lengthCounts; // routes per prefix length 0..32

        private Snapshot(final int[] lengths, final int[] masks, final int[] keys, final byte[] keyLengths,
                         final long[] values, final int size, final int[] peerIps, final int[] lengthCounts) {
            this.lengths = lengths;
            this.masks = masks;
            this.keys = keys;
            this.keyLengths = keyLengths;
            this.values = values;
            this.slotMask = keys.length - 1;
            this.size = size;
            this.peerIps = peerIps;
            this.lengthCounts = lengthCounts;
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

        Map<Ipv4Prefix, Peer> routes() {
            final Map<Ipv4Prefix, Peer> out = new TreeMap<>();
            for (int i = 0; i < keys.length; i++) {
                if (keyLengths[i] != 0) {
                    out.put(Ipv4Prefix.of(keys[i], keyLengths[i] - 1), Peer.unpack(values[i]));
                }
            }
            return Collections.unmodifiableMap(out);
        }

        @Override
        public String toString() {
            return "Snapshot" + Arrays.toString(lengths) + " size " + size;
        }
    }
}
