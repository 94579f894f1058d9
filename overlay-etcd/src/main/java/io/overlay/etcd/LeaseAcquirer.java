// Longer than ~400 lines: about 300 lines of code; the rest is the Javadoc of flannel's acquisition rules (reuse by
// subnet.env or PublicIP, reservations, takeover evidence, free-subnet choice), kept beside the code that follows them.
package io.overlay.etcd;

import io.overlay.core.LeaseTakeoverRefusedException;
import io.overlay.core.WarningAggregator;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.flannel.SubnetKey;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.LongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Acquires this host's subnet key, as flannel's {@code tryAcquireLease} in pkg/subnet/etcd/local_manager.go does
 * (docs/flannel-compatibility.md#subnet-allocation; package-private): reuse the key whose PublicIP is ours (deleting,
 * loudly, a lease that no longer fits the config; a reservation stays a reservation); else the previous subnet when no
 * key overlaps it; else a random subnet among the lowest 100 free candidates ({@link FreeSubnets}), where every key,
 * even one with a malformed value, occupies its subnet. Keys are created only if absent; a lost race is retried against
 * a fresh listing up to {@link #RACE_RETRIES} times (flanneld on v3 exits instead).
 *
 * <p>Every write goes on a fresh etcd lease, revoked when the write's condition failed; a write whose outcome is
 * unknown is read back first, so a lease our key may hang on is never revoked. When it cannot be read back either, etcd
 * may still apply it later (a frozen etcd resumes with it queued): its lease counts as this agent's own evidence and is
 * revoked, with any key it got, once a lease is acquired. A previous etcd lease is revoked only when no other key
 * hangs on it.
 */
final class LeaseAcquirer {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);
    /** flannel's {@code raceRetries}: attempts at creating a key before acquisition gives up. */
    static final int RACE_RETRIES = 10;

    private final EtcdSettings settings;
    private final SubnetRegistry registry;
    private final Runnable checkOpen;
    private final Random random = new Random();
    private final WarningAggregator keyWarnings;
    /**
     * etcd leases granted for writes whose outcome is unknown (the write and the read-back both failed), oldest first,
     * at most {@link #UNSETTLED_MAX}: etcd may still apply such a write (a frozen or slow etcd resumes with it queued),
     * leaving a key with this host's PublicIP on a lease nobody renews. A key on one of them is this agent's own; after
     * an acquisition they are revoked, which deletes such keys (callers of one instance are serialized).
     */
    private final Set<Long> unsettled = new LinkedHashSet<>();
    /** Bound of {@link #unsettled}: a few writes in a row time out in one outage; older ones just expire. */
    static final int UNSETTLED_MAX = 16;
    /** The key as the last acquisition created it (a new allocation), or null: only such a key may be given back. */
    private volatile HeldLease created;

    /**
     * @param checkOpen throws {@link IllegalStateException} once the allocator is closed
     */
    LeaseAcquirer(final EtcdSettings settings, final SubnetRegistry registry, final Runnable checkOpen) {
        this(settings, registry, checkOpen, EtcdSubnetAllocator.keyWarnings(settings));
    }

    /**
     * @param checkOpen throws {@link IllegalStateException} once the allocator is closed
     * @param keyWarnings where warnings about malformed keys go
     */
    LeaseAcquirer(final EtcdSettings settings, final SubnetRegistry registry, final Runnable checkOpen,
                  final WarningAggregator keyWarnings) {
        this.settings = settings;
        this.registry = registry;
        this.checkOpen = checkOpen;
        this.keyWarnings = keyWarnings;
    }

    /**
     * Acquires a key, retrying with capped backoff while etcd is unreachable.
     *
     * @param cfg the network config
     * @param ip this host's PublicIP
     * @param previous the subnet this host had before (from {@code subnet.env} or the lease file), if any
     * @return the key as held
     * @throws io.overlay.core.OutOfSubnetsException if no subnet is free
     * @throws IllegalStateException if another host won the race {@link #RACE_RETRIES} times, or the allocator closed
     * @throws InterruptedException if interrupted while waiting for etcd
     */
    HeldLease acquire(final NetworkConfig cfg, final int ip, final Optional<Ipv4Prefix> previous)
        throws InterruptedException {
        return acquire(cfg, LeaseAttrs.udp(ip), previous);
    }

    /**
     * Acquires a key holding {@code attrs} as its value, as {@link #acquire(NetworkConfig, int, Optional)} does.
     *
     * @param cfg the network config
     * @param attrs the value to write (its PublicIP is this host's)
     * @param previous the subnet this host had before, if any
     * @return the key as held
     * @throws InterruptedException if interrupted while waiting for etcd
     */
    HeldLease acquire(final NetworkConfig cfg, final LeaseAttrs attrs, final Optional<Ipv4Prefix> previous)
        throws InterruptedException {
        long backoff = settings.backoffMin().toNanos();
        // one WARN per kind of failure (unreachable, NOSPACE), not one per attempt
        final Set<String> warned = new HashSet<>();
        while (true) {
            checkOpen.run();
            try {
                return acquireOnce(cfg, attrs, previous);
            } catch (EtcdUnavailableException e) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("interrupted while acquiring a lease");
                }
                checkOpen.run(); // closed while the attempt waited for etcd: that is why it failed, no WARN
                if (warned.add(e.kind())) {
                    LOG.warn("Cannot acquire a lease yet: {}; retrying with backoff up to {}", e.getMessage(),
                        settings.backoffMax());
                } else {
                    LOG.debug("Still cannot acquire a lease: {}", e.getMessage());
                }
                TimeUnit.NANOSECONDS.sleep(backoff);
                backoff = Math.min(backoff * 2, settings.backoffMax().toNanos());
            }
        }
    }

    /**
     * Acquires a key as {@link #acquire(NetworkConfig, LeaseAttrs, Optional)} does, without waiting for etcd: for the
     * control thread, which must not sleep in a retry loop (it also applies the lease watch's events) and retries
     * with backoff by scheduling itself.
     *
     * @param cfg the network config
     * @param attrs the value to write (its PublicIP is this host's)
     * @param previous the subnet this host had before, if any
     * @return the key as held
     * @throws EtcdUnavailableException if etcd cannot be reached or refuses (e.g. its NOSPACE alarm is raised)
     * @throws io.overlay.core.OutOfSubnetsException if no subnet is free
     * @throws IllegalStateException if another host won the race {@link #RACE_RETRIES} times
     */
    HeldLease acquireOnce(final NetworkConfig cfg, final LeaseAttrs attrs, final Optional<Ipv4Prefix> previous) {
        for (int races = 1;; races++) {
            final Optional<HeldLease> h = tryAcquire(cfg, attrs, previous);
            if (h.isPresent()) {
                revokeUnsettled(h.get().leaseId());
                return h.get();
            }
            if (races >= RACE_RETRIES) {
                throw new IllegalStateException("could not acquire a subnet of " + cfg.rangeDescription()
                    + " after " + RACE_RETRIES + " attempts: each time another host changed the chosen key "
                    + "between listing and writing");
            }
        }
    }

    /**
     * Revokes the etcd leases of writes whose outcome was unknown, except {@code held}'s: a key such a write created
     * after all (this host's PublicIP, never renewed) would otherwise occupy its subnet for the whole TTL, be routed
     * to this host by its peers and, at this host's next start, be found as a live lease with its PublicIP that
     * nothing shows is its own. Best effort: a lease whose revocation is lost expires by itself.
     */
    private void revokeUnsettled(final long held) {
        for (Iterator<Long> it = unsettled.iterator(); it.hasNext();) {
            final long id = it.next();
            it.remove();
            if (id != held) {
                LOG.info("Revoking etcd lease {}, granted for a write whose outcome was unknown, with any key etcd "
                    + "attached to it after all", SubnetRegistry.leaseIdText(id));
                registry.revoke(id);
            }
        }
    }

    /** One attempt; empty when another host changed a key we were about to write. */
    private Optional<HeldLease> tryAcquire(final NetworkConfig cfg, final LeaseAttrs attrs,
                                           final Optional<Ipv4Prefix> previous) {
        final int ip = attrs.publicIp();
        final SubnetListing listing = registry.list(settings.subnetsPrefix());
        final byte[] value = attrs.toBytes();
        final List<Ipv4Prefix> occupied = new ArrayList<>();
        for (SubnetListing.Entry e : listing.entries()) {
            if (e.subnet() != null) {
                occupied.add(e.subnet());
            }
            if (!e.valid()) {
                keyWarnings.warn("Ignoring bad subnet key " + e.key() + " while listing: " + e.problem()
                    + (e.subnet() != null ? " (its subnet still counts as taken)" : ""));
            }
        }

        // 1. Reuse the lease (or reservation) whose PublicIP is ours.
        for (SubnetListing.Entry e : listing.entries()) {
            if (!e.valid() || e.attrs().publicIp() != ip) {
                continue;
            }
            if (cfg.isCompatible(e.subnet())) {
                refuseTakeoverWithoutEvidence(e, ip, previous);
                return reuse(e, attrs, value);
            }
            if (e.reservation()) {
                LOG.error("Reservation {} for this host's PublicIP {} does not fit the network config ({}): leaving "
                    + "the reservation alone and allocating another subnet", e.key(), Ipv4.format(ip),
                    cfg.rangeDescription());
            } else {
                LOG.error("DELETING lease {} of this host's PublicIP {}: subnet {} does not fit the network config "
                    + "({}); a new subnet will be allocated", e.key(), Ipv4.format(ip), e.subnet(),
                    cfg.rangeDescription());
                if (registry.deleteIfUnchanged(e.key(), e.modRevision())) {
                    occupied.remove(e.subnet());
                } else {
                    return Optional.empty();
                }
            }
            break;
        }

        // 2. The previous subnet from subnet.env, if nobody holds it.
        Ipv4Prefix chosen = null;
        if (previous.isPresent()) {
            final Ipv4Prefix prev = previous.get();
            final Optional<SubnetListing.Entry> holder = listing.holderOf(prev);
            if (!cfg.isCompatible(prev)) {
                LOG.warn("Previous subnet {} (from subnet.env) does not fit the network config ({}); ignoring it",
                    prev, cfg.rangeDescription());
            } else if (holder.isPresent()) {
                final SubnetListing.Entry h = holder.get();
                LOG.warn("Previous subnet {} (from subnet.env) is now held by key {} ({}); not touching it, "
                    + "allocating another subnet", prev, h.key(),
                    h.valid() ? "PublicIP " + Ipv4.format(h.attrs().publicIp()) : "malformed value");
            } else {
                LOG.info("Found previously leased subnet {}, reusing", prev);
                chosen = prev;
            }
        }

        // 3. A random free subnet among the lowest 100 (throws OutOfSubnetsException).
        if (chosen == null) {
            chosen = FreeSubnets.pick(cfg, occupied, random);
        }

        // 4. Create only if absent, attached to a fresh etcd lease.
        final String key = settings.subnetsPrefix() + "/" + SubnetKey.format(chosen);
        final Optional<HeldLease> h = putOnFreshLease(key, chosen, attrs, true,
            id -> registry.createIfAbsent(key, value, id));
        if (h.isEmpty()) {
            LOG.info("Subnet {} was taken by another host meanwhile; retrying with a fresh listing", chosen);
            return h;
        }
        LOG.info("Allocated subnet {} for PublicIP {} (key {}, etcd lease {} with TTL {} s)", chosen,
            Ipv4.format(ip), key, SubnetRegistry.leaseIdText(h.get().leaseId()), h.get().lease().ttl().toSeconds());
        created = h.get();
        return h;
    }

    /**
     * Returns whether {@code h} is a key this acquirer created, not one it reused: a lease with this host's PublicIP
     * taken up again (its previous subnet, a reservation) or over ({@link EtcdSettings#allowLeaseTakeover()}) existed
     * before, may be another holder's, and is never given back.
     *
     * @param h a key as an acquisition returned it
     * @return {@code true} if the last acquisition created {@code h}
     */
    boolean created(final HeldLease h) {
        return h.equals(created);
    }

    /**
     * Lets a live lease carrying our PublicIP be reused only with evidence that it is this host's own: flanneld reuses
     * it regardless ({@code tryAcquireLease} in pkg/subnet/etcd/local_manager.go), so a second host started with the
     * first one's PublicIP (one NAT address for all) silently shares its subnet. Evidence: a reservation (pinned to
     * this PublicIP by the operator); the previous subnet (from subnet.env, or the lease file that outlives a reboot)
     * is the lease's; the key's etcd lease is gone. The PublicIP being an address of this host is no evidence: behind
     * NAT every host may hold the same one (flannel's classic VirtualBox case, 10.0.2.15 on every VM). Else the
     * takeover needs {@link EtcdSettings#allowLeaseTakeover()}.
     *
     * @throws IllegalStateException naming the key, the PublicIP and the holder's etcd lease when refused
     */
    private void refuseTakeoverWithoutEvidence(final SubnetListing.Entry e, final int ip,
                                               final Optional<Ipv4Prefix> previous) {
        if (e.reservation() || previous.filter(e.subnet()::equals).isPresent()) {
            return;
        }
        if (unsettled.contains(e.leaseId())) {
            LOG.info("Lease {} for current IP {} hangs on etcd lease {}, which this agent granted for a write that "
                + "timed out: etcd applied it after all, it is this host's", e.key(), Ipv4.format(ip),
                SubnetRegistry.leaseIdText(e.leaseId()));
            return;
        }
        final SubnetRegistry.LeaseInfo holder = registry.timeToLive(e.leaseId(), false);
        if (holder.gone()) {
            LOG.info("Lease {} for current IP {} hangs on etcd lease {}, which is gone: its holder is not renewing "
                + "it", e.key(), Ipv4.format(ip), SubnetRegistry.leaseIdText(e.leaseId()));
            return;
        }
        final String what = "lease " + e.key() + " with this host's PublicIP " + Ipv4.format(ip) + " is held by "
            + "another host or process: etcd lease " + SubnetRegistry.leaseIdText(e.leaseId()) + ", " + holder.remainingSeconds()
            + " s left";
        if (settings.allowLeaseTakeover()) {
            LOG.warn("TAKING OVER {} (lease takeover allowed); if that holder still runs, both now use subnet {}",
                what, e.subnet());
            return;
        }
        throw new LeaseTakeoverRefusedException("Refusing to take over " + what + ", and nothing shows it is this host's "
            + "(the previous subnet from subnet.env or the lease file is "
            + previous.map(Ipv4Prefix::toString).orElse("unknown") + ", not " + e.subnet() + "). Two hosts with "
            + "one PublicIP cannot share a network: give each host its own --public-ip. If this is this host's lease "
            + "from before it lost its subnet.env and lease file, start once with --allow-lease-takeover (or delete "
            + "the key, or wait until its etcd lease expires)");
    }

    /**
     * Grants a fresh etcd lease and runs one conditional put attached to it: the lease is revoked when the condition
     * failed. When the put's outcome is unknown (timeout, broken connection) the key is read again first: if it hangs
     * on the fresh lease the put was applied and counts as done; otherwise the lease is revoked (or, when etcd cannot
     * even be read, left to expire by itself) and the error rethrown. A {@code created} key (a new allocation) that etcd
     * applied while this thread was interrupted is deleted again (see {@link #settleUnknownPut}).
     *
     * @return the key as held, or empty if the put's condition failed
     * @throws EtcdUnavailableException if etcd cannot be reached and the put did not happen as far as is known
     */
    private Optional<HeldLease> putOnFreshLease(final String key, final Ipv4Prefix subnet, final LeaseAttrs attrs,
                                                final boolean created, final LongFunction<Optional<Long>> put) {
        final long t0 = settings.ticker().getAsLong();
        final SubnetRegistry.Granted g = registry.grant(settings.leaseTtl().toSeconds());
        Optional<Long> rev;
        try {
            rev = put.apply(g.id());
        } catch (EtcdUnavailableException e) {
            // Interrupted (the agent is stopping): settle what the put did all the same, then stop. A key etcd created
            // is taken back, since the next start could not tell it from another host's (nothing records it here).
            final boolean interrupted = Thread.interrupted();
            try {
                rev = settleUnknownPut(key, g, e, interrupted && created);
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        if (rev.isEmpty()) {
            registry.revoke(g.id());
            return Optional.empty();
        }
        return Optional.of(new HeldLease(new Lease(subnet, attrs, false, Duration.ofSeconds(g.ttlSeconds())), key,
            g.id(), rev.get(), t0 + TimeUnit.SECONDS.toNanos(g.ttlSeconds())));
    }

    /**
     * A put on the fresh etcd lease {@code g} failed with {@code e} and may have been applied: reads the key back.
     *
     * @return the put's revision when etcd applied it and the caller goes on
     * @throws EtcdUnavailableException {@code e} when the put was not applied, cannot be read back, or was applied
     *     while {@code stopping} (then the key is deleted again and its etcd lease revoked)
     */
    private Optional<Long> settleUnknownPut(final String key, final SubnetRegistry.Granted g,
                                            final EtcdUnavailableException e, final boolean stopping) {
        final Optional<SubnetRegistry.Value> now;
        try {
            now = registry.get(key);
        } catch (EtcdUnavailableException again) {
            LOG.warn("Writing {} failed ({}) and it cannot be read back; leaving etcd lease {} alone rather than "
                + "revoking what may be this host's key (revoked once a lease is acquired)", key, e.getMessage(),
                SubnetRegistry.leaseIdText(g.id()));
            if (unsettled.size() >= UNSETTLED_MAX) {
                unsettled.remove(unsettled.iterator().next());
            }
            unsettled.add(g.id());
            throw e;
        }
        if (now.isEmpty() || now.get().leaseId() != g.id()) {
            registry.revoke(g.id());
            throw e;
        }
        if (stopping) {
            if (registry.deleteIfUnchanged(key, now.get().modRevision())) {
                registry.revoke(g.id());
            }
            LOG.info("Writing {} was interrupted but etcd applied it; deleted it again, as this agent is stopping",
                key);
            throw e;
        }
        LOG.info("Writing {} reported an error ({}) but etcd applied it; keeping it", key, e.getMessage());
        return Optional.of(now.get().modRevision());
    }

    /**
     * Revokes the etcd lease our key hung on before it was re-put, only if no other key is attached to it (revoking a
     * lease deletes every key on it). When etcd cannot tell, the lease is left to expire by itself.
     */
    private void releaseOldLease(final long leaseId, final String key) {
        try {
            final SubnetRegistry.LeaseInfo info = registry.timeToLive(leaseId, true);
            if (info.gone()) {
                return;
            }
            if (info.attachedKeys() == 0) {
                registry.revoke(leaseId);
            } else {
                LOG.info("Previous etcd lease {} of {} still holds {} other key(s); not revoking it",
                    SubnetRegistry.leaseIdText(leaseId), key, info.attachedKeys());
            }
        } catch (EtcdUnavailableException e) {
            LOG.debug("Cannot look at previous etcd lease {}: {}; it expires by itself", SubnetRegistry.leaseIdText(leaseId),
                e.getMessage());
        }
    }

    /** Takes over the compatible key holding our PublicIP: a reservation stays one, a lease gets a fresh etcd lease. */
    private Optional<HeldLease> reuse(final SubnetListing.Entry e, final LeaseAttrs attrs, final byte[] value) {
        if (e.reservation()) {
            long rev = e.modRevision();
            if (!e.attrs().equals(attrs)) {
                final Optional<Long> r = registry.putIfUnchanged(e.key(), value, 0, e.modRevision());
                if (r.isEmpty()) {
                    return Optional.empty();
                }
                rev = r.get();
            }
            LOG.info("Found reservation {} for current IP {}, using it (no etcd lease attached, never renewed)",
                e.key(), Ipv4.format(attrs.publicIp()));
            return Optional.of(new HeldLease(new Lease(e.subnet(), attrs, true, Duration.ZERO), e.key(), 0, rev,
                Long.MAX_VALUE));
        }
        final Optional<HeldLease> h = putOnFreshLease(e.key(), e.subnet(), attrs, false,
            id -> registry.putIfUnchanged(e.key(), value, id, e.modRevision()));
        if (h.isEmpty()) {
            return h;
        }
        // The key now hangs on the new lease; the old one holds nothing of ours any more.
        releaseOldLease(e.leaseId(), e.key());
        LOG.info("Found lease {} for current IP {}, reusing (new etcd lease {} with TTL {} s)", e.key(),
            Ipv4.format(attrs.publicIp()), SubnetRegistry.leaseIdText(h.get().leaseId()), h.get().lease().ttl().toSeconds());
        return h;
    }
}
