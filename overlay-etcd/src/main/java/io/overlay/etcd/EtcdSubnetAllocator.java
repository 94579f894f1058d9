package io.overlay.etcd;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.AllocatorStatus;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.SubnetAllocator;
import io.overlay.core.WarningAggregator;
import java.net.URI;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The subnet allocator on etcd v3, schema-compatible with flanneld ≥ 0.18 (docs/flannel-compatibility.md#etcd-schema),
 * so overlay hosts and flanneld hosts share one network.
 *
 * <p>Keys: the network config at {@code <prefix>/config}; one key per host at {@code <prefix>/subnets/<a.b.c.d>-<len>}
 * holding the exact JSON flanneld's udp backend writes ({@code {"PublicIP":"198.18.0.1","PublicIPv6":null}}), attached
 * to an etcd lease of {@link EtcdSettings#leaseTtl()} (86400 s by default). A key without an etcd lease is an
 * operator's reservation (docs/flannel-compatibility.md#reservations): honoured, never given a lease, never
 * renewed, never taken by another host.
 *
 * <p>Acquisition ({@link LeaseAcquirer}, docs/flannel-compatibility.md#subnet-allocation): reuse the lease whose
 * PublicIP is ours (deleting, loudly, one that no longer fits the config); else the previous subnet from
 * {@code subnet.env} when no key overlaps it; else a random subnet among the lowest 100 free candidates, where every
 * key under {@code <prefix>/subnets}, even one with a malformed value, occupies its subnet. Keys are created with a
 * transaction that succeeds only if the key is absent; a lost race is retried against a fresh listing, up to 10 times
 * (unlike flanneld on v3, which exits).
 *
 * <p>Renewal ({@link LeaseKeeper}): at expiry minus {@link EtcdSettings#renewMargin()}, computed on the monotonic
 * {@link EtcdSettings#ticker()} from the TTL etcd granted, the etcd lease is refreshed with one LeaseKeepAlive
 * (overlay's choice; flanneld instead grants a new lease and re-puts the value). The key and its value stay byte
 * for byte the same, no PUT event reaches the peers and no orphan lease is left behind. Failures are retried every
 * {@link EtcdSettings#renewRetryInterval()}. When someone else re-puts our key on another etcd lease (an operator, a
 * flannel-style renewal), that lease is adopted with the expiry etcd reports for it (LeaseTimeToLive); a margin not
 * shorter than its TTL becomes half the TTL. Acquisition grants a fresh etcd lease per write and revokes it when the
 * write's condition failed; a write whose outcome is unknown is read back first (never revoking a lease our key may
 * hang on), and a previous etcd lease is revoked only when no other key is attached to it.
 *
 * <p>Watching ({@link PeerWatch}, {@link PeerSet}): one prefix watch over {@code <prefix>/subnets} drives both the
 * peers and the own lease. The current peers are delivered as one {@link LeaseListener#peersChanged} batch, then
 * {@link LeaseListener#peersListed()} ({@link #reportsPeersListed()}), then events from the listing's revision + 1. A
 * malformed key or value is logged with its key (at most 5 such warnings a minute one by one, then a count:
 * {@link WarningAggregator}), counted ({@link #malformedLeaseEvents()}) and skipped:
 * it never removes other peers (unlike flanneld's v3 watch, docs/flannel-compatibility.md#lease-watch). When the own
 * key is deleted or its etcd lease expires, {@code leaseLost} is reported, the lease re-acquired (the same subnet when
 * still free; once the network config key exists, as at start-up) and {@code leaseReacquired} reported. On compaction the keys are listed once and the difference delivered
 * (including changed attributes), as when etcd's revision went back (data wiped or restored from an older snapshot: a
 * watch from the old revision would wait silently); on a broken connection the watch is reopened with capped exponential backoff from the
 * last seen revision, and the last known peers stay. As a safety net all leases are listed again every
 * {@link EtcdSettings#resyncInterval()} (default 10 min). Peers whose PublicIP is not unicast (0.0.0.0 of IPv6-only
 * vxlan nodes), is loopback or is this host's own PublicIP are skipped and counted ({@link #unroutablePeerLeases()});
 * leases of other backend types are routed as flanneld's udp backend does, with one mixed-cluster WARN. A subnet two
 * keys claim is routed to the older key's PublicIP ({@link PeerSet}).
 *
 * <p>Config ({@link NetworkConfigWatch}): {@code <prefix>/config} is watched after {@link #start}. flanneld reads it
 * once; here a change is logged (ERROR with old and new values when only a restart can apply it) and reported to the
 * listener's {@code networkConfigChanged}; a new SubnetMin/SubnetMax that still holds this host's subnet is applied.
 *
 * <p>TLS files ({@link ReloadingRegistry}): with a CA file or a client certificate, the files are looked at every 5 s;
 * replaced ones (a renewed certificate, a CA roll-over) are checked, tried against etcd and then used, the watches
 * reopened on the new connection; broken ones are refused with an ERROR naming the file, keeping the client in use.
 *
 * <p>Threads ({@link ControlThread}): one control thread of its own does all etcd requests after {@link #start} and
 * calls the listener, one call at a time, in order; watch responses that arrive while it is busy are taken together
 * and delivered as one {@link LeaseListener#peersChanged} batch. The etcd client's own thread ({@code
 * overlay-etcd-http}), which delivers the watches' responses, only queues them and never blocks. Every control
 * task is guarded: an unexpected exception is logged at ERROR and its chain (renewal, re-acquisition, watch, listing)
 * rescheduled. {@link #close()} keeps the lease. Every part logs under this class's logger name.
 */
public final class EtcdSubnetAllocator implements SubnetAllocator {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);
    /** Warnings about lease keys logged one by one per {@link #KEY_WARNING_INTERVAL}. */
    static final int KEY_WARNING_EXAMPLES = 5;
    /** The interval of the lease key warnings' aggregation. */
    static final Duration KEY_WARNING_INTERVAL = Duration.ofMinutes(1);
    private final EtcdSettings settings;
    private final SubnetRegistry registry;
    private final ControlThread control = new ControlThread();
    /** Whether {@link #close()} ran ({@link #release} stops the control thread before it). */
    private final java.util.concurrent.atomic.AtomicBoolean closing = new java.util.concurrent.atomic.AtomicBoolean();
    /** The futures of {@link #changePublicIp} not completed yet (any thread), failed by {@link #close}. */
    private final Set<CompletableFuture<Lease>> pendingChanges = ConcurrentHashMap.newKeySet();
    private final NetworkConfigWaiter configWaiter;
    private final LeaseAcquirer acquirer;
    private final LeaseKeeper keeper;
    private final PeerWatch watch;
    private final NetworkConfigWatch configWatch;
    private volatile NetworkConfig config;
    private volatile HeldLease acquired;
    private volatile int publicIp;
    private volatile boolean started;

    /**
     * Creates the allocator and its etcd client (connections are opened lazily by the first request).
     *
     * @param settings endpoints, prefix, TLS, auth, timeouts and lease timing
     * @throws IllegalArgumentException if the TLS files cannot be loaded
     */
    public EtcdSubnetAllocator(final EtcdSettings settings) {
        this(settings, registry(settings));
    }

    /** The client: one that follows its TLS files when there are any ({@link ReloadingRegistry}). */
    private static SubnetRegistry registry(final EtcdSettings settings) {
        return settings.caFile().isPresent() || settings.certFile().isPresent() ? ReloadingRegistry.open(settings)
            : new GatewayRegistry(settings);
    }

    /** Creates the allocator on {@code registry}, which it closes on {@link #close()} (tests pass their own). */
    EtcdSubnetAllocator(final EtcdSettings settings, final SubnetRegistry registry) {
        this.settings = settings;
        this.registry = registry;
        this.configWaiter = new NetworkConfigWaiter(settings, registry, this::checkOpen);
        final WarningAggregator keyWarnings = keyWarnings(settings);
        this.acquirer = new LeaseAcquirer(settings, registry, this::checkOpen, keyWarnings);
        final PeerSet peers = new PeerSet(settings.subnetsPrefix());
        this.keeper = new LeaseKeeper(settings, registry, acquirer, control, peers);
        this.watch = new PeerWatch(settings, registry, control, keeper, peers, keyWarnings);
        this.configWatch = new NetworkConfigWatch(settings, registry, control, keeper);
    }

    /**
     * The one aggregator for warnings about lease keys (malformed, unroutable, claimed twice): per minute the first
     * {@value #KEY_WARNING_EXAMPLES} are logged one by one, then one line with the count of the rest.
     */
    static WarningAggregator keyWarnings(final EtcdSettings settings) {
        return new WarningAggregator(LoggerFactory.getLogger(EtcdSubnetAllocator.class), "warnings about lease keys",
            KEY_WARNING_EXAMPLES, KEY_WARNING_INTERVAL, settings.ticker());
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
        return watch.malformed();
    }

    /**
     * Returns how many times the lease watch broke (connection lost, closed by the server) and was reopened.
     *
     * @return the count since creation; compactions are counted in {@link #resyncs()}
     */
    public long watchRestarts() {
        return watch.watchRestarts();
    }

    /**
     * Returns how many renewals of the own etcd lease succeeded.
     *
     * @return the count since creation
     */
    public long renewals() {
        return keeper.renewals();
    }

    /**
     * Returns how many peer leases (watch events or listed keys) were skipped because their PublicIP is not a unicast
     * IPv4 address (e.g. 0.0.0.0 of an IPv6-only vxlan node), is a loopback address or is this host's own PublicIP.
     *
     * @return the count since creation
     */
    public long unroutablePeerLeases() {
        return watch.unroutable();
    }

    /**
     * Returns how many times the watch found its start revision compacted, or etcd's revision gone back below it (data
     * wiped or restored from an older snapshot), and re-listed all leases.
     *
     * @return the count since creation
     */
    public long resyncs() {
        return watch.resyncs();
    }

    /**
     * {@inheritDoc}
     *
     * <p>State {@code not started}, {@code running} or {@code closed}; renewals, watch resets and re-lists as
     * {@link #renewals()}, {@link #watchRestarts()} and {@link #resyncs()}; errors are the etcd requests that failed
     * (timed out, refused, cancelled) plus the skipped malformed and unroutable lease keys
     * ({@link #malformedLeaseEvents()} + {@link #unroutablePeerLeases()}).
     */
    @Override
    public AllocatorStatus status() {
        final String state = control.closed() ? "closed" : started ? "running" : "not started";
        return new AllocatorStatus(settings.endpoints().stream().map(URI::toString).toList(), state, renewals(),
            watchRestarts(), resyncs(),
            registry.failedRequests() + malformedLeaseEvents() + unroutablePeerLeases());
    }

    /**
     * {@inheritDoc}
     *
     * <p>Reads {@code <prefix>/config} through the v3 API. While it is missing, invalid or etcd is unreachable, logs
     * one WARN message per distinct problem (naming the key, the endpoints and what is wrong; when missing, the hint
     * that flannel ≥ 0.18 and overlay read the v3 API and any {@code .../config} key found elsewhere) and retries with
     * capped exponential backoff ({@link EtcdSettings#backoffMin()} doubling to {@link EtcdSettings#backoffMax()}).
     *
     * @throws IllegalStateException if the allocator is closed
     */
    @Override
    public NetworkConfig awaitNetworkConfig() throws InterruptedException {
        final NetworkConfig c = configWaiter.await();
        config = c;
        return c;
    }

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
        return acquire(LeaseAttrs.udp(publicIp), previousSubnet);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Writes {@code attrs} as the lease value, e.g. with {@code BackendData} holding the public key when encryption
     * is on; a lease this host held before (same PublicIP) is taken over with the new value.
     */
    @Override
    public Lease acquire(final LeaseAttrs attrs, final Optional<Ipv4Prefix> previousSubnet)
        throws InterruptedException {
        final int publicIp = attrs.publicIp();
        checkOpen();
        if (started) {
            throw new IllegalStateException("acquire() after start(): the allocator keeps its lease by itself");
        }
        final NetworkConfig cfg = config != null ? config : awaitNetworkConfig();
        final HeldLease h = acquirer.acquire(cfg, attrs, previousSubnet);
        this.publicIp = publicIp;
        this.acquired = h;
        return h.lease();
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException if {@code lease} is not the one the last {@link #acquire} returned
     * @throws IllegalStateException if already started or closed
     */
    @Override
    public void start(final Lease lease, final LeaseListener listener) {
        checkOpen();
        final HeldLease h = acquired;
        if (h == null || !h.lease().equals(lease)) {
            throw new IllegalArgumentException("start() needs the lease the last acquire() returned, got " + lease);
        }
        if (started) {
            throw new IllegalStateException("start() was already called");
        }
        started = true;
        control.listener(listener);
        final NetworkConfig cfg = config;
        final int ip = publicIp;
        control.execute("renewal scheduling", () -> keeper.start(h, cfg, ip), keeper::retryRenewalLater);
        watch.start();
        configWatch.start(cfg);
    }

    /**
     * {@inheritDoc}
     *
     * <p>On the control thread, one compare-and-swap on the own key: the value is put again with the new PublicIP
     * (everything else as it was, e.g. the public key) only if the key's modRevision is still the one held, on the etcd
     * lease it hangs on, so the key, the subnet and the etcd lease stay; peers see a PUT of that key. A key changed
     * meanwhile is read again and, while it still names this host, the swap is tried again (up to 3 times). From
     * now on peer leases naming the new PublicIP are skipped as this host's own, and a re-acquired lease is written
     * with it.
     *
     * <p>A change etcd fails (unreachable, no answer within the request timeout) stays pending: the future completes
     * exceptionally with that failure, and the allocator tries again by itself with capped backoff
     * ({@link EtcdSettings#backoffMin()} doubling to {@link EtcdSettings#backoffMax()}, one WARN per kind of failure),
     * so that the lease watch and renewals are not stalled behind a request per call. A call for the PublicIP pending
     * joins it without a request of its own (its future completes with the next attempt); a call for another
     * PublicIP supersedes it (the earlier futures complete exceptionally). Futures still pending when the allocator
     * closes complete exceptionally ({@code IllegalStateException}: the allocator is closed).
     *
     * @throws IllegalStateException if the allocator is not started or is closed
     */
    @Override
    public CompletableFuture<Lease> changePublicIp(final int ip) {
        checkOpen();
        if (!started) {
            throw new IllegalStateException("changePublicIp() before start(): acquire with the new PublicIP instead");
        }
        // a new PublicIP is a host renumbered: the watches' connections may hang on the old address
        registry.refreshWatches();
        final CompletableFuture<Lease> done = new CompletableFuture<>();
        pendingChanges.add(done);
        done.whenComplete((l, e) -> pendingChanges.remove(done));
        control.execute("PublicIP change", () -> keeper.changePublicIp(ip, done),
            () -> done.completeExceptionally(new IllegalStateException("the PublicIP change failed unexpectedly")));
        if (control.closed()) {
            done.completeExceptionally(new IllegalStateException("the etcd subnet allocator is closed"));
        }
        return done;
    }

    /**
     * {@inheritDoc}
     *
     * <p>{@code true}: after the first listing's peers, {@link LeaseListener#peersListed()} is called once.
     */
    @Override
    public boolean reportsPeersListed() {
        return true;
    }

    /**
     * {@inheritDoc}
     *
     * <p>Deletes the key only if {@link #acquire} created it (a new allocation: a key taken up again or taken over
     * existed before and stays, as does a reservation) and only while it is exactly what {@link #acquire} wrote (same
     * modRevision), then revokes its etcd lease (best effort). A failure is logged: the key then expires with its etcd
     * lease.
     */
    @Override
    public void release(final Lease lease) {
        final HeldLease h = acquired;
        if (control.closed() || h == null || !h.lease().equals(lease) || h.leaseId() == 0 || !acquirer.created(h)) {
            return;
        }
        // First stop reacting: the lease keeper would take the deleted key for a lost lease and create it again.
        control.stopControl();
        try {
            if (registry.deleteIfUnchanged(h.key(), h.modRevision())) {
                registry.revoke(h.leaseId());
                LOG.info("Released lease {} (key {} deleted): this agent stopped before it recorded the subnet in "
                    + "subnet.env, so a later start could not tell the lease from another host's", lease.subnet(),
                    h.key());
            } else {
                LOG.info("Not releasing lease {}: key {} changed since it was acquired", lease.subnet(), h.key());
            }
        } catch (RuntimeException e) {
            LOG.warn("Releasing lease {} (key {}) failed: {}; it expires with its etcd lease", lease.subnet(), h.key(),
                e.getMessage());
        }
    }

    private void checkOpen() {
        if (control.closed()) {
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
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        control.stopControl(); // again after release(): a no-op
        // the control thread is gone: nothing would complete a change still waiting for its next attempt
        final IllegalStateException closed = new IllegalStateException("the etcd subnet allocator is closed");
        pendingChanges.forEach(f -> f.completeExceptionally(closed));
        watch.close();
        configWatch.close();
        registry.close();
    }
}
