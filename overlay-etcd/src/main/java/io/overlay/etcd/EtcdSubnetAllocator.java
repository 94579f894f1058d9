package io.overlay.etcd;

import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import io.overlay.core.flannel.InvalidNetworkConfigException;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.spi.SubnetAllocator;
import io.overlay.core.flannel.SubnetKey;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The subnet allocator on etcd v3, schema-compatible with flanneld ≥ 0.18 (flannel reference §1), so overlay hosts
 * and flanneld hosts share one network.
 *
 * <p>Keys: the network config at {@code <prefix>/config}; one key per host at {@code <prefix>/subnets/<a.b.c.d>-<len>}
 * holding the exact JSON flanneld's udp backend writes ({@code {"PublicIP":"198.18.0.1","PublicIPv6":null}}), attached
 * to an etcd lease of {@link EtcdSettings#leaseTtl()} (86400 s by default). A key without an etcd lease is an
 * operator's reservation (§1.5): honoured, never given a lease, never renewed, never taken by another host.
 *
 * <p>Acquisition follows §1.6: reuse the lease whose PublicIP is ours (deleting, loudly, one that no longer fits the
 * config); else the previous subnet from {@code subnet.env} when no key overlaps it; else a random subnet among the
 * lowest 100 free candidates, where every key under {@code <prefix>/subnets}, even one with a malformed value, occupies
 * its subnet. Keys are created with a transaction that succeeds only if the key is absent; a lost race is retried
 * against a fresh listing, up to 10 times (unlike flanneld on v3, which exits).
 *
 * <p>Renewal: at expiry minus {@link EtcdSettings#renewMargin()}, computed on the monotonic
 * {@link EtcdSettings#ticker()} from the TTL etcd granted, the etcd lease is refreshed with one LeaseKeepAlive
 * (overlay's choice; flanneld instead grants a new lease and re-puts the value). The key and its value stay byte
 * for byte the same, no PUT event reaches the peers and no orphan lease is left behind. Failures are retried every
 * {@link EtcdSettings#renewRetryInterval()}. When someone else re-puts our key on another etcd lease (an operator, a
 * flannel-style renewal), that lease is adopted with the expiry etcd reports for it (LeaseTimeToLive); a margin not
 * shorter than its TTL becomes half the TTL. Acquisition grants a fresh etcd lease per write and revokes it when the
 * write's condition failed; a write whose outcome is unknown is read back first (never revoking a lease our key may
 * hang on), and a previous etcd lease is revoked only when no other key is attached to it.
 *
 * <p>Watching: one prefix watch over {@code <prefix>/subnets} drives both the peers and the own lease. The current
 * peers are delivered as {@code peerAdded}, then events from the listing's revision + 1. A malformed key or value is
 * logged with its key, counted ({@link #malformedLeaseEvents()}) and skipped: it never removes other peers (unlike
 * flanneld's v3 watch, §1.7). When the own key is deleted or its etcd lease expires, {@code leaseLost} is reported,
 * the lease re-acquired (the same subnet when still free) and {@code leaseReacquired} reported. On compaction the
 * keys are listed once and the difference delivered (including changed attributes); on a broken connection the watch
 * is reopened with capped exponential backoff from the last seen revision, and the last known peers stay. As a
 * safety net all leases are listed again every {@link EtcdSettings#resyncInterval()} (default 10 min). Peers whose
 * PublicIP is not unicast (0.0.0.0 of IPv6-only vxlan nodes) are skipped and counted ({@link #unroutablePeerLeases()});
 * leases of other backend types are routed as flanneld's udp backend does, with one mixed-cluster WARN.
 *
 * <p>Threads: one control thread of its own does all etcd requests after {@link #start}; listener calls run on a
 * second single thread, one at a time, in order. No jetcd thread ever blocks. Every control task is guarded: an
 * unexpected exception is logged at ERROR and its chain (renewal, re-acquisition, watch, listing) rescheduled, so
 * nothing dies silently in a future nobody reads. {@link #close()} keeps the lease.
 */
public final class EtcdSubnetAllocator implements SubnetAllocator {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);
    /** flannel's {@code raceRetries}: attempts at creating a key before acquisition gives up. */
    static final int RACE_RETRIES = 10;

    private final EtcdSettings settings;
    private final EtcdOps etcd;
    private final Random random = new Random();
    private final ScheduledExecutorService control;
    private final ExecutorService events;
    private final AtomicLong malformed = new AtomicLong();
    private final AtomicLong watchRestarts = new AtomicLong();
    private final AtomicLong renewals = new AtomicLong();
    private final AtomicLong resyncs = new AtomicLong();
    private final AtomicLong unroutable = new AtomicLong();
    private volatile NetworkConfig config;
    private volatile Held acquired;
    private volatile int publicIp;
    private volatile boolean closed;
    private volatile boolean started;

    // State below is touched on the control thread only.
    private Held own;
    private Lease lost;
    private LeaseListener listener;
    private final Map<Ipv4Prefix, Lease> peers = new HashMap<>();
    private Watch.Watcher watcher;
    private int watchGen;
    private long lastRevision;
    private long watchBackoffNanos;
    private boolean watchFailing;
    private boolean watchPaused;
    private boolean resyncRetrying;
    private ScheduledFuture<?> renewTask;
    private final Set<String> warnedUnroutable = new HashSet<>();
    private boolean mixedClusterWarned;

    /** This host's key as held: the lease reported, its key, etcd lease id (0: reservation), revision, expiry. */
    private record Held(Lease lease, String key, long leaseId, long modRevision, long expiresAtNanos) {
        Held withRenewal(final long ttlSeconds, final long expiresAt) {
            return new Held(new Lease(lease.subnet(), lease.attrs(), false, Duration.ofSeconds(ttlSeconds)), key,
                leaseId, modRevision, expiresAt);
        }
    }

    /**
     * Creates the allocator and its etcd client (connections are opened lazily by the first request).
     *
     * @param settings endpoints, prefix, TLS, auth, timeouts and lease timing
     * @throws IllegalArgumentException if the TLS files cannot be loaded
     */
    public EtcdSubnetAllocator(final EtcdSettings settings) {
        this.settings = settings;
        this.etcd = new EtcdOps(settings);
        this.control = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "overlay-etcd-control"));
        this.events = Executors.newSingleThreadExecutor(r -> daemon(r, "overlay-etcd-events"));
    }

    private static Thread daemon(final Runnable r, final String name) {
        final Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /**
     * Returns the settings.
     *
     * @return the settings this allocator was made with
     */
    public EtcdSettings settings() {
        return settings;
    }

    /**
     * Returns how many lease events or listed keys were skipped because the key or the value was malformed.
     *
     * @return the count since creation
     */
    public long malformedLeaseEvents() {
        return malformed.get();
    }

    /**
     * Returns how many times the lease watch broke (connection lost, closed by the server) and was reopened.
     *
     * @return the count since creation; compactions are counted in {@link #resyncs()}
     */
    public long watchRestarts() {
        return watchRestarts.get();
    }

    /**
     * Returns how many renewals of the own etcd lease succeeded.
     *
     * @return the count since creation
     */
    public long renewals() {
        return renewals.get();
    }

    /**
     * Returns how many peer leases (watch events or listed keys) were skipped because their PublicIP is not a unicast
     * IPv4 address (e.g. 0.0.0.0 of an IPv6-only vxlan node).
     *
     * @return the count since creation
     */
    public long unroutablePeerLeases() {
        return unroutable.get();
    }

    /**
     * Returns how many times the watch found its start revision compacted and re-listed all leases.
     *
     * @return the count since creation
     */
    public long resyncs() {
        return resyncs.get();
    }

    // ---------------------------------------------------------------- network config

    /**
     * {@inheritDoc}
     *
     * <p>Reads {@code <prefix>/config} through the v3 API. While it is missing, invalid or etcd is unreachable, logs one
     * WARN message per distinct problem (naming the key, the endpoints and what is wrong; when missing, the hint that
     * flannel ≥ 0.18 and overlay read the v3 API and any {@code .../config} key found elsewhere) and retries with
     * capped exponential backoff ({@link EtcdSettings#backoffMin()} doubling to {@link EtcdSettings#backoffMax()}).
     *
     * @throws IllegalStateException if the allocator is closed
     */
    @Override
    public NetworkConfig awaitNetworkConfig() throws InterruptedException {
        final String key = settings.configKey();
        final Set<String> logged = new HashSet<>();
        long backoff = settings.backoffMin().toNanos();
        while (true) {
            checkOpen();
            String problem;
            String problemId;
            try {
                final Optional<EtcdOps.Value> v = etcd.get(key);
                if (v.isEmpty()) {
                    final List<String> elsewhere = configKeysElsewhere();
                    problemId = "missing " + elsewhere;
                    problem = missingConfigMessage(elsewhere);
                } else {
                    final String json = new String(v.get().value(), StandardCharsets.UTF_8);
                    try {
                        final NetworkConfig c = NetworkConfig.parse(json);
                        config = c;
                        LOG.info("Network config at {}: Network {}, {}, backend {} port {}", key, c.network(),
                            c.rangeDescription(), c.backend().type(), c.backend().port());
                        return c;
                    } catch (InvalidNetworkConfigException e) {
                        problemId = "invalid " + json;
                        problem = "Network config at " + key + " (etcd " + settings.endpoints() + ") is invalid: "
                            + e.getMessage() + " (field " + e.field() + "); waiting for it to be fixed";
                    }
                }
            } catch (EtcdUnavailableException e) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("interrupted while reading " + key);
                }
                problemId = "unavailable " + rootCause(e).getClass().getName();
                problem = "Cannot read network config " + key + " from etcd " + settings.endpoints() + ": "
                    + e.getMessage() + "; retrying";
            }
            if (logged.add(problemId)) {
                LOG.warn(problem);
            } else {
                LOG.debug(problem);
            }
            TimeUnit.NANOSECONDS.sleep(backoff);
            backoff = Math.min(backoff * 2, settings.backoffMax().toNanos());
        }
    }

    private String missingConfigMessage(final List<String> elsewhere) {
        final StringBuilder sb = new StringBuilder(400);
        sb.append("Network config not found: no key ").append(settings.configKey()).append(" in etcd ")
            .append(settings.endpoints()).append(". flannel >= 0.18 and overlay read the etcd v3 API: a config ")
            .append("written with the v2 API (etcdctl set, or ETCDCTL_API=2) or under another prefix is invisible. ")
            .append("Write it with: ETCDCTL_API=3 etcdctl put ").append(settings.configKey())
            .append(" '{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}'");
        if (!elsewhere.isEmpty()) {
            sb.append(". Config keys found under other prefixes: ").append(elsewhere)
                .append(" (this host uses prefix ").append(settings.prefix()).append(')');
        }
        return sb.toString();
    }

    /** Keys named {@code .../config} outside our prefix: the usual wrong-prefix mistake (keys only, bounded). */
    private List<String> configKeysElsewhere() {
        try {
            return etcd.keys("/", 1000).stream()
                .filter(k -> k.endsWith("/config") && !k.equals(settings.configKey()))
                .limit(5).collect(Collectors.toList());
        } catch (EtcdUnavailableException e) {
            return List.of();
        }
    }

    // ---------------------------------------------------------------- acquisition

    /**
     * {@inheritDoc}
     *
     * <p>Reads the network config first if {@link #awaitNetworkConfig()} was not called. While etcd is unreachable it
     * retries with capped backoff. Writes the udp lease value {@code {"PublicIP":"<ip>","PublicIPv6":null}}.
     *
     * @throws IllegalStateException if another host won the race for a free subnet 10 times in a row, or the
     *     allocator is closed
     */
    @Override
    public Lease acquire(final int publicIp, final Optional<Ipv4Prefix> previousSubnet) throws InterruptedException {
        checkOpen();
        if (started) {
            throw new IllegalStateException("acquire() after start(): the allocator keeps its lease by itself");
        }
        final NetworkConfig cfg = config != null ? config : awaitNetworkConfig();
        final Held h = acquireHeld(cfg, publicIp, previousSubnet);
        this.publicIp = publicIp;
        this.acquired = h;
        return h.lease();
    }

    private Held acquireHeld(final NetworkConfig cfg, final int ip, final Optional<Ipv4Prefix> previous)
        throws InterruptedException {
        long backoff = settings.backoffMin().toNanos();
        boolean warned = false;
        int races = 0;
        while (true) {
            checkOpen();
            try {
                final Optional<Held> h = tryAcquire(cfg, ip, previous);
                if (h.isPresent()) {
                    return h.get();
                }
                races++;
                if (races >= RACE_RETRIES) {
                    throw new IllegalStateException("could not acquire a subnet of " + cfg.rangeDescription()
                        + " after " + RACE_RETRIES + " attempts: each time another host changed the chosen key "
                        + "between listing and writing");
                }
            } catch (EtcdUnavailableException e) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("interrupted while acquiring a lease");
                }
                if (!warned) {
                    LOG.warn("Cannot acquire a lease yet: {}; retrying with backoff up to {}", e.getMessage(),
                        settings.backoffMax());
                    warned = true;
                } else {
                    LOG.debug("Still cannot acquire a lease: {}", e.getMessage());
                }
                TimeUnit.NANOSECONDS.sleep(backoff);
                backoff = Math.min(backoff * 2, settings.backoffMax().toNanos());
            }
        }
    }

    /** One attempt (flannel's tryAcquireLease); empty when another host changed a key we were about to write. */
    private Optional<Held> tryAcquire(final NetworkConfig cfg, final int ip, final Optional<Ipv4Prefix> previous) {
        final SubnetListing listing = etcd.list(settings.subnetsPrefix());
        final LeaseAttrs attrs = LeaseAttrs.udp(ip);
        final byte[] value = attrs.toBytes();
        final List<Ipv4Prefix> occupied = new ArrayList<>();
        for (SubnetListing.Entry e : listing.entries()) {
            if (e.subnet() != null) {
                occupied.add(e.subnet());
            }
            if (!e.valid()) {
                LOG.warn("Ignoring bad subnet key {} while listing: {}{}", e.key(), e.problem(),
                    e.subnet() != null ? " (its subnet still counts as taken)" : "");
            }
        }

        // 1. Reuse the lease (or reservation) whose PublicIP is ours.
        for (SubnetListing.Entry e : listing.entries()) {
            if (!e.valid() || e.attrs().publicIp() != ip) {
                continue;
            }
            if (cfg.isCompatible(e.subnet())) {
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
                if (etcd.deleteIfUnchanged(e.key(), e.modRevision())) {
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
        final Optional<Held> h = putOnFreshLease(key, chosen, attrs, id -> etcd.createIfAbsent(key, value, id));
        if (h.isEmpty()) {
            LOG.info("Subnet {} was taken by another host meanwhile; retrying with a fresh listing", chosen);
            return h;
        }
        LOG.info("Allocated subnet {} for PublicIP {} (key {}, etcd lease {} with TTL {} s)", chosen,
            Ipv4.format(ip), key, Long.toHexString(h.get().leaseId()), h.get().lease().ttl().toSeconds());
        return h;
    }

    /**
     * Grants a fresh etcd lease and runs one conditional put attached to it: the lease is revoked when the condition
     * failed. When the put's outcome is unknown (timeout, broken connection) the key is read again first: if it hangs
     * on the fresh lease the put was applied and counts as done; otherwise the lease is revoked (or, when etcd cannot
     * even be read, left to expire by itself) and the error rethrown.
     *
     * @return the key as held, or empty if the put's condition failed
     * @throws EtcdUnavailableException if etcd cannot be reached and the put did not happen as far as is known
     */
    private Optional<Held> putOnFreshLease(final String key, final Ipv4Prefix subnet, final LeaseAttrs attrs,
                                           final java.util.function.LongFunction<Optional<Long>> put) {
        final long t0 = settings.ticker().getAsLong();
        final EtcdOps.Granted g = etcd.grant(settings.leaseTtl().toSeconds());
        Optional<Long> rev;
        try {
            rev = put.apply(g.id());
        } catch (EtcdUnavailableException e) {
            final Optional<EtcdOps.Value> now;
            try {
                now = etcd.get(key);
            } catch (EtcdUnavailableException again) {
                LOG.warn("Writing {} failed ({}) and it cannot be read back; leaving etcd lease {} to expire by "
                    + "itself rather than revoking what may be this host's key", key, e.getMessage(),
                    Long.toHexString(g.id()));
                throw e;
            }
            if (now.isEmpty() || now.get().leaseId() != g.id()) {
                etcd.revokeQuietly(g.id());
                throw e;
            }
            LOG.info("Writing {} reported an error ({}) but etcd applied it; keeping it", key, e.getMessage());
            rev = Optional.of(now.get().modRevision());
        }
        if (rev.isEmpty()) {
            etcd.revokeQuietly(g.id());
            return Optional.empty();
        }
        return Optional.of(new Held(new Lease(subnet, attrs, false, Duration.ofSeconds(g.ttlSeconds())), key, g.id(),
            rev.get(), t0 + TimeUnit.SECONDS.toNanos(g.ttlSeconds())));
    }

    /**
     * Revokes the etcd lease our key hung on before it was re-put, only if no other key is attached to it (revoking a
     * lease deletes every key on it). When etcd cannot tell, the lease is left to expire by itself.
     */
    private void releaseOldLease(final long leaseId, final String key) {
        try {
            final EtcdOps.LeaseInfo info = etcd.timeToLive(leaseId, true);
            if (info.gone()) {
                return;
            }
            if (info.attachedKeys() == 0) {
                etcd.revokeQuietly(leaseId);
            } else {
                LOG.info("Previous etcd lease {} of {} still holds {} other key(s); not revoking it",
                    Long.toHexString(leaseId), key, info.attachedKeys());
            }
        } catch (EtcdUnavailableException e) {
            LOG.debug("Cannot look at previous etcd lease {}: {}; it expires by itself", Long.toHexString(leaseId),
                e.getMessage());
        }
    }

    /** Takes over the compatible key holding our PublicIP: a reservation stays one, a lease gets a fresh etcd lease. */
    private Optional<Held> reuse(final SubnetListing.Entry e, final LeaseAttrs attrs, final byte[] value) {
        if (e.reservation()) {
            long rev = e.modRevision();
            if (!e.attrs().equals(attrs)) {
                final Optional<Long> r = etcd.putIfUnchanged(e.key(), value, 0, e.modRevision());
                if (r.isEmpty()) {
                    return Optional.empty();
                }
                rev = r.get();
            }
            LOG.info("Found reservation {} for current IP {}, using it (no etcd lease attached, never renewed)",
                e.key(), Ipv4.format(attrs.publicIp()));
            return Optional.of(new Held(new Lease(e.subnet(), attrs, true, Duration.ZERO), e.key(), 0, rev,
                Long.MAX_VALUE));
        }
        final Optional<Held> h = putOnFreshLease(e.key(), e.subnet(), attrs,
            id -> etcd.putIfUnchanged(e.key(), value, id, e.modRevision()));
        if (h.isEmpty()) {
            return h;
        }
        // The key now hangs on the new lease; the old one holds nothing of ours any more.
        releaseOldLease(e.leaseId(), e.key());
        LOG.info("Found lease {} for current IP {}, reusing (new etcd lease {} with TTL {} s)", e.key(),
            Ipv4.format(attrs.publicIp()), Long.toHexString(h.get().leaseId()), h.get().lease().ttl().toSeconds());
        return h;
    }

    // ---------------------------------------------------------------- keeping the lease

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException if {@code lease} is not the one the last {@link #acquire} returned
     * @throws IllegalStateException if already started or closed
     */
    @Override
    public void start(final Lease lease, final LeaseListener listener) {
        checkOpen();
        final Held h = acquired;
        if (h == null || !h.lease().equals(lease)) {
            throw new IllegalArgumentException("start() needs the lease the last acquire() returned, got " + lease);
        }
        if (started) {
            throw new IllegalStateException("start() was already called");
        }
        started = true;
        control.execute(() -> {
            this.own = h;
            this.listener = listener;
        });
        control.execute(guarded("renewal scheduling", this::scheduleRenewal, this::retryRenewalLater));
        control.execute(guarded("initial listing", this::initialListing, this::initialListingLater));
        final long every = settings.resyncInterval().toNanos();
        control.scheduleWithFixedDelay(guarded("periodic re-list", this::periodicResync, this::resyncLater), every,
            every, TimeUnit.NANOSECONDS);
    }

    // ---------------------------------------------------------------- control tasks

    /**
     * Wraps a control-thread task so that no exception ends in a future nobody reads: an unexpected one is logged at
     * ERROR with the task's name and {@code recovery} runs (which reschedules the task's chain: renewal, re-acquisition,
     * watch, listing), so one bug or surprise from the client library never stops the lease from being renewed.
     */
    private Runnable guarded(final String what, final Runnable task, final Runnable recovery) {
        return () -> {
            try {
                task.run();
            } catch (RuntimeException | LinkageError | AssertionError e) {
                if (closed) {
                    return;
                }
                LOG.error("Unexpected error in the etcd control task '{}'; recovering", what, e);
                try {
                    recovery.run();
                } catch (RuntimeException | LinkageError | AssertionError again) {
                    LOG.error("Recovering from the error in '{}' failed too", what, again);
                }
            }
        };
    }

    /** Schedules a guarded control task; returns null when closing. */
    private ScheduledFuture<?> later(final String what, final Runnable task, final long delayNanos,
                                     final Runnable recovery) {
        try {
            return control.schedule(guarded(what, task, recovery), delayNanos, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            return null; // closing
        }
    }

    private void retryRenewalLater() {
        cancelRenewal();
        renewTask = later("renewal", this::renew, settings.renewRetryInterval().toNanos(), this::retryRenewalLater);
    }

    private void reacquireLater() {
        later("re-acquisition", this::reacquire, settings.renewRetryInterval().toNanos(), this::reacquireLater);
    }

    private void initialListingLater() {
        later("initial listing", this::initialListing, nextWatchBackoff(), this::initialListingLater);
    }

    private void resyncLater() {
        resyncRetrying = true;
        later("re-list", this::resync, nextWatchBackoff(), this::resyncLater);
    }

    private void scheduleRenewal() {
        cancelRenewal();
        if (own == null) {
            return;
        }
        if (own.lease().reservation()) {
            LOG.info("Subnet {} is a reservation: no etcd lease, no renewal scheduled", own.lease().subnet());
            return;
        }
        final long margin = renewMarginNanos(own.lease().ttl());
        final long due = own.expiresAtNanos() - margin;
        final long delay = Math.max(0, due - settings.ticker().getAsLong());
        LOG.info("Lease {} renewal in {} s (expiry in {} s, margin {} s)", own.key(),
            TimeUnit.NANOSECONDS.toSeconds(delay), TimeUnit.NANOSECONDS.toSeconds(delay + margin),
            TimeUnit.NANOSECONDS.toSeconds(margin));
        renewTask = later("renewal", () -> renewWhenDue(due), delay, this::retryRenewalLater);
    }

    /**
     * The renew margin for an etcd lease granted {@code ttl}: {@link EtcdSettings#renewMargin()}, or half the TTL when
     * the margin is not shorter than the TTL (an etcd lease someone else attached our key to, with a short TTL: renewing
     * at expiry minus the full margin would renew without pause).
     */
    private long renewMarginNanos(final Duration ttl) {
        final long margin = settings.renewMargin().toNanos();
        return ttl.isZero() || margin < ttl.toNanos() ? margin : ttl.toNanos() / 2;
    }

    private void renewWhenDue(final long due) {
        final long early = due - settings.ticker().getAsLong();
        if (early > 0) {
            renewTask = later("renewal", () -> renewWhenDue(due), early, this::retryRenewalLater);
            return;
        }
        renew();
    }

    private void cancelRenewal() {
        if (renewTask != null) {
            renewTask.cancel(false);
            renewTask = null;
        }
    }

    /** Renews the own lease now (control thread). */
    private void renew() {
        if (own == null) {
            return;
        }
        if (own.lease().reservation()) {
            checkReservation();
            return;
        }
        final long t0 = settings.ticker().getAsLong();
        try {
            final long ttl = etcd.keepAliveOnce(own.leaseId());
            own = own.withRenewal(ttl, t0 + TimeUnit.SECONDS.toNanos(ttl));
            renewals.incrementAndGet();
            LOG.info("Renewed lease {} (etcd lease {}): TTL {} s", own.key(), Long.toHexString(own.leaseId()), ttl);
            final Lease l = own.lease();
            emit(x -> x.leaseRenewed(l));
            scheduleRenewal();
        } catch (EtcdOps.LeaseGoneException e) {
            LOG.warn("Renewing lease {} failed: its etcd lease {} is gone", own.key(),
                Long.toHexString(own.leaseId()));
            lose("its etcd lease expired or was revoked");
        } catch (EtcdUnavailableException e) {
            if (closed) {
                return;
            }
            LOG.warn("Error renewing lease {} (trying again in {}): {}", own.key(), settings.renewRetryInterval(),
                e.getMessage());
            retryRenewalLater();
        }
    }

    /** A reservation is never given a lease; a "renewal" only checks the key is still ours and rewrites it if not. */
    private void checkReservation() {
        try {
            final Optional<EtcdOps.Value> v = etcd.get(own.key());
            if (v.isEmpty()) {
                lose("the reservation key was deleted");
                return;
            }
            final LeaseAttrs ours = own.lease().attrs();
            final SubnetListing.Entry e = SubnetListing.Entry.parse(own.key(), v.get().value(), v.get().leaseId(),
                v.get().modRevision());
            if (e.leaseId() == 0 && (!e.valid() || !e.attrs().equals(ours))) {
                etcd.putIfUnchanged(own.key(), ours.toBytes(), 0, v.get().modRevision());
            }
            LOG.debug("Reservation {} checked; no lease attached", own.key());
        } catch (EtcdUnavailableException e) {
            LOG.warn("Cannot check reservation {}: {}", own.key(), e.getMessage());
        }
    }

    /** The own key is gone or taken: report, then re-acquire (control thread). */
    private void lose(final String why) {
        if (own == null) {
            return;
        }
        cancelRenewal();
        final Lease old = own.lease();
        LOG.warn("Lease for subnet {} lost: {}; re-acquiring (the same subnet if still free)", old.subnet(), why);
        own = null;
        lost = old;
        emit(x -> x.leaseLost(old));
        later("re-acquisition", this::reacquire, 0, this::reacquireLater);
    }

    private void reacquire() {
        if (closed || own != null || lost == null) {
            return;
        }
        final Lease old = lost;
        final Held h;
        try {
            h = acquireHeld(config, publicIp, Optional.of(old.subnet()));
        } catch (InterruptedException e) {
            return;
        } catch (OutOfSubnetsException | IllegalStateException e) {
            if (closed) {
                return;
            }
            LOG.error("Cannot re-acquire a lease (trying again in {}): {}", settings.renewRetryInterval(),
                e.getMessage());
            reacquireLater();
            return;
        }
        own = h;
        lost = null;
        final Lease stale = peers.remove(h.lease().subnet());
        if (stale != null) {
            LOG.warn("Re-acquired subnet {} was known as a peer's; dropping that peer", h.lease().subnet());
            emit(x -> x.peerRemoved(stale));
        }
        LOG.info("Re-acquired lease: subnet {} (was {})", h.lease().subnet(), old.subnet());
        final Lease current = h.lease();
        emit(x -> x.leaseReacquired(old, current));
        scheduleRenewal();
    }

    // ---------------------------------------------------------------- watching

    private void initialListing() {
        if (closed) {
            return;
        }
        final SubnetListing listing;
        try {
            listing = etcd.list(settings.subnetsPrefix());
        } catch (EtcdUnavailableException e) {
            LOG.warn("Cannot list leases to start watching: {}; retrying", e.getMessage());
            initialListingLater();
            return;
        }
        applyListing(listing);
        openWatch();
    }

    /** Delivers the difference between the known peers and a full listing; also checks the own key. */
    private void applyListing(final SubnetListing listing) {
        lastRevision = listing.revision();
        final Map<Ipv4Prefix, Lease> seen = new HashMap<>();
        final Set<Ipv4Prefix> malformedSubnets = new HashSet<>();
        boolean ownPresent = false;
        for (SubnetListing.Entry e : listing.entries()) {
            if (own != null && e.key().equals(own.key())) {
                ownPresent = true;
                onOwnPut(e);
                continue;
            }
            if (!e.valid()) {
                malformed.incrementAndGet();
                LOG.warn("Skipping malformed lease {}: {}", e.key(), e.problem());
                if (e.subnet() != null) {
                    malformedSubnets.add(e.subnet());
                }
                continue;
            }
            if (isOwnSubnet(e.subnet()) || !routable(e)) {
                continue;
            }
            seen.put(e.subnet(), peerLease(e));
        }
        if (own != null && !ownPresent) {
            lose("its key " + own.key() + " is gone");
        }
        for (Map.Entry<Ipv4Prefix, Lease> p : seen.entrySet()) {
            updatePeer(p.getValue());
        }
        for (Lease old : new ArrayList<>(peers.values())) {
            // A peer whose value turned malformed keeps its last good route.
            if (!seen.containsKey(old.subnet()) && !malformedSubnets.contains(old.subnet())) {
                peers.remove(old.subnet());
                emit(x -> x.peerRemoved(old));
            }
        }
    }

    private boolean isOwnSubnet(final Ipv4Prefix subnet) {
        return own != null && own.lease().subnet().equals(subnet);
    }

    /**
     * Whether a peer's (valid) lease can become a udp route: its PublicIP must be a unicast address. Leases of
     * IPv6-only vxlan nodes carry PublicIP 0.0.0.0 and flanneld's udp backend would route them to 0.0.0.0; overlay
     * skips them (and multicast, broadcast, 0/8 and 240/4 addresses), logs each key once at WARN and counts every
     * skip ({@link #unroutablePeerLeases()}). A lease of another backend type (vxlan, ...) is routed like flanneld's udp
     * backend does, with one WARN per allocator: such a host does not decapsulate udp datagrams (a mixed cluster).
     */
    private boolean routable(final SubnetListing.Entry e) {
        final int ip = e.attrs().publicIp();
        if (!isUnicast(ip)) {
            unroutable.incrementAndGet();
            if (warnedUnroutable.add(e.key())) {
                LOG.warn("Skipping lease {}: PublicIP {} is not a unicast IPv4 address{}; no route to subnet {}",
                    e.key(), Ipv4.format(ip), e.attrs().publicIpv6() != null ? " (an IPv6-only node, PublicIPv6 "
                        + e.attrs().publicIpv6() + ")" : "", e.subnet());
            }
            return false;
        }
        warnedUnroutable.remove(e.key());
        final String type = e.attrs().backendType();
        if (type != null && !"udp".equalsIgnoreCase(type) && !mixedClusterWarned) {
            mixedClusterWarned = true;
            LOG.warn("Lease {} is of backend type {} (PublicIP {}): a mixed cluster. Routing it over udp as flanneld "
                + "does, but that host will not decapsulate udp datagrams; use one backend type per network "
                + "(warned once)", e.key(), type, Ipv4.format(ip));
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

    private void updatePeer(final Lease lease) {
        final Lease old = peers.put(lease.subnet(), lease);
        if (old == null) {
            emit(x -> x.peerAdded(lease));
        } else if (!old.attrs().equals(lease.attrs()) || old.reservation() != lease.reservation()) {
            emit(x -> x.peerChanged(old, lease));
        }
    }

    private void openWatch() {
        if (closed || watchPaused) {
            return;
        }
        closeWatcher();
        final int gen = watchGen;
        final WatchOption opt = WatchOption.builder().isPrefix(true).withRevision(lastRevision + 1)
            .withPrevKV(true).withProgressNotify(true).withRequireLeader(true).build();
        try {
            watcher = etcd.client().getWatchClient().watch(EtcdOps.bytes(settings.subnetsPrefix()), opt,
                Watch.listener(
                    r -> onControl(() -> onWatchResponse(gen, r)),
                    t -> onControl(() -> onWatchError(gen, t)),
                    () -> onControl(() -> onWatchCompleted(gen))));
        } catch (RuntimeException e) {
            onWatchError(gen, e);
        }
    }

    private void closeWatcher() {
        watchGen++;
        if (watcher != null) {
            try {
                watcher.close();
            } catch (RuntimeException e) {
                LOG.debug("closing watcher", e);
            }
            watcher = null;
        }
    }

    /** Hands a jetcd callback to the control thread; never blocks the caller. */
    private void onControl(final Runnable r) {
        if (closed) {
            return;
        }
        try {
            // A surprise while applying an event may leave the peers half updated: list everything again.
            control.execute(guarded("lease watch event", r, () -> {
                closeWatcher();
                resyncLater();
            }));
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    private void onWatchResponse(final int gen, final WatchResponse r) {
        if (gen != watchGen) {
            return;
        }
        if (watchFailing) {
            LOG.info("Lease watch resumed at revision {}", lastRevision + 1);
            watchFailing = false;
        }
        watchBackoffNanos = 0;
        for (WatchEvent ev : r.getEvents()) {
            final io.etcd.jetcd.KeyValue kv = ev.getKeyValue();
            lastRevision = Math.max(lastRevision, kv.getModRevision());
            final String key = kv.getKey().toString(StandardCharsets.UTF_8);
            if (ev.getEventType() == WatchEvent.EventType.PUT) {
                onPut(SubnetListing.Entry.parse(key, kv.getValue().getBytes(), kv.getLease(), kv.getModRevision()));
            } else if (ev.getEventType() == WatchEvent.EventType.DELETE) {
                onDelete(key, kv.getModRevision());
            }
        }
        if (r.getEvents().isEmpty() && r.isProgressNotify()) {
            lastRevision = Math.max(lastRevision, r.getHeader().getRevision());
        }
    }

    private void onPut(final SubnetListing.Entry e) {
        if (own != null && e.key().equals(own.key())) {
            if (e.modRevision() > own.modRevision()) {
                onOwnPut(e);
            }
            return;
        }
        if (!e.valid()) {
            malformed.incrementAndGet();
            LOG.warn("Skipping malformed lease event for key {}: {}", e.key(), e.problem());
            return;
        }
        if (isOwnSubnet(e.subnet())) {
            LOG.warn("Key {} names this host's subnet {} but is not its key {}; ignoring it", e.key(), e.subnet(),
                own.key());
            return;
        }
        if (!routable(e)) {
            final Lease old = peers.remove(e.subnet());
            if (old != null) {
                emit(x -> x.peerRemoved(old));
            }
            return;
        }
        updatePeer(peerLease(e));
    }

    private void onOwnPut(final SubnetListing.Entry e) {
        if (e.valid() && e.attrs().publicIp() == own.lease().attrs().publicIp()) {
            if (e.leaseId() != own.leaseId()) {
                // Someone (an operator, or a flannel-style renewal) re-put our value with another etcd lease.
                LOG.info("Own key {} now uses etcd lease {} (was {})", e.key(), Long.toHexString(e.leaseId()),
                    Long.toHexString(own.leaseId()));
                own = adopt(e);
                scheduleRenewal();
            } else {
                own = new Held(own.lease(), own.key(), own.leaseId(), e.modRevision(), own.expiresAtNanos());
            }
            return;
        }
        LOG.error("Own key {} was overwritten ({}); this host no longer owns subnet {}", e.key(),
            e.valid() ? "PublicIP " + Ipv4.format(e.attrs().publicIp()) : "malformed value: " + e.problem(),
            own.lease().subnet());
        lose("its key was overwritten by another host");
    }

    /**
     * The own key as held after it was re-put on another etcd lease (or none): the expiry comes from what etcd says
     * the new lease has left, on the monotonic ticker. When etcd cannot say, the lease counts as due now, so the next
     * renewal (a keep-alive, which reports the TTL) comes at once.
     */
    private Held adopt(final SubnetListing.Entry e) {
        if (e.reservation()) {
            return new Held(new Lease(own.lease().subnet(), own.lease().attrs(), true, Duration.ZERO), own.key(), 0,
                e.modRevision(), Long.MAX_VALUE);
        }
        final long t0 = settings.ticker().getAsLong();
        long granted = own.lease().ttl().toSeconds();
        long expiresAt = t0;
        try {
            final EtcdOps.LeaseInfo info = etcd.timeToLive(e.leaseId(), false);
            if (!info.gone()) {
                granted = info.grantedSeconds();
                expiresAt = t0 + TimeUnit.SECONDS.toNanos(info.remainingSeconds());
            }
        } catch (EtcdUnavailableException ex) {
            LOG.warn("Cannot read the TTL of etcd lease {} now holding {}: {}; renewing it at once",
                Long.toHexString(e.leaseId()), own.key(), ex.getMessage());
        }
        return new Held(new Lease(own.lease().subnet(), own.lease().attrs(), false, Duration.ofSeconds(granted)),
            own.key(), e.leaseId(), e.modRevision(), expiresAt);
    }

    private void onDelete(final String key, final long modRevision) {
        if (own != null && key.equals(own.key())) {
            if (modRevision > own.modRevision()) {
                lose("its key was deleted or its etcd lease expired");
            }
            return;
        }
        final Optional<SubnetKey.Parsed> parsed = SubnetKey.parse(key);
        if (parsed.isEmpty()) {
            LOG.debug("Ignoring deletion of non-subnet key {}", key);
            return;
        }
        final Lease old = peers.remove(parsed.get().ipv4());
        if (old != null) {
            emit(x -> x.peerRemoved(old));
        }
    }

    private void onWatchError(final int gen, final Throwable t) {
        if (gen != watchGen || closed) {
            return;
        }
        final CompactedException compacted = compacted(t);
        if (compacted != null) {
            resyncs.incrementAndGet();
            LOG.warn("Lease watch from revision {} was compacted (compact revision {}); listing all leases once",
                lastRevision + 1, compacted.getCompactedRevision());
            closeWatcher();
            resync();
            return;
        }
        restartWatch("error: " + rootCause(t).getMessage());
    }

    private void onWatchCompleted(final int gen) {
        if (gen != watchGen || closed) {
            return;
        }
        restartWatch("closed by the client library or the server");
    }

    private void restartWatch(final String why) {
        closeWatcher();
        watchRestarts.incrementAndGet();
        final long delay = nextWatchBackoff();
        if (!watchFailing) {
            LOG.warn("Lease watch broke ({}); reopening from revision {} with backoff up to {}; keeping the last "
                + "known peers", why, lastRevision + 1, settings.backoffMax());
            watchFailing = true;
        } else {
            LOG.debug("Lease watch broke again ({}); next try in {} ms", why, TimeUnit.NANOSECONDS.toMillis(delay));
        }
        later("watch reopening", this::openWatch, delay, () -> restartWatch("unexpected error reopening it"));
    }

    private void resync() {
        resyncRetrying = false;
        if (closed || watchPaused) {
            return;
        }
        final SubnetListing listing;
        try {
            listing = etcd.list(settings.subnetsPrefix());
        } catch (EtcdUnavailableException e) {
            LOG.warn("Cannot re-list leases: {}; retrying", e.getMessage());
            resyncLater();
            return;
        }
        watchBackoffNanos = 0;
        applyListing(listing);
        openWatch();
    }

    /** The safety net: list everything, deliver the difference, reopen the watch from the listing's revision. */
    private void periodicResync() {
        if (closed || watchPaused || resyncRetrying) {
            return;
        }
        LOG.debug("Periodic re-list of all leases (every {})", settings.resyncInterval());
        closeWatcher();
        resync();
    }

    private long nextWatchBackoff() {
        watchBackoffNanos = watchBackoffNanos == 0 ? settings.backoffMin().toNanos()
            : Math.min(watchBackoffNanos * 2, settings.backoffMax().toNanos());
        return watchBackoffNanos;
    }

    private static CompactedException compacted(final Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof CompactedException ce) {
                return ce;
            }
        }
        return null;
    }

    private static Throwable rootCause(final Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c;
    }

    private void emit(final java.util.function.Consumer<LeaseListener> call) {
        final LeaseListener l = listener;
        if (l == null || closed) {
            return;
        }
        try {
            events.execute(() -> {
                try {
                    call.accept(l);
                } catch (RuntimeException | LinkageError | AssertionError e) {
                    LOG.error("Lease listener threw", e);
                }
            });
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    // ---------------------------------------------------------------- test hooks (package-private)

    /** Stops the watch (as if the connection hung) until {@link #resumeWatch()}; events meanwhile are missed. */
    void pauseWatch() throws InterruptedException {
        onControlAndWait(() -> {
            watchPaused = true;
            closeWatcher();
        });
    }

    /** Reopens the watch from the last seen revision + 1 (a compacted revision leads to one re-list). */
    void resumeWatch() throws InterruptedException {
        onControlAndWait(() -> {
            watchPaused = false;
            openWatch();
        });
    }

    /** Silently drops the watch (no error, no reopen), as a stalled stream would; only the periodic re-list helps. */
    void stallWatch() throws InterruptedException {
        onControlAndWait(this::closeWatcher);
    }

    /** Runs a renewal now, as the timer would (for a reservation: the check that attaches no lease). */
    void renewNow() throws InterruptedException {
        onControlAndWait(this::renew);
    }

    /** Schedules the renewal again from the current expiry, as after any change of the own key (timer path). */
    void rescheduleRenewal() throws InterruptedException {
        onControlAndWait(this::scheduleRenewal);
    }

    /** Makes the next etcd request described as {@code what...} fail (see {@link EtcdOps#injectFailure}). */
    void injectFailure(final String what, final RuntimeException failure, final boolean afterApplying) {
        etcd.injectFailure(what, failure, afterApplying);
    }

    /** Returns the etcd lease id of the own key (0 for a reservation, -1 when no lease is held). */
    long ownLeaseId() throws InterruptedException {
        final long[] id = {-1};
        onControlAndWait(() -> id[0] = own == null ? -1 : own.leaseId());
        return id[0];
    }

    private void onControlAndWait(final Runnable r) throws InterruptedException {
        final Future<?> f = control.submit(r);
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---------------------------------------------------------------- close

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the etcd subnet allocator is closed");
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Neither revokes the etcd lease nor deletes the key: a restart within the TTL gets the same subnet back.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        control.shutdownNow();
        try {
            if (!control.awaitTermination(10, TimeUnit.SECONDS)) {
                LOG.warn("etcd control thread did not stop within 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (watcher != null) {
            try {
                watcher.close();
            } catch (RuntimeException e) {
                LOG.debug("closing watcher", e);
            }
        }
        events.shutdown();
        try {
            events.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        etcd.close();
    }
}
