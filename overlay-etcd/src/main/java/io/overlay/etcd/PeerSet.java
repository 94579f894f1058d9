package io.overlay.etcd;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.SubnetKey;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The known peers, and what a listing or a watch event changes about them, as flannel's {@code LeaseWatcher}
 * ({@code Reset}, {@code Update} in pkg/lease/lease.go, docs/flannel-compatibility.md#lease-watch) is to its watch
 * loop: no I/O, no logging, no threads (package-private; the caller serialises calls). Each call returns the
 * {@link Change}s to deliver and log, in order.
 *
 * <p>Ownership: flannel keeps peers by subnet, the last writer winning, so a second key for a peer's subnet redirects
 * its traffic and deleting that key removes the peer. Here every key is a claim on its subnet, and the subnet's peer
 * is the claim of the <em>oldest</em> key (lowest etcd create revision, then key order): a younger key for a taken
 * subnet changes nothing but is named at WARN, a peer changes only when its owning key changes, and deleting a key
 * that does not own its subnet changes nothing. When the owning key goes, the next oldest claim (if any) takes over,
 * named at WARN. With keys anchored ({@link io.overlay.core.flannel.SubnetKey#parseKey}) two keys can claim one IPv4
 * subnet only through the dual-stack names ({@code 100.64.2.0-24} and {@code 100.64.2.0-24&fc00::-64}).
 *
 * <p>Filters: the own subnet is never a peer; a malformed key or value is skipped and counted, and never removes a
 * peer (unlike flanneld's v3 watch, which ends on one; a key whose value turned malformed keeps its last good claim);
 * a peer whose PublicIP is not unicast (0.0.0.0 of an IPv6-only vxlan node) is skipped and counted, named once per
 * key; a lease of another backend type is a peer, named once per set (a mixed cluster).
 */
final class PeerSet {
    /** What a call changed or noticed. */
    sealed interface Change permits Added, Changed, Removed, Skipped, Note {
    }

    /** A new peer. */
    record Added(Lease lease) implements Change {
    }

    /** A peer whose attributes or reservation flag changed. */
    record Changed(Lease previous, Lease current) implements Change {
    }

    /** A peer that is gone (deleted, expired, or no longer routable). */
    record Removed(Lease lease) implements Change {
    }

    /** Why a key was skipped. */
    enum Skip {
        /** The key is not a subnet key or its value does not parse. */
        MALFORMED,
        /** The PublicIP is not a unicast IPv4 address. */
        UNROUTABLE
    }

    /**
     * A key that was skipped, to be counted.
     *
     * @param reason why
     * @param warning what to log at WARN, or null when this key was named before
     */
    record Skipped(Skip reason, String warning) implements Change {
    }

    /**
     * Something to log that changes no peer.
     *
     * @param warn WARN when true, DEBUG otherwise
     * @param message the message
     */
    record Note(boolean warn, String message) implements Change {
    }

    /** One key's claim on its subnet, with the revisions that created and last changed the key. */
    private record Claim(String key, Lease lease, long createRevision, long modRevision) {
        Ipv4Prefix subnet() {
            return lease.subnet();
        }

        String describe() {
            return key + " (PublicIP " + Ipv4.format(lease.attrs().publicIp()) + ")";
        }
    }

    /** Oldest key first: the owner of a subnet is the first claim in this order. */
    private static final Comparator<Claim> OLDEST_FIRST = Comparator.comparingLong(Claim::createRevision)
        .thenComparing(Claim::key);

    private final String subnetsPrefix;
    /** Every valid, routable claim of a peer subnet, by key. */
    private final Map<String, Claim> claims = new HashMap<>();
    /**
     * The claims of each subnet, as an immutable list: nearly always one claim, so a map per subnet (~190 bytes) would
     * be most of a peer's memory here.
     */
    private final Map<Ipv4Prefix, List<Claim>> bySubnet = new HashMap<>();
    /** The delivered peer of each subnet: its owning claim. */
    private final Map<Ipv4Prefix, Claim> owners = new HashMap<>();
    /** Keys named in a two-claims WARN, so a claim is named once while it lasts. */
    private final Set<String> warnedConflict = new HashSet<>();
    private final Set<String> warnedUnroutable = new HashSet<>();
    private boolean mixedClusterWarned;
    /** This host's PublicIP, never a peer's; 0 until known. */
    private int ownPublicIp;

    /**
     * @param subnetsPrefix {@code <prefix>/subnets}: only keys {@code <prefix>/subnets/<subnet key>} are leases
     */
    PeerSet(final String subnetsPrefix) {
        this.subnetsPrefix = subnetsPrefix;
    }

    /**
     * Replaces the claims with those of a full listing (a key whose value turned malformed keeps its last good claim).
     *
     * @param entries the listing's entries except the own key
     * @param ownSubnet the own subnet, or null when none is held
     * @return added and changed peers, then removed ones, with the skips on the way
     */
    List<Change> reset(final List<SubnetListing.Entry> entries, final Ipv4Prefix ownSubnet) {
        final List<Change> out = new ArrayList<>();
        final Map<String, Claim> next = new HashMap<>();
        for (SubnetListing.Entry e : entries) {
            if (!e.valid()) {
                out.add(new Skipped(Skip.MALFORMED, "Skipping malformed lease " + e.key() + ": " + e.problem()));
                final Claim kept = claims.get(e.key());
                if (kept != null) {
                    next.put(e.key(), kept);
                }
                continue;
            }
            if (e.subnet().equals(ownSubnet) || !routable(e, out)) {
                continue;
            }
            next.put(e.key(), claim(e));
        }
        final Set<Ipv4Prefix> affected = new HashSet<>(owners.keySet());
        for (Claim c : new ArrayList<>(claims.values())) {
            if (!next.containsKey(c.key())) {
                drop(c.key());
            }
        }
        for (Claim c : next.values()) {
            add(c);
            affected.add(c.subnet());
        }
        final List<Change> removed = new ArrayList<>();
        for (Ipv4Prefix subnet : oldestWriteFirst(affected)) {
            settle(subnet, out, removed);
        }
        out.addAll(removed);
        return out;
    }

    /**
     * The subnets in the order their owning claims were last written: a listing's changes then come as a watch would
     * have delivered them, so that where two leases share a PublicIP the most recently written one comes last (its key
     * is the one to use, as after a host's restart on a new subnet while its old lease lives on). The owner's write
     * counts, not a younger claim's that is ignored: the lease delivered for the subnet is the owner's.
     */
    private List<Ipv4Prefix> oldestWriteFirst(final Set<Ipv4Prefix> subnets) {
        // each subnet's key once (a listing of 16,383 leases sorts with ~230,000 comparisons)
        final Map<Ipv4Prefix, Long> written = new HashMap<>(subnets.size() * 2);
        for (Ipv4Prefix p : subnets) {
            long rev = 0;
            Claim owner = null;
            for (Claim c : bySubnet.getOrDefault(p, List.of())) {
                if (owner == null || OLDEST_FIRST.compare(c, owner) < 0) {
                    owner = c;
                }
            }
            if (owner != null) {
                rev = owner.modRevision();
            }
            written.put(p, rev);
        }
        final List<Ipv4Prefix> ordered = new ArrayList<>(subnets);
        ordered.sort(Comparator.comparingLong((Ipv4Prefix p) -> written.get(p)).thenComparingInt(Ipv4Prefix::address));
        return ordered;
    }

    /**
     * Applies a put of a key other than the own key.
     *
     * @param e the parsed key and value
     * @param ownSubnet the own subnet, or null when none is held
     * @param ownKey the own key, or null
     * @return the changes
     */
    List<Change> put(final SubnetListing.Entry e, final Ipv4Prefix ownSubnet, final String ownKey) {
        final List<Change> out = new ArrayList<>(2);
        if (!e.valid()) {
            out.add(new Skipped(Skip.MALFORMED, "Skipping malformed lease event for key " + e.key() + ": "
                + e.problem()));
            return out;
        }
        if (e.subnet().equals(ownSubnet)) {
            out.add(new Note(true, "Key " + e.key() + " names this host's subnet " + e.subnet()
                + " but is not its key " + ownKey + "; ignoring it"));
            return out;
        }
        if (routable(e, out)) {
            add(claim(e));
        } else {
            drop(e.key());
        }
        settle(e.subnet(), out, out);
        return out;
    }

    /**
     * Applies a delete of a key other than the own key: only the delete of a subnet's owning key changes its peer.
     *
     * @param key the full key
     * @return the changes
     */
    List<Change> delete(final String key) {
        final Claim gone = drop(key);
        if (gone == null) {
            if (SubnetKey.parseKey(subnetsPrefix, key).isEmpty()) {
                return List.of(new Note(false, "Ignoring deletion of non-subnet key " + key));
            }
            return List.of();
        }
        final List<Change> out = new ArrayList<>(2);
        settle(gone.subnet(), out, out);
        return out;
    }

    /**
     * Sets this host's PublicIP: a peer lease naming it is skipped as unroutable from the next call on.
     *
     * @param ip the PublicIP, int form
     */
    void ownPublicIp(final int ip) {
        this.ownPublicIp = ip;
    }

    /**
     * Forgets the peer of {@code subnet} and every claim on it (this host now holds it).
     *
     * @return the forgotten peer, if there was one
     */
    Optional<Lease> remove(final Ipv4Prefix subnet) {
        final List<Claim> of = bySubnet.get(subnet);
        if (of != null) {
            for (Claim c : of) {
                drop(c.key());
            }
        }
        return Optional.ofNullable(owners.remove(subnet)).map(Claim::lease);
    }

    /** Returns a copy of the known peers by subnet. */
    Map<Ipv4Prefix, Lease> peers() {
        final Map<Ipv4Prefix, Lease> out = new HashMap<>();
        owners.forEach((s, c) -> out.put(s, c.lease()));
        return out;
    }

    private void add(final Claim c) {
        claims.put(c.key(), c);
        final List<Claim> of = bySubnet.get(c.subnet());
        if (of == null) {
            bySubnet.put(c.subnet(), List.of(c));
            return;
        }
        final List<Claim> next = new ArrayList<>(of.size() + 1);
        for (Claim other : of) {
            if (!other.key().equals(c.key())) {
                next.add(other);
            }
        }
        next.add(c);
        bySubnet.put(c.subnet(), List.copyOf(next));
    }

    private Claim drop(final String key) {
        final Claim c = claims.remove(key);
        warnedConflict.remove(key);
        if (c != null) {
            final List<Claim> rest = new ArrayList<>(1);
            for (Claim other : bySubnet.get(c.subnet())) {
                if (!other.key().equals(key)) {
                    rest.add(other);
                }
            }
            if (rest.isEmpty()) {
                bySubnet.remove(c.subnet());
            } else {
                bySubnet.put(c.subnet(), List.copyOf(rest));
            }
        }
        return c;
    }

    /**
     * Makes the peer of {@code subnet} the oldest claim's and says what changed: additions and changes go to
     * {@code out}, a removal to {@code removed}; a second claim is named once at WARN.
     */
    private void settle(final Ipv4Prefix subnet, final List<Change> out, final List<Change> removed) {
        final List<Claim> of = bySubnet.getOrDefault(subnet, List.of());
        Claim owner = null;
        for (Claim c : of) {
            if (owner == null || OLDEST_FIRST.compare(c, owner) < 0) {
                owner = c;
            }
        }
        final Claim before = owner == null ? owners.remove(subnet) : owners.put(subnet, owner);
        if (owner == null) {
            if (before != null) {
                removed.add(new Removed(before.lease()));
            }
            return;
        }
        if (before != null && !before.key().equals(owner.key())) {
            out.add(new Note(true, "Key " + before.key() + " no longer claims subnet " + subnet + "; the next "
                + "oldest key claiming it, " + owner.describe() + ", now owns it"));
        }
        if (before == null) {
            out.add(new Added(owner.lease()));
        } else if (!before.lease().attrs().equals(owner.lease().attrs())
            || before.lease().reservation() != owner.lease().reservation()) {
            out.add(new Changed(before.lease(), owner.lease()));
        }
        for (Claim other : of) {
            if (other != owner && warnedConflict.add(other.key())) {
                out.add(new Note(true, "Two keys claim subnet " + subnet + ": " + owner.describe() + " and "
                    + other.describe() + "; routing to the older key " + owner.key() + " and ignoring "
                    + other.key() + " while both exist (delete the wrong one)"));
            }
        }
    }

    /**
     * Whether a peer's (valid) lease can become a udp route: its PublicIP must be a unicast address of another host.
     * Leases of IPv6-only vxlan nodes carry PublicIP 0.0.0.0, which flanneld's udp backend would route to; overlay
     * skips them (and multicast, broadcast, 0/8 and 240/4 addresses), loopback addresses (127/8: the datagrams would
     * go to this host's lo) and this host's own PublicIP (they would come back to this host). A lease of another
     * backend type is routed as flanneld's udp backend does, though such a host does not decapsulate udp datagrams.
     */
    private boolean routable(final SubnetListing.Entry e, final List<Change> out) {
        final int ip = e.attrs().publicIp();
        final String why = !isUnicast(ip) ? "is not a unicast IPv4 address"
            + (e.attrs().publicIpv6() != null ? " (an IPv6-only node, PublicIPv6 " + e.attrs().publicIpv6() + ")" : "")
            : ip >>> 24 == 127 ? "is a loopback address (datagrams would go to this host's lo)"
            : ip == ownPublicIp ? "is this host's own PublicIP (datagrams would come back to this host)" : null;
        if (why != null) {
            out.add(new Skipped(Skip.UNROUTABLE, !warnedUnroutable.add(e.key()) ? null
                : "Skipping lease " + e.key() + ": PublicIP " + Ipv4.format(ip) + " " + why + "; no route to subnet "
                    + e.subnet()));
            return false;
        }
        warnedUnroutable.remove(e.key());
        final String type = e.attrs().backendType();
        if (type != null && !"udp".equalsIgnoreCase(type) && !mixedClusterWarned) {
            mixedClusterWarned = true;
            out.add(new Note(true, "Lease " + e.key() + " is of backend type " + type + " (PublicIP "
                + Ipv4.format(ip) + "): a mixed cluster. Routing it over udp as flanneld does, but that host will "
                + "not decapsulate udp datagrams; use one backend type per network (warned once)"));
        }
        return true;
    }

    /** Whether {@code ip} is a unicast IPv4 address: not in 0.0.0.0/8, multicast 224.0.0.0/4 or 240.0.0.0/4. */
    static boolean isUnicast(final int ip) {
        final int first = ip >>> 24;
        return first != 0 && first < 224;
    }

    private static Claim claim(final SubnetListing.Entry e) {
        return new Claim(e.key(), new Lease(e.subnet(), e.attrs(), e.reservation(), Duration.ZERO),
            e.createRevision(), e.modRevision());
    }
}
