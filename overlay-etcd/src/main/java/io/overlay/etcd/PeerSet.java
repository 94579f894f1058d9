package io.overlay.etcd;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.SubnetKey;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.time.Duration;
import java.util.ArrayList;
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
 * <p>Filters: the own subnet is never a peer; a malformed key or value is skipped and counted, and never removes a
 * peer (unlike flanneld's v3 watch, which ends on one); a peer whose PublicIP is not unicast (0.0.0.0 of an IPv6-only
 * vxlan node) is skipped and counted, named once per key; a lease of another backend type is a peer, named once per
 * set (a mixed cluster).
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

    private final String subnetsPrefix;
    private final Map<Ipv4Prefix, Lease> peers = new HashMap<>();
    private final Set<String> warnedUnroutable = new HashSet<>();
    private boolean mixedClusterWarned;

    /**
     * @param subnetsPrefix {@code <prefix>/subnets}: only keys {@code <prefix>/subnets/<subnet key>} are leases
     */
    PeerSet(final String subnetsPrefix) {
        this.subnetsPrefix = subnetsPrefix;
    }

    /**
     * Replaces the peers with those of a full listing (a key whose value turned malformed keeps its last good peer).
     *
     * @param entries the listing's entries except the own key
     * @param ownSubnet the own subnet, or null when none is held
     * @return added and changed peers, then removed ones, with the skips on the way
     */
    List<Change> reset(final List<SubnetListing.Entry> entries, final Ipv4Prefix ownSubnet) {
        final List<Change> out = new ArrayList<>();
        final Map<Ipv4Prefix, Lease> seen = new HashMap<>();
        final Set<Ipv4Prefix> malformedSubnets = new HashSet<>();
        for (SubnetListing.Entry e : entries) {
            if (!e.valid()) {
                out.add(new Skipped(Skip.MALFORMED, "Skipping malformed lease " + e.key() + ": " + e.problem()));
                if (e.subnet() != null) {
                    malformedSubnets.add(e.subnet());
                }
                continue;
            }
            if (e.subnet().equals(ownSubnet) || !routable(e, out)) {
                continue;
            }
            seen.put(e.subnet(), peerLease(e));
        }
        for (Lease l : seen.values()) {
            update(l, out);
        }
        for (Lease old : new ArrayList<>(peers.values())) {
            if (!seen.containsKey(old.subnet()) && !malformedSubnets.contains(old.subnet())) {
                peers.remove(old.subnet());
                out.add(new Removed(old));
            }
        }
        return out;
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
        } else if (e.subnet().equals(ownSubnet)) {
            out.add(new Note(true, "Key " + e.key() + " names this host's subnet " + e.subnet()
                + " but is not its key " + ownKey + "; ignoring it"));
        } else if (routable(e, out)) {
            update(peerLease(e), out);
        } else {
            remove(e.subnet()).ifPresent(old -> out.add(new Removed(old)));
        }
        return out;
    }

    /**
     * Applies a delete of a key other than the own key.
     *
     * @param key the full key
     * @return the changes
     */
    List<Change> delete(final String key) {
        final Optional<SubnetKey.Parsed> parsed = SubnetKey.parseKey(subnetsPrefix, key);
        if (parsed.isEmpty()) {
            return List.of(new Note(false, "Ignoring deletion of non-subnet key " + key));
        }
        return remove(parsed.get().ipv4()).<List<Change>>map(old -> List.of(new Removed(old))).orElse(List.of());
    }

    /**
     * Forgets the peer of {@code subnet} (this host now holds it).
     *
     * @return the forgotten peer, if there was one
     */
    Optional<Lease> remove(final Ipv4Prefix subnet) {
        return Optional.ofNullable(peers.remove(subnet));
    }

    /** Returns a copy of the known peers by subnet. */
    Map<Ipv4Prefix, Lease> peers() {
        return Map.copyOf(peers);
    }

    private void update(final Lease lease, final List<Change> out) {
        final Lease old = peers.put(lease.subnet(), lease);
        if (old == null) {
            out.add(new Added(lease));
        } else if (!old.attrs().equals(lease.attrs()) || old.reservation() != lease.reservation()) {
            out.add(new Changed(old, lease));
        }
    }

    /**
     * Whether a peer's (valid) lease can become a udp route: its PublicIP must be a unicast address. Leases of
     * IPv6-only vxlan nodes carry PublicIP 0.0.0.0, which flanneld's udp backend would route to; overlay skips them
     * (and multicast, broadcast, 0/8 and 240/4 addresses). A lease of another backend type is routed as flanneld's
     * udp backend does, though such a host does not decapsulate udp datagrams.
     */
    private boolean routable(final SubnetListing.Entry e, final List<Change> out) {
        final int ip = e.attrs().publicIp();
        if (!isUnicast(ip)) {
            out.add(new Skipped(Skip.UNROUTABLE, !warnedUnroutable.add(e.key()) ? null
                : "Skipping lease " + e.key() + ": PublicIP " + Ipv4.format(ip) + " is not a unicast IPv4 address"
                    + (e.attrs().publicIpv6() != null ? " (an IPv6-only node, PublicIPv6 " + e.attrs().publicIpv6()
                        + ")" : "") + "; no route to subnet " + e.subnet()));
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

    private static Lease peerLease(final SubnetListing.Entry e) {
        return new Lease(e.subnet(), e.attrs(), e.reservation(), Duration.ZERO);
    }
}
