package io.overlay.etcd;

import io.overlay.core.WarningAggregator;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.PeerChange;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows {@code <prefix>/subnets} after {@code start} (package-private; control thread only): one listing, then one
 * prefix watch from the listing's revision + 1 that drives both the peers ({@link PeerSet}) and the own key
 * ({@link LeaseKeeper}), as flannel's {@code WatchLeases} does (docs/flannel-compatibility.md#lease-watch).
 *
 * <p>On compaction the keys are listed once and the difference delivered; on a broken watch it is reopened from the
 * last seen revision with capped exponential backoff ({@link EtcdSettings#backoffMin()} doubling to
 * {@link EtcdSettings#backoffMax()}), keeping the last known peers. As a safety net against a watch that went quiet
 * without an error, everything is listed again every {@link EtcdSettings#resyncInterval()}. Watch callbacks arrive on
 * the registry's threads and are handed to the control thread; those of a watch closed meanwhile are dropped.
 *
 * <p>Peer changes reach the listener in batches ({@link LeaseListener#peersChanged}): a listing's (or re-list's)
 * difference is one batch; watch responses queue in an inbox that one control task empties, so responses that arrive
 * while a batch is being applied are taken together as the next batch. A batch is cut before an event of the own key,
 * so the listener hears peer and own-lease events in etcd's order. After the first listing's batch,
 * {@link LeaseListener#peersListed()} is called once.
 */
final class PeerWatch {

    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);

    private final EtcdSettings settings;
    private final SubnetRegistry registry;
    private final ControlThread control;
    private final LeaseKeeper keeper;
    private final PeerSet peers;
    private final WarningAggregator keyWarnings;
    private final AtomicLong malformed = new AtomicLong();
    private final AtomicLong unroutable = new AtomicLong();
    private final AtomicLong watchRestarts = new AtomicLong();
    private final AtomicLong resyncs = new AtomicLong();
    private SubnetRegistry.Watching watching;
    private int watchGen;
    private long lastRevision;
    private long backoffNanos;
    /** Pause before re-listing for a store that looks behind: at once, then backoff while it stays behind. */
    private final BehindBackoff behind;
    private boolean watchFailing;
    private boolean resyncRetrying;
    private boolean listedReported;

    /** Watch responses waiting for the control thread, in arrival order. */
    private record Pending(int gen, List<SubnetRegistry.Event> events, long progressRevision) {
    }

    private final ConcurrentLinkedQueue<Pending> inbox = new ConcurrentLinkedQueue<>();
    /** Whether a control task that empties the inbox is queued and has not started yet. */
    private final AtomicBoolean drainQueued = new AtomicBoolean();

    PeerWatch(final EtcdSettings settings, final SubnetRegistry registry, final ControlThread control,
              final LeaseKeeper keeper, final PeerSet peers, final WarningAggregator keyWarnings) {
        this.settings = settings;
        this.behind = new BehindBackoff(settings);
        this.registry = registry;
        this.control = control;
        this.keeper = keeper;
        this.peers = peers;
        this.keyWarnings = keyWarnings;
    }

    /** Returns how many listed keys or events were skipped as malformed (any thread). */
    long malformed() {
        return malformed.get();
    }

    /** Returns how many peer leases were skipped as not unicast (any thread). */
    long unroutable() {
        return unroutable.get();
    }

    /** Returns how many times the watch broke and was reopened (any thread). */
    long watchRestarts() {
        return watchRestarts.get();
    }

    /** Returns how many times a compacted watch, or a store gone back, led to a re-list (any thread). */
    long resyncs() {
        return resyncs.get();
    }

    /** Lists, delivers the current peers, opens the watch and schedules the periodic re-list. */
    void start() {
        control.execute("initial listing", this::initialListing, this::initialListingLater);
        control.every("periodic re-list", this::periodicResync, settings.resyncInterval().toNanos(),
            this::resyncLater);
        // Summaries of left-out key warnings come within an interval of the burst, not with the next warning.
        control.every("key warning summary", keyWarnings::flush,
            EtcdSubnetAllocator.KEY_WARNING_INTERVAL.toNanos() / 2, () -> { });
    }

    /** Closes the watch (on close, after the control thread stopped). */
    void close() {
        closeWatch();
    }

    private void initialListing() {
        if (control.closed()) {
            return;
        }
        final long t0 = System.nanoTime();
        final SubnetListing listing = listOrRetry("list leases to start watching", this::initialListingLater);
        if (listing == null) {
            return;
        }
        LOG.info("Listed {} leases at revision {} in {} ms", listing.entries().size(), listing.revision(),
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        applyListing(listing);
        openWatch();
    }

    private void initialListingLater() {
        control.later("initial listing", this::initialListing, nextBackoff(), this::initialListingLater);
    }

    /** Delivers the difference between the known peers and a full listing; the own key goes to the keeper first. */
    private void applyListing(final SubnetListing listing) {
        lastRevision = listing.revision();
        final String ownKey = keeper.ownKey();
        final List<SubnetListing.Entry> others = new ArrayList<>(listing.entries().size());
        SubnetListing.Entry ownEntry = null;
        for (SubnetListing.Entry e : listing.entries()) {
            if (e.key().equals(ownKey)) {
                ownEntry = e;
            } else {
                others.add(e);
            }
        }
        keeper.onListed(Optional.ofNullable(ownEntry));
        final List<PeerChange> batch = new ArrayList<>();
        collect(peers.reset(others, keeper.ownSubnet()), batch);
        flush(batch);
        if (!listedReported) {
            listedReported = true;
            control.emit(LeaseListener::peersListed);
        }
    }

    /** Hands the collected peer changes to the listener as one batch, if there are any, and empties the list. */
    private void flush(final List<PeerChange> batch) {
        if (batch.isEmpty()) {
            return;
        }
        final List<PeerChange> changes = List.copyOf(batch);
        batch.clear();
        control.emit(x -> x.peersChanged(changes));
    }

    /** Adds the peer changes to {@code batch}; counts and logs the skipped keys and notes. */
    private void collect(final List<PeerSet.Change> changes, final List<PeerChange> batch) {
        for (PeerSet.Change c : changes) {
            if (c instanceof PeerSet.Added a) {
                batch.add(PeerChange.added(a.lease()));
            } else if (c instanceof PeerSet.Changed ch) {
                batch.add(PeerChange.changed(ch.previous(), ch.current()));
            } else if (c instanceof PeerSet.Removed r) {
                batch.add(PeerChange.removed(r.lease()));
            } else if (c instanceof PeerSet.Skipped s) {
                (s.reason() == PeerSet.Skip.MALFORMED ? malformed : unroutable).incrementAndGet();
                if (s.warning() != null) {
                    keyWarnings.warn(s.warning());
                }
            } else if (c instanceof PeerSet.Note n && n.warn()) {
                keyWarnings.warn(n.message());
            } else if (c instanceof PeerSet.Note n) {
                LOG.debug(n.message());
            }
        }
    }

    private void openWatch() {
        if (control.closed()) {
            return;
        }
        closeWatch();
        final int gen = watchGen;
        watching = registry.watch(settings.subnetsPrefix(), lastRevision + 1, new SubnetRegistry.WatchSink() {
            @Override
            public void onEvents(final List<SubnetRegistry.Event> events, final long progressRevision) {
                inbox.add(new Pending(gen, events, progressRevision));
                if (drainQueued.compareAndSet(false, true)) {
                    // A surprise while applying events may leave the peers half updated: list everything again.
                    control.execute("lease watch events", PeerWatch.this::drainInbox, () -> {
                        closeWatch();
                        resyncLater();
                    });
                }
            }

            @Override
            public void onCompacted(final long compactRevision) {
                onControl(gen, () -> onWatchCompacted(compactRevision));
            }

            @Override
            public void onStoreBehind(final long storeRevision) {
                onControl(gen, () -> onWatchBehind(storeRevision));
            }

            @Override
            public void onError(final Throwable error) {
                onControl(gen, () -> restartWatch("error: " + NetworkConfigWaiter.rootCause(error).getMessage()));
            }

            @Override
            public void onCompleted() {
                onControl(gen, () -> restartWatch("closed by the client library or the server"));
            }
        });
    }

    private void closeWatch() {
        watchGen++;
        if (watching != null) {
            try {
                watching.close();
            } catch (RuntimeException e) {
                LOG.debug("closing watcher", e);
            }
            watching = null;
        }
    }

    /** Hands a watch callback to the control thread; dropped when its watch was closed meanwhile. */
    private void onControl(final int gen, final Runnable r) {
        // A surprise while applying an event may leave the peers half updated: list everything again.
        control.execute("lease watch event", () -> {
            if (gen == watchGen && !control.closed()) {
                r.run();
            }
        }, () -> {
            closeWatch();
            resyncLater();
        });
    }

    /** Control thread: applies every queued watch response of the current watch, peers as one batch. */
    private void drainInbox() {
        drainQueued.set(false); // before polling: a response added from now on queues another task
        final List<PeerChange> batch = new ArrayList<>();
        try {
            for (Pending p = inbox.poll(); p != null; p = inbox.poll()) {
                if (p.gen() == watchGen && !control.closed()) {
                    onWatchEvents(p.events(), p.progressRevision(), batch);
                }
            }
        } finally {
            // PeerSet already holds what was collected: the re-list after a surprise diffs against it, so these
            // changes must reach the listener now or never.
            flush(batch);
        }
    }

    private void onWatchEvents(final List<SubnetRegistry.Event> events, final long progressRevision,
                               final List<PeerChange> batch) {
        if (watchFailing) {
            LOG.info("Lease watch resumed at revision {}", lastRevision + 1);
            watchFailing = false;
        }
        backoffNanos = 0;
        behind.reset();
        for (SubnetRegistry.Event ev : events) {
            lastRevision = Math.max(lastRevision, ev.modRevision());
            final boolean own = ev.key().equals(keeper.ownKey());
            if (ev.put()) {
                final SubnetListing.Entry e = SubnetListing.Entry.parse(settings.subnetsPrefix(), ev.key(),
                    ev.value(), ev.leaseId(), ev.modRevision(), ev.createRevision());
                if (own) {
                    flush(batch);
                    keeper.onWatchedPut(e);
                } else {
                    collect(peers.put(e, keeper.ownSubnet(), keeper.ownKey()), batch);
                }
            } else if (own) {
                flush(batch);
                keeper.onWatchedDelete(ev.modRevision());
            } else {
                collect(peers.delete(ev.key()), batch);
            }
        }
        lastRevision = Math.max(lastRevision, progressRevision);
    }

    private void onWatchCompacted(final long compactRevision) {
        resyncs.incrementAndGet();
        LOG.warn("Lease watch from revision {} was compacted (compact revision {}); listing all leases once",
            lastRevision + 1, compactRevision);
        closeWatch();
        resync();
    }

    private void onWatchBehind(final long storeRevision) {
        resyncs.incrementAndGet();
        closeWatch();
        final long delay = behind.onBehind();
        if (delay == 0) {
            // WARN whatever the gap: a wipe of a young cluster or a restore from a recent snapshot can be a few
            // revisions; a member lagging the one the listing came from shows the same, rarely, and costs one listing
            LOG.warn("etcd's revision went back from {} to {}: its data was wiped or restored from an older snapshot, "
                + "or this member lags the one the last listing came from; listing all leases again (this host's key "
                + "is re-acquired if it is gone)", lastRevision, storeRevision);
            resync();
        } else {
            LOG.info("etcd's revision is still behind ({} < {}); listing again in {} ms", storeRevision, lastRevision,
                TimeUnit.NANOSECONDS.toMillis(delay));
            resyncRetrying = true;
            control.later("re-list", this::resync, delay, this::resyncLater);
        }
    }

    private void restartWatch(final String why) {
        closeWatch();
        watchRestarts.incrementAndGet();
        final long delay = nextBackoff();
        if (!watchFailing) {
            LOG.warn("Lease watch broke ({}); reopening from revision {} with backoff up to {}; keeping the last "
                + "known peers", why, lastRevision + 1, settings.backoffMax());
            watchFailing = true;
        } else {
            LOG.debug("Lease watch broke again ({}); next try in {} ms", why, TimeUnit.NANOSECONDS.toMillis(delay));
        }
        control.later("watch reopening", this::openWatch, delay, () -> restartWatch("unexpected error reopening it"));
    }

    /**
     * Lists every lease, or logs why it could not ("Cannot {@code what}: ...; retrying") and schedules {@code retry}.
     *
     * @return the listing, or {@code null} when etcd did not answer (the retry is scheduled)
     */
    private SubnetListing listOrRetry(final String what, final Runnable retry) {
        try {
            return registry.list(settings.subnetsPrefix());
        } catch (EtcdUnavailableException e) {
            LOG.warn("Cannot {}: {}; retrying", what, e.getMessage());
            retry.run();
            return null;
        }
    }

    private void resync() {
        resyncRetrying = false;
        if (control.closed()) {
            return;
        }
        final SubnetListing listing = listOrRetry("re-list leases", this::resyncLater);
        if (listing == null) {
            return;
        }
        backoffNanos = 0;
        applyListing(listing);
        openWatch();
    }

    private void resyncLater() {
        resyncRetrying = true;
        control.later("re-list", this::resync, nextBackoff(), this::resyncLater);
    }

    /** The safety net: list everything, deliver the difference, reopen the watch from the listing's revision. */
    private void periodicResync() {
        if (control.closed() || resyncRetrying) {
            return;
        }
        LOG.debug("Periodic re-list of all leases (every {})", settings.resyncInterval());
        closeWatch();
        resync();
    }

    private long nextBackoff() {
        backoffNanos = backoffNanos == 0 ? settings.backoffMin().toNanos()
            : Math.min(backoffNanos * 2, settings.backoffMax().toNanos());
        return backoffNanos;
    }
}
