// Longer than ~400 lines: about 350 lines of code; the rest is the Javadoc of the lease-following rules (lost,
// re-acquired with backoff, what subnet.env may name while not ready), which belong beside the code they govern.
package io.overlay.core;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.RouteChanges;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.spi.PeerChange;
import io.overlay.core.spi.TunDeviceGoneException;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The allocator's {@link LeaseListener}: follows peers' leases into the route table and this host's lease into the
 * engine and the host, decides readiness, then tells the user's listener.
 *
 * <p>Peer changes are applied to the {@link RouteTable} at once, on the allocator's thread, one snapshot per batch
 * ({@link #peersChanged}), so an event crosses no thread of the overlay's before the packet loops route with it.
 * Everything else (logging, the own lease, host re-configuration, readiness, listener calls) is handed to the
 * {@link EventThread} and handled there in order, so the allocator's thread never waits for netlink or file I/O.
 *
 * <p>Ready means: the engine forwards for the current lease (host and engine configured) and the peers present at start
 * are routed ({@link #peersListed}); {@code subnet.env} is written at that moment, at start and after every re-acquired
 * lease. Once written, it is brought up to date as soon as a re-acquired lease with another subnet is applied, also
 * while something else holds readiness back (where it exists; the lease file always): it must never name a subnet the
 * host no longer forwards for (another host may hold it, and the next start takes it as the evidence that this host's
 * lease is its own). A lost lease stops delivery and readiness until it is re-acquired; a re-acquired one is applied
 * again with capped exponential backoff, and a newer lease event supersedes a pending retry (the generation check). A
 * failure before the overlay was ready once fails {@link Overlay#start()} instead. The behaviour is described for users
 * in {@link Overlay}'s class documentation; flanneld instead exits when its lease is revoked ({@code
 * docs/flannel-compatibility.md#lease-ttl-and-renewal}).
 */
final class LeaseFollower implements LeaseListener {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);
    /** The start of the not-ready reason while the registry's network config needs a restart. */
    static final String CONFIG_CHANGED = "network config changed: ";
    /** Beyond this many doublings the delay is the cap anyway; avoids shifting past 63 bits. */
    private static final int MAX_DOUBLINGS = 20;
    /**
     * Batches up to this size (watch events) are logged one INFO line per change; larger ones (a listing, a re-list
     * after compaction) as one summary line, each change at DEBUG.
     */
    static final int LOGGED_ONE_BY_ONE = 100;

    private final OverlayConfig config;
    private final EventThread events;
    private final Readiness readiness;
    private final RouteTable routes;
    private final int port;
    private final HostConfigurator host;
    private final PacketEngine engine;
    private final AtomicReference<Lease> lease;
    private final Supplier<OverlayStatus> status;
    private final CompletableFuture<Void> firstReady;
    /** Bumped by every leaseLost/leaseReacquired; a pending retry of an older one gives up (event thread only). */
    private int generation;
    /** Whether host and engine are configured for the current lease; start() did it for the first (event thread). */
    private boolean applied = true;
    /** Whether the peers present at start are routed (event thread only). */
    private boolean listed;
    /**
     * Why the registry's network config needs a restart of this host, or null when it is the running one (event
     * thread only): while set, the overlay is not ready whatever else happens.
     */
    private String configChanged;
    /**
     * Why the underlay cannot carry this host's traffic ({@link UnderlayWatch}: its address is gone, or moving), or
     * null when it can (event thread only): while set, the overlay is not ready whatever else happens.
     */
    private String underlayProblem;
    /**
     * Why restoring the host set-up (TUN, bridge) failed at the last check, or null (event thread only): while set,
     * the overlay is not ready.
     */
    private String hostProblem;
    /** Why the overlay cannot go on in this process (its TUN device was deleted), or null; final once set. */
    private String failure;
    /** The subnet {@code subnet.env} last named, or null before the first write (written on the event thread). */
    private volatile Ipv4Prefix written;
    /** The subnet an earlier run's {@code subnet.env} or lease file named, or null. */
    private final Ipv4Prefix named;
    /** Guards the three flags below: a lease is either named by a file or given back, never both. */
    private final Object recordLock = new Object();
    /** A file names a lease of this overlay (or, with no file configured, the first write finished) (guarded). */
    private boolean recorded;
    /** The first write of the files is running (guarded). */
    private boolean recording;
    /** close() gives the lease back: no file may name it from now on (guarded). */
    private boolean givenBack;

    /**
     * Creates the follower of a started overlay, whose host and engine are configured for the current lease.
     *
     * @param config the overlay's config (retry backoff)
     * @param events the event thread every event is handled on
     * @param readiness the overlay's readiness
     * @param routes the route table peers' leases go into
     * @param port the backend's UDP port, the same on every host
     * @param host applies a re-acquired lease to the host and writes {@code subnet.env}
     * @param engine the running engine
     * @param lease the current lease, which {@link Overlay#status()} reports; written here on the event thread
     * @param status the overlay's status, for the ready event
     * @param firstReady completed when the overlay is ready the first time, or exceptionally when getting there fails
     * @param named the subnet an earlier run's {@code subnet.env} or lease file names, or null: those files follow a
     *     re-acquired lease that moves before this run's first ready, as this run's own files do after it
     */
    LeaseFollower(final OverlayConfig config, final EventThread events, final Readiness readiness,
                  final RouteTable routes, final int port, final HostConfigurator host, final PacketEngine engine,
                  final AtomicReference<Lease> lease, final Supplier<OverlayStatus> status,
                  final CompletableFuture<Void> firstReady, final Ipv4Prefix named) {
        this.config = config;
        this.events = events;
        this.readiness = readiness;
        this.routes = routes;
        this.port = port;
        this.host = host;
        this.engine = engine;
        this.lease = lease;
        this.status = status;
        this.firstReady = firstReady;
        this.named = named;
    }

    /**
     * For close(): returns whether no file names a lease of this overlay and none is being written, so that the lease
     * may be given back, and from then on writes none. A file counts as soon as it is written, also when the next one
     * then fails ({@code subnet.env} is written before the lease file); a write still running on the event thread
     * counts too (it may name the lease a moment later).
     *
     * @return {@code true} when no file names, or will name, a lease of this overlay; safe from any thread
     */
    boolean giveBackUnrecorded() {
        synchronized (recordLock) {
            givenBack = !recorded && !recording;
            return givenBack;
        }
    }

    /**
     * Event thread: writes the files for {@code l} (or, with {@code update}, brings those that exist up to date)
     * unless close() gives the lease back; returns whether it did.
     */
    private boolean record(final Lease l, final boolean update) throws IOException {
        synchronized (recordLock) {
            if (givenBack) {
                return false;
            }
            recording = true;
        }
        boolean done = false;
        try {
            if (update) {
                host.updateSubnetEnv(l, this::named);
            } else {
                host.writeSubnetEnv(l, this::named);
            }
            done = !update; // a first write counts also with no file configured; an update by the files it wrote
        } finally {
            synchronized (recordLock) {
                recording = false;
                recorded |= done;
            }
        }
        return true;
    }

    /** Event thread: a file names the lease now. */
    private void named() {
        synchronized (recordLock) {
            recorded = true;
        }
    }

    @Override
    public void leaseRenewed(final Lease l) {
        events.post(() -> {
            if (lease.get() != null) {
                lease.set(l);
            }
            events.tell(x -> x.leaseRenewed(l));
        });
    }

    @Override
    public void leaseLost(final Lease l) {
        events.post(() -> {
            generation++;
            applied = false;
            lease.set(null);
            engine.localSubnet(null);
            LOG.warn("Lease {} lost; delivering nothing for it (inbound datagrams dropped as {}), not ready, "
                + "re-acquiring", l.subnet(), DropReason.FOREIGN_DESTINATION);
            events.tell(x -> x.leaseLost(l));
            becomeNotReady("lease " + l.subnet() + " lost; re-acquiring");
        });
    }

    @Override
    public void leaseReacquired(final Lease previous, final Lease current) {
        events.post(() -> {
            generation++;
            applied = false;
            lease.set(current);
            if (previous.subnet().equals(current.subnet())) {
                LOG.info("Lease {} re-acquired; reconfiguring", current.subnet());
            } else {
                LOG.warn("Subnet changed from {} to {}; reconfiguring", previous.subnet(), current.subnet());
            }
            events.tell(x -> x.leaseReacquired(previous, current));
            if (written == null) {
                // not ready yet in this run: an earlier run's files still name a subnet, and must follow the lease too
                written = named;
            }
            settle(generation, 1);
        });
    }

    /**
     * Allocator's thread: applies the batch to the route table as one snapshot, then hands logging and the listener
     * call to the event thread. Ignored once the overlay is closed.
     */
    @Override
    public void peersChanged(final List<PeerChange> changes) {
        if (readiness.closed() || changes.isEmpty()) {
            return;
        }
        final long t0 = System.nanoTime();
        final RouteChanges batch = new RouteChanges(changes.size());
        for (PeerChange c : changes) {
            if (c.kind() == PeerChange.Kind.REMOVED) {
                batch.remove(c.subnet());
            } else {
                batch.put(c.subnet(), c.current().peer(port));
            }
        }
        routes.apply(batch);
        final long micros = (System.nanoTime() - t0) / 1000;
        final int size = routes.size();
        events.post(() -> {
            log(changes, size, micros);
            events.tell(x -> x.peersChanged(changes));
        });
    }

    /**
     * The registry's network config differs from the running one in a way only a restart applies: not ready, with
     * the differences as the reason, until it is changed back (or the host restarted). Peers keep being routed: the
     * data path still works for every host that runs the old config.
     */
    @Override
    public void networkConfigChanged(final NetworkConfig running, final NetworkConfig stored,
                                     final List<String> restartNeeded) {
        events.post(() -> {
            if (restartNeeded.isEmpty()) {
                final boolean was = configChanged != null;
                configChanged = null;
                if (was && lease.get() != null && applied && listed
                    && readiness.current().reason().startsWith(CONFIG_CHANGED)) {
                    settle(generation, 1); // writes subnet.env as it becomes ready, with settle's retries
                }
            } else {
                configChanged = CONFIG_CHANGED + String.join("; ", restartNeeded) + "; restart needed";
                becomeNotReady(configChanged);
            }
        });
    }

    /**
     * Event thread ({@link UnderlayWatch}): the underlay cannot carry this host's traffic, for {@code problem}; or,
     * with {@code null}, it can again, and the overlay is ready again if nothing else keeps it from being so
     * ({@code subnet.env} is written as it becomes ready, with the retries of {@link #settle}).
     *
     * @param problem the not-ready reason, or {@code null} when the underlay is fine
     */
    void underlay(final String problem) {
        final boolean was = underlayProblem != null;
        underlayProblem = problem;
        if (problem != null) {
            becomeNotReady(problem);
        } else if (was && lease.get() != null && applied && listed) {
            settle(generation, 1);
        }
    }

    @Override
    public void peerAdded(final Lease l) {
        peersChanged(List.of(PeerChange.added(l)));
    }

    @Override
    public void peerChanged(final Lease previous, final Lease current) {
        peersChanged(List.of(PeerChange.changed(previous, current)));
    }

    @Override
    public void peerRemoved(final Lease l) {
        peersChanged(List.of(PeerChange.removed(l)));
    }

    /**
     * The peers present at start are routed (they were applied on the calling thread before this call). Their count
     * is taken here: by the time the event thread logs it, the allocator may have applied a watch event too, which
     * its own line names.
     */
    @Override
    public void peersListed() {
        final int routed = routes.size();
        events.post(() -> {
            if (!listed) {
                listed = true;
                LOG.info("Routed the {} peers listed at start", routed);
            }
            events.tell(LeaseListener::peersListed);
            settle(generation, 1);
        });
    }

    /**
     * Event thread, every host check interval once the overlay was ready: puts back what someone else changed of the
     * TUN device and the bridge ({@link HostConfigurator#restoreIfChanged}). A part that cannot be restored keeps the
     * overlay not ready, naming it, until a later check succeeds; a deleted TUN device makes it not ready for good and
     * is reported as {@link OverlayListener#failed}. Skipped while the lease is lost or being applied (then
     * {@link #settle} configures everything anyway).
     */
    void checkHost() {
        final Lease l = lease.get();
        if (readiness.closed() || l == null || !applied || failure != null) {
            return;
        }
        try {
            final boolean restored = host.restoreIfChanged(l);
            if (hostProblem != null) {
                LOG.info("Host set-up for {} in place again", l.subnet());
                hostProblem = null;
                if (listed) {
                    settle(generation, 1);
                }
            } else if (restored) {
                LOG.info("Host set-up for {} restored", l.subnet());
            }
        } catch (TunDeviceGoneException e) {
            failure = e.getMessage() + "; restart needed";
            LOG.error("{}; this agent cannot forward any more and must be restarted (the lease is kept, so the next "
                + "start gets the same subnet)", e.getMessage());
            becomeNotReady(failure);
            final String reason = failure;
            events.tell(x -> x.failed(reason));
        } catch (IOException | RuntimeException e) {
            final String why = "restoring the host set-up failed: " + e.getMessage();
            if (!why.equals(hostProblem)) {
                LOG.error("Restoring the host set-up for {} failed (checking again every {} s): {}", l.subnet(),
                    config.hostCheck().toSeconds(), e.getMessage());
            }
            hostProblem = why;
            becomeNotReady(why);
        }
    }

    /** Event thread: small batches one line per change, as flanneld logs; large ones (a listing) as one line. */
    private static void log(final List<PeerChange> changes, final int size, final long micros) {
        final boolean each = changes.size() <= LOGGED_ONE_BY_ONE;
        final boolean lines = each || LOG.isDebugEnabled();
        int added = 0;
        int changed = 0;
        int removed = 0;
        for (PeerChange c : changes) {
            switch (c.kind()) {
                case ADDED -> added++;
                case CHANGED -> changed++;
                default -> removed++;
            }
            if (!lines) {
                continue; // a large batch at INFO: only the summary, no strings built per change
            }
            final String line = switch (c.kind()) {
                case ADDED -> "Subnet added: " + c.subnet() + " via " + Ipv4.format(c.current().attrs().publicIp());
                case CHANGED -> "Subnet changed: " + c.subnet() + " now via "
                    + Ipv4.format(c.current().attrs().publicIp());
                default -> "Subnet removed: " + c.subnet();
            };
            if (each) {
                LOG.info("{}", line);
            } else {
                LOG.debug("{}", line);
            }
        }
        if (!each) {
            LOG.info("Peers: {} added, {} changed, {} removed in one batch ({} routes, applied in {} us)", added,
                changed, removed, size, micros);
        } else {
            LOG.debug("Routes applied: {} changes in {} us ({} routes)", changes.size(), micros, size);
        }
    }

    /**
     * Event thread: configures host and engine for the current lease if needed; once the peers present at start are
     * routed too, writes {@code subnet.env} and becomes ready. On failure stays not-ready and tries again after the
     * backoff, unless a newer lease event came meanwhile; before the first ready, fails the start instead.
     */
    private void settle(final int gen, final int attempt) {
        final Lease l = lease.get();
        if (gen != generation || readiness.closed() || l == null) {
            return;
        }
        try {
            if (!applied) {
                host.configure(l);
                engine.localSubnet(l.subnet());
                applied = true;
                hostProblem = null; // everything was just configured
            }
            if (written != null && !written.equals(l.subnet())) {
                // the host forwards for l now, ready or not: no file may name the old one
                if (!record(l, true)) {
                    return; // closed: the lease is being given back, and no file may name it
                }
                written = l.subnet();
            }
            if (!listed) {
                readiness.progress("routing the peers' leases");
                return;
            }
            if (attempt > 1) {
                LOG.info("Reconfiguring for subnet {} succeeded on attempt {}", l.subnet(), attempt);
            }
            becomeReady(l);
        } catch (IOException | RuntimeException e) {
            if (!firstReady.isDone()) {
                firstReady.completeExceptionally(e);
                return;
            }
            final long delay = retryDelayMillis(attempt);
            if (attempt == 1) {
                LOG.error("Reconfiguring for subnet {} failed; retrying in {} ms", l.subnet(), delay, e);
            } else {
                LOG.error("Reconfiguring for subnet {} failed again (attempt {}): {}; retrying in {} ms", l.subnet(),
                    attempt, e.getMessage(), delay);
            }
            becomeNotReady("reconfiguring for " + l.subnet() + " failed: " + e.getMessage());
            events.later(() -> settle(gen, attempt + 1), delay);
        }
    }

    /** Backoff before attempt {@code attempt + 1}: the initial delay doubled per attempt, capped. */
    private long retryDelayMillis(final int attempt) {
        final long initial = config.retryInitial().toMillis();
        final long max = config.retryMax().toMillis();
        return attempt > MAX_DOUBLINGS ? max : Math.min(max, initial << (attempt - 1));
    }

    /**
     * Event thread: ready (at start, or again after a re-acquire) unless the network config needs a restart; tells the
     * listener. Either way start() may return: the host forwards for its lease and its peers are routed. subnet.env
     * is written here, only when becoming ready, so a consumer waiting for the file never sees a host that is not.
     *
     * @throws IOException if subnet.env cannot be written (still not ready)
     */
    private void becomeReady(final Lease l) throws IOException {
        final String held = failure != null ? failure : hostProblem != null ? hostProblem
            : configChanged != null ? configChanged : underlayProblem;
        if (held != null) {
            becomeNotReady(held);
            firstReady.complete(null);
            return;
        }
        if (!record(l, false)) {
            return; // closed: the lease is being given back, and no file may name it
        }
        written = l.subnet();
        if (readiness.transition(true, "")) {
            final OverlayStatus s = status.get();
            LOG.info("{}", s.healthLine());
            events.tell(x -> x.ready(s));
        }
        firstReady.complete(null);
    }

    /** Event thread: not ready; tells the listener. */
    private void becomeNotReady(final String reason) {
        if (readiness.transition(false, reason)) {
            events.tell(x -> x.notReady(reason));
        }
    }
}
