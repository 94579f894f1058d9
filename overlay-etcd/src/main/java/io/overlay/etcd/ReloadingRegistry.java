package io.overlay.etcd;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link SubnetRegistry} that follows its TLS files (package-private): operators rotate etcd client certificates
 * (cert-manager, a yearly renewal, a CA roll-over) by replacing the files at the same paths, and flanneld, which reads
 * them once ({@code newTlsConfig} in {@code pkg/subnet/etcd/registry.go}), must be restarted, or cannot reach
 * etcd once the old certificate expires.
 *
 * <p>Every {@link #CHECK_INTERVAL} a thread of its own ({@code overlay-etcd-credentials}) stats the files (device,
 * inode, modification time, size: {@link TlsCredentials.Stamp}); after a change has stayed put for {@link #SETTLE}
 * (files replaced one by one are taken together) it reads and checks them ({@link TlsCredentials}), builds a new
 * client from those bytes and asks etcd once for the network config key with it. Only when that succeeds is the new
 * client swapped in:
 *
 * <ul>
 *   <li>requests from then on go to it; requests under way finish on the old client, which is closed one request
 *       timeout later;</li>
 *   <li>every open watch is ended with {@link SubnetRegistry.WatchSink#onError}, so {@link PeerWatch} and
 *       {@link NetworkConfigWatch} reopen it on the new client from the last revision they saw, as after any broken
 *       connection; renewals simply use the new client. No second recovery path.</li>
 * </ul>
 *
 * <p>Files that cannot be used (half written, a key that is not the certificate's, an expired certificate) are logged
 * at ERROR naming the file and the problem, once per change; new files etcd refuses (not yet trusted: the etcd
 * restart of a CA roll-over has not happened yet) at WARN, once per change; either way the client in use stays and the
 * files are tried again at every check. User name and password are not reloaded (they are options, not files).
 */
final class ReloadingRegistry implements SubnetRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);
    /** How often the files are looked at (three stat calls). */
    static final Duration CHECK_INTERVAL = Duration.ofSeconds(5);
    /** How long a change must stay put before the files are read. */
    static final Duration SETTLE = Duration.ofSeconds(1);

    private final EtcdSettings settings;
    private final Function<TlsCredentials, SubnetRegistry> clients;
    private final ScheduledExecutorService checker;
    private final Object lock = new Object();
    private volatile SubnetRegistry current;
    /** Open watches on {@link #current} (guarded by {@link #lock}). */
    private final Set<Tracked> watches = new HashSet<>();
    /** Replaced clients waiting to be closed; their failed requests still count. */
    private final List<SubnetRegistry> retiring = new CopyOnWriteArrayList<>();
    private final AtomicLong retiredFailures = new AtomicLong();
    private volatile boolean closed;

    // The checker thread's own state.
    private TlsCredentials.Stamp loaded;
    private TlsCredentials.Stamp seen;
    /** The stamp and kind of the last problem logged at WARN or ERROR, so that each is logged once per change. */
    private String logged;

    /**
     * Reads the TLS files, creates the client and starts following the files.
     *
     * @param settings settings naming at least one TLS file
     * @return the registry
     * @throws IllegalArgumentException if the files cannot be used
     */
    static ReloadingRegistry open(final EtcdSettings settings) {
        return new ReloadingRegistry(settings, tls -> new GatewayRegistry(settings, tls));
    }

    ReloadingRegistry(final EtcdSettings settings, final Function<TlsCredentials, SubnetRegistry> clients) {
        this.settings = settings;
        this.clients = clients;
        this.loaded = TlsCredentials.Stamp.of(settings);
        this.seen = loaded;
        this.current = clients.apply(TlsCredentials.loadAtStart(settings));
        this.checker = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, "overlay-etcd-credentials");
            t.setDaemon(true);
            return t;
        });
        checker.scheduleWithFixedDelay(this::checkGuarded, CHECK_INTERVAL.toNanos(), CHECK_INTERVAL.toNanos(),
            TimeUnit.NANOSECONDS);
    }

    private void checkGuarded() {
        try {
            check();
        } catch (RuntimeException e) {
            LOG.error("Unexpected error checking the etcd TLS files; trying again in {}", CHECK_INTERVAL, e);
        }
    }

    /** Checker thread: looks at the files and swaps in a client made from them when they changed and work. */
    private void check() {
        final TlsCredentials.Stamp now = TlsCredentials.Stamp.of(settings);
        if (now.equals(loaded)) {
            if (logged != null) {
                LOG.info("etcd TLS files are back to the ones in use");
                logged = null;
            }
            seen = now;
            return;
        }
        if (!now.equals(seen)) {
            seen = now; // changing: look again once it has stayed put
            schedule(SETTLE);
            return;
        }
        final TlsCredentials next;
        try {
            next = TlsCredentials.load(settings, Instant.now());
        } catch (TlsCredentials.InvalidException e) {
            problem(now, "invalid", true, e.getMessage());
            return;
        }
        if (!TlsCredentials.Stamp.of(settings).equals(now)) {
            seen = null; // replaced while being read: read again once it stays put
            schedule(SETTLE);
            return;
        }
        if (next.timeProblem().isPresent()) {
            problem(now, "dates", true, next.timeProblem().get());
            return;
        }
        final SubnetRegistry candidate;
        try {
            candidate = clients.apply(next);
        } catch (IllegalArgumentException e) {
            problem(now, "client", true, "cannot set up TLS from the new files: " + e.getMessage());
            return;
        }
        try {
            candidate.read(settings.configKey());
        } catch (EtcdUnavailableException e) {
            candidate.close();
            if (closed) {
                return;
            }
            problem(now, "refused", false, "etcd does not accept the new TLS files (" + files() + ", " + next
                + ") yet: " + e.getMessage());
            return;
        }
        if (swap(candidate)) {
            loaded = now;
            logged = null;
            LOG.info("Reloaded etcd client credentials from {} ({}): requests use them from now on, the watches "
                + "reopen on the new connection", files(), next);
        }
    }

    /** Logs a problem with changed files at ERROR (or WARN), once per change and kind; DEBUG when repeated. */
    private void problem(final TlsCredentials.Stamp stamp, final String kind, final boolean error,
                         final String message) {
        final String key = stamp + kind;
        if (key.equals(logged)) {
            LOG.debug("etcd TLS files still not taken: {}", message);
            return;
        }
        logged = key;
        final String text = "etcd TLS files changed but not taken: {}; keeping the credentials in use and trying the "
            + "files again every {}";
        if (error) {
            LOG.error(text, message, CHECK_INTERVAL);
        } else {
            LOG.warn(text, message, CHECK_INTERVAL);
        }
    }

    private String files() {
        final List<String> out = new ArrayList<>();
        settings.caFile().ifPresent(f -> out.add("CA " + f));
        settings.certFile().ifPresent(f -> out.add("certificate " + f));
        settings.keyFile().ifPresent(f -> out.add("key " + f));
        return String.join(", ", out);
    }

    private void schedule(final Duration delay) {
        try {
            checker.schedule(this::checkGuarded, delay.toNanos(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    /**
     * Makes {@code next} the client, ends the watches on the old one (their owners reopen them on the new one) and
     * closes the old client one request timeout later.
     *
     * @return false if closed meanwhile ({@code next} is closed)
     */
    private boolean swap(final SubnetRegistry next) {
        final SubnetRegistry old;
        final List<Tracked> open;
        synchronized (lock) {
            if (closed) {
                next.close();
                return false;
            }
            old = current;
            current = next;
            open = new ArrayList<>(watches);
            watches.clear();
        }
        for (Tracked w : open) {
            w.end(new EtcdUnavailableException("the etcd client was rebuilt with reloaded TLS files", null));
        }
        retiring.add(old);
        try {
            checker.schedule(() -> retire(old), settings.requestTimeout().plusSeconds(1).toNanos(),
                TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            retire(old);
        }
        return true;
    }

    private void retire(final SubnetRegistry old) {
        if (retiring.remove(old)) {
            retiredFailures.addAndGet(old.failedRequests());
            old.close();
        }
    }

    /** A watch on some client: ended by its owner, by a terminal callback, or by a swap. */
    private final class Tracked implements Watching, WatchSink {
        private final WatchSink sink;
        private final AtomicBoolean over = new AtomicBoolean();
        private Watching inner;

        Tracked(final WatchSink sink) {
            this.sink = sink;
        }

        /**
         * Ends the watch as a broken connection would: the owner reopens it (on the new client). Whatever the old
         * watch still reports after this is dropped, so the owner hears this reason.
         */
        void end(final Throwable why) {
            if (over.compareAndSet(false, true)) {
                sink.onError(why);
                inner.close();
            }
        }

        /** Marks the watch over; returns whether it was not over before. */
        private boolean finished() {
            synchronized (lock) {
                watches.remove(this);
            }
            return over.compareAndSet(false, true);
        }

        @Override
        public void close() {
            finished();
            inner.close();
        }

        @Override
        public void onEvents(final List<Event> events, final long progressRevision) {
            sink.onEvents(events, progressRevision);
        }

        @Override
        public void onCompacted(final long compactRevision) {
            if (finished()) {
                sink.onCompacted(compactRevision);
            }
        }

        @Override
        public void onStoreBehind(final long storeRevision) {
            if (!over.get()) {
                sink.onStoreBehind(storeRevision);
            }
        }

        @Override
        public void onError(final Throwable error) {
            if (finished()) {
                sink.onError(error);
            }
        }

        @Override
        public void onCompleted() {
            if (finished()) {
                sink.onCompleted();
            }
        }
    }

    @Override
    public Watching watch(final String prefix, final long fromRevision, final WatchSink sink) {
        final Tracked t = new Tracked(sink);
        synchronized (lock) {
            watches.add(t);
            try {
                // never blocks on the network; under the lock so that a swap cannot miss a watch being opened
                t.inner = current.watch(prefix, fromRevision, t);
            } catch (RuntimeException e) {
                watches.remove(t);
                throw e;
            }
        }
        return t;
    }

    @Override
    public void refreshWatches() {
        current.refreshWatches();
    }

    @Override
    public Read read(final String key) {
        return current.read(key);
    }

    @Override
    public SubnetListing list(final String prefix) {
        return current.list(prefix);
    }

    @Override
    public List<String> keys(final String prefix, final int limit) {
        return current.keys(prefix, limit);
    }

    @Override
    public Granted grant(final long ttlSeconds) {
        return current.grant(ttlSeconds);
    }

    @Override
    public void revoke(final long leaseId) {
        current.revoke(leaseId);
    }

    @Override
    public Optional<Long> createIfAbsent(final String key, final byte[] value, final long leaseId) {
        return current.createIfAbsent(key, value, leaseId);
    }

    @Override
    public Optional<Long> putIfUnchanged(final String key, final byte[] value, final long leaseId,
                                         final long modRevision) {
        return current.putIfUnchanged(key, value, leaseId, modRevision);
    }

    @Override
    public boolean deleteIfUnchanged(final String key, final long modRevision) {
        return current.deleteIfUnchanged(key, modRevision);
    }

    @Override
    public long keepAliveOnce(final long leaseId) throws LeaseGoneException {
        return current.keepAliveOnce(leaseId);
    }

    @Override
    public LeaseInfo timeToLive(final long leaseId, final boolean withKeys) {
        return current.timeToLive(leaseId, withKeys);
    }

    @Override
    public long failedRequests() {
        long n = retiredFailures.get() + current.failedRequests();
        for (SubnetRegistry r : retiring) {
            n += r.failedRequests();
        }
        return n;
    }

    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
        }
        checker.shutdownNow();
        try {
            checker.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (SubnetRegistry r : retiring) {
            retire(r);
        }
        current.close();
    }
}
