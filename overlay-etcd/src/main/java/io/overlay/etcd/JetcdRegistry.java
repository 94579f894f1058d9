// Longer than ~400 lines because it is, by design, the only file that imports jetcd: every etcd request and the
// watch are translated here, so no jetcd type leaves it (docs/architecture.md).
package io.overlay.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.ClientBuilder;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.common.exception.ErrorCode;
import io.etcd.jetcd.common.exception.EtcdException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.LeaseOption;
import io.etcd.jetcd.options.OptionsUtil;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;

/**
 * {@link SubnetRegistry} on jetcd: the only class of the module that imports {@code io.etcd.jetcd}, so that jetcd,
 * gRPC and Netty types stay behind it (package-private). Every request blocks for at most the configured request
 * timeout and fails with {@link EtcdUnavailableException}, whose message names the request, the endpoints and the
 * causes jetcd reported. Never called on a jetcd thread; watch callbacks run on jetcd's threads.
 */
final class JetcdRegistry implements SubnetRegistry {
    /** Largest gRPC message accepted from etcd, bytes: 16 MiB. */
    static final int MAX_INBOUND_BYTES = 16 << 20;

    /** Keys per listing request: far below gRPC's message size limit, however many leases there are. */
    static final int LIST_PAGE_SIZE = 5000;

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EtcdSubnetAllocator.class);
    /**
     * Why no endpoint answers (jetcd waits for a ready connection, so a refused connection shows only as a timeout).
     * A member removed from the cluster shuts down (etcd 3.4, {@code etcdserver/server.go}); jetcd, like flanneld's
     * client, only ever uses the endpoints it was given, so an endpoint list naming only removed or moved members
     * never works again until the agent is restarted with the members' current client URLs.
     */
    static final String NO_ANSWER_CAUSES = "etcd is down or unreachable, or the endpoints are no longer an etcd "
        + "member (removed, or moved to another URL: compare with etcdctl member list; --etcd-endpoints is read once, "
        + "at start)";
    /** etcd's {@code ErrAuthFailed} (etcdserver/api/v3rpc/rpctypes/error.go, v3.4). */
    private static final String AUTH_FAILED = "etcdserver: authentication failed";

    private final Client client;
    /** Builds the KV client's channel ahead of the first request; joined before the client closes. */
    private final Thread channelAhead;
    /** Whether etcd refused the user name and password (ERROR logged once) since the last request that worked. */
    private volatile boolean authRefused;
    /** Whether any request has worked. */
    private volatile boolean answered;
    private final EtcdSettings settings;
    private final long timeoutNanos;
    private final int listPageSize;
    /** Requests that ended in an {@link EtcdUnavailableException} (any thread). */
    private final AtomicLong failedRequests = new AtomicLong();

    /**
     * Creates the client (connections are opened lazily by the first request), reading the TLS files now.
     *
     * @throws IllegalArgumentException if the TLS files cannot be loaded
     */
    JetcdRegistry(final EtcdSettings settings) {
        this(settings, LIST_PAGE_SIZE);
    }

    /** As {@link #JetcdRegistry(EtcdSettings)}, listing {@code listPageSize} keys per request. */
    JetcdRegistry(final EtcdSettings settings, final int listPageSize) {
        this(settings, settings.tls() ? TlsCredentials.loadAtStart(settings) : null, listPageSize);
    }

    /**
     * Creates the client with TLS from {@code tls}, the files' bytes as read and checked (not the paths, which may
     * name newer files by now).
     *
     * @param tls the TLS files' contents; null (or ignored) for http endpoints
     * @throws IllegalArgumentException if Netty cannot load them
     */
    JetcdRegistry(final EtcdSettings settings, final TlsCredentials tls) {
        this(settings, tls, LIST_PAGE_SIZE);
    }

    private JetcdRegistry(final EtcdSettings settings, final TlsCredentials tls, final int listPageSize) {
        this.settings = settings;
        this.listPageSize = listPageSize;
        this.timeoutNanos = settings.requestTimeout().toNanos();
        final ClientBuilder b = Client.builder().endpoints(settings.endpoints().toArray(new URI[0]))
            .connectTimeout(settings.connectTimeout())
            .keepaliveTime(java.time.Duration.ofSeconds(10))
            .keepaliveTimeout(java.time.Duration.ofSeconds(5))
            // etcd refuses pings without an open stream (PermitWithoutStream=false): only ping while a call is open
            .keepaliveWithoutCalls(false)
            // above gRPC's 4 MiB default, as a margin: listings are paged (list) and watch responses are small
            .maxInboundMessageSize(MAX_INBOUND_BYTES);
        if (settings.tls()) {
            java.util.Objects.requireNonNull(tls, "TLS credentials for https:// endpoints");
            try {
                b.sslContext(ssl -> {
                    if (tls.ca() != null) {
                        ssl.trustManager(new ByteArrayInputStream(tls.ca()));
                    }
                    if (tls.cert() != null) {
                        ssl.keyManager(new ByteArrayInputStream(tls.cert()), new ByteArrayInputStream(tls.key()));
                    }
                });
            } catch (SSLException | RuntimeException e) {
                throw new IllegalArgumentException("cannot set up TLS for etcd from " + settings + ": "
                    + e.getMessage(), e);
            }
        }
        if (settings.username().isPresent()) {
            b.user(bytes(settings.username().get())).password(bytes(settings.password().orElse("")));
        }
        this.client = b.build();
        // jetcd builds its gRPC channel (class initialisation, name resolver, Netty bootstrap: ~0.1 s of a start on
        // this repository's test machine, benchmarks/startup-bench.sh) at the first request; built here, it overlaps
        // what the caller does before that request. No I/O: the channel connects at the first request, which also
        // reports any failure to build it.
        channelAhead = new Thread(() -> {
            try {
                client.getKVClient();
            } catch (RuntimeException | LinkageError e) {
                // the first request meets it again and reports it
            }
        }, "etcd-channel");
        channelAhead.setDaemon(true);
        channelAhead.start();
    }

    private static ByteSequence bytes(final String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    @Override
    public Read read(final String key) {
        final GetResponse r = await("get " + key, client.getKVClient().get(bytes(key)));
        final long revision = r.getHeader().getRevision();
        if (r.getKvs().isEmpty()) {
            return new Read(Optional.empty(), revision);
        }
        final KeyValue kv = r.getKvs().get(0);
        return new Read(Optional.of(new Value(kv.getValue().getBytes(), kv.getLease(), kv.getModRevision(),
            revision)), revision);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Read in pages of {@code listPageSize} keys; the pages after the first are read at the first page's revision.
     */
    @Override
    public SubnetListing list(final String prefix) {
        final ByteSequence end = OptionsUtil.prefixEndOf(bytes(prefix));
        final List<SubnetListing.Entry> entries = new ArrayList<>();
        ByteSequence from = bytes(prefix);
        long revision = 0;
        while (true) {
            final GetOption.Builder opt = GetOption.builder().withRange(end).withLimit(listPageSize);
            if (revision != 0) {
                opt.withRevision(revision);
            }
            final GetResponse r = await("list " + prefix, client.getKVClient().get(from, opt.build()));
            if (revision == 0) {
                revision = r.getHeader().getRevision();
            }
            for (KeyValue kv : r.getKvs()) {
                entries.add(SubnetListing.Entry.parse(prefix, kv.getKey().toString(StandardCharsets.UTF_8),
                    kv.getValue().getBytes(), kv.getLease(), kv.getModRevision(), kv.getCreateRevision()));
            }
            if (!r.isMore() || r.getKvs().isEmpty()) {
                return new SubnetListing(revision, List.copyOf(entries));
            }
            // The next page starts just after the last key read (key + one zero byte).
            final byte[] last = r.getKvs().get(r.getKvs().size() - 1).getKey().getBytes();
            from = ByteSequence.from(java.util.Arrays.copyOf(last, last.length + 1));
        }
    }

    @Override
    public List<String> keys(final String prefix, final int limit) {
        final GetResponse r = await("list keys " + prefix, client.getKVClient().get(bytes(prefix),
            GetOption.builder().isPrefix(true).withKeysOnly(true).withLimit(limit).build()));
        final List<String> out = new ArrayList<>();
        for (KeyValue kv : r.getKvs()) {
            out.add(kv.getKey().toString(StandardCharsets.UTF_8));
        }
        return out;
    }

    @Override
    public Granted grant(final long ttlSeconds) {
        final io.etcd.jetcd.lease.LeaseGrantResponse r = await("grant lease of " + ttlSeconds + " s",
            client.getLeaseClient().grant(ttlSeconds));
        return new Granted(r.getID(), r.getTTL());
    }

    @Override
    public void revoke(final long leaseId) {
        client.getLeaseClient().revoke(leaseId).exceptionally(e -> null);
    }

    @Override
    public Optional<Long> createIfAbsent(final String key, final byte[] value, final long leaseId) {
        final ByteSequence k = bytes(key);
        final TxnResponse r = await("create " + key, client.getKVClient().txn()
            .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
            .Then(Op.put(k, ByteSequence.from(value), PutOption.builder().withLeaseId(leaseId).build()))
            .commit());
        return r.isSucceeded() ? Optional.of(r.getHeader().getRevision()) : Optional.empty();
    }

    @Override
    public Optional<Long> putIfUnchanged(final String key, final byte[] value, final long leaseId,
                                         final long modRevision) {
        final ByteSequence k = bytes(key);
        final PutOption opt = leaseId == 0 ? PutOption.DEFAULT : PutOption.builder().withLeaseId(leaseId).build();
        final TxnResponse r = await("update " + key, client.getKVClient().txn()
            .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(modRevision)))
            .Then(Op.put(k, ByteSequence.from(value), opt))
            .commit());
        return r.isSucceeded() ? Optional.of(r.getHeader().getRevision()) : Optional.empty();
    }

    @Override
    public boolean deleteIfUnchanged(final String key, final long modRevision) {
        final ByteSequence k = bytes(key);
        return await("delete " + key, client.getKVClient().txn()
            .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(modRevision)))
            .Then(Op.delete(k, io.etcd.jetcd.options.DeleteOption.DEFAULT))
            .commit()).isSucceeded();
    }

    @Override
    public long keepAliveOnce(final long leaseId) throws LeaseGoneException {
        try {
            final long ttl = await("renew lease " + SubnetRegistry.leaseIdText(leaseId),
                client.getLeaseClient().keepAliveOnce(leaseId)).getTTL();
            if (ttl <= 0) {
                throw new LeaseGoneException(leaseId, null);
            }
            return ttl;
        } catch (EtcdUnavailableException e) {
            if (e.getCause() instanceof EtcdException ee && ee.getErrorCode() == ErrorCode.NOT_FOUND) {
                throw new LeaseGoneException(leaseId, ee);
            }
            throw e;
        }
    }

    @Override
    public LeaseInfo timeToLive(final long leaseId, final boolean withKeys) {
        final io.etcd.jetcd.lease.LeaseTimeToLiveResponse r = await("lease time-to-live " + SubnetRegistry.leaseIdText(leaseId),
            client.getLeaseClient().timeToLive(leaseId,
                withKeys ? LeaseOption.builder().withAttachedKeys().build() : LeaseOption.DEFAULT));
        return new LeaseInfo(r.getTTL(), r.getGrantedTTL(), withKeys ? r.getKeys().size() : 0);
    }

    @Override
    public Watching watch(final String prefix, final long fromRevision, final WatchSink sink) {
        // Created notifications carry the store's revision: one below fromRevision - 1 shows the store went back.
        final WatchOption opt = WatchOption.builder().isPrefix(true).withRevision(fromRevision)
            .withPrevKV(true).withProgressNotify(true).withRequireLeader(true).withCreateNotify(true).build();
        final Watch.Watcher w;
        try {
            w = client.getWatchClient().watch(bytes(prefix), opt,
                Watch.listener(r -> onResponse(r, fromRevision, sink), t -> onError(sink, t), sink::onCompleted));
        } catch (RuntimeException e) {
            sink.onError(e);
            return () -> { };
        }
        return w::close;
    }

    private static void onResponse(final WatchResponse r, final long fromRevision, final WatchSink sink) {
        final long storeRevision = r.getHeader().getRevision();
        if (storeRevision != 0 && storeRevision < fromRevision - 1 && r.getEvents().isEmpty()) {
            sink.onStoreBehind(storeRevision);
        } else if (!r.isCreatedNotify()) {
            sink.onEvents(events(r), progressRevision(r));
        }
    }

    private static List<Event> events(final WatchResponse r) {
        final List<Event> out = new ArrayList<>(r.getEvents().size());
        for (WatchEvent ev : r.getEvents()) {
            final KeyValue kv = ev.getKeyValue();
            final String key = kv.getKey().toString(StandardCharsets.UTF_8);
            if (ev.getEventType() == WatchEvent.EventType.PUT) {
                out.add(new Event(true, key, kv.getValue().getBytes(), kv.getLease(), kv.getModRevision(),
                    kv.getCreateRevision()));
            } else if (ev.getEventType() == WatchEvent.EventType.DELETE) {
                out.add(new Event(false, key, new byte[0], 0, kv.getModRevision(), 0));
            }
        }
        return out;
    }

    private static long progressRevision(final WatchResponse r) {
        return r.getEvents().isEmpty() && r.isProgressNotify() ? r.getHeader().getRevision() : 0;
    }

    private static void onError(final WatchSink sink, final Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof CompactedException ce) {
                sink.onCompacted(ce.getCompactedRevision());
                return;
            }
        }
        sink.onError(t);
    }

    private <T> T await(final String what, final CompletableFuture<T> future) {
        try {
            final T result = awaitOrThrow(what, future);
            answered = true;
            if (authRefused) {
                authRefused = false;
                LOG.info("etcd accepts the user name and password of {} again", settings.username().orElse("?"));
            }
            return result;
        } catch (EtcdUnavailableException e) {
            failedRequests.incrementAndGet();
            // Only after etcd took them: refused from the start, the caller's WARN names the failure already.
            if (answered && !authRefused && settings.username().isPresent()
                && e.getMessage().contains(AUTH_FAILED)) {
                authRefused = true;
                LOG.error("etcd refuses the user name and password of etcd user {} ({}): its password was changed "
                    + "or the user removed. overlay reads --etcd-password once, at start (as flanneld does): "
                    + "restart it with the new password. Until then requests fail and are retried; the lease "
                    + "expires when renewals keep failing", settings.username().get(), e.getMessage());
            }
            throw e;
        }
    }

    @Override
    public long failedRequests() {
        return failedRequests.get();
    }

    private <T> T awaitOrThrow(final String what, final CompletableFuture<T> future) {
        try {
            return future.get(timeoutNanos, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.CancellationException e) {
            throw new EtcdUnavailableException("etcd " + what + " was cancelled (endpoints " + settings.endpoints()
                + ")", e);
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new EtcdUnavailableException("interrupted during etcd " + what, e);
        } catch (TimeoutException e) {
            future.cancel(true);
            // jetcd waits for a ready connection, so a refused TLS handshake shows only as a timeout: say so.
            throw new EtcdUnavailableException("etcd " + what + " timed out after " + settings.requestTimeout()
                + " (endpoints " + settings.endpoints() + "): no answer; " + NO_ANSWER_CAUSES
                + (settings.tls() ? ", or the TLS handshake fails (server certificate "
                    + "not trusted by the CA file, or a client certificate missing or refused)" : ""), e);
        } catch (ExecutionException e) {
            final Throwable cause = e.getCause() == null ? e : e.getCause();
            final String described = describe(cause);
            throw new EtcdUnavailableException("etcd " + what + " failed (endpoints " + settings.endpoints() + "): "
                + described + (described.contains(EtcdUnavailableException.NO_SPACE_ERROR)
                    ? EtcdUnavailableException.NO_SPACE_REMEDY : ""), cause);
        }
    }

    /**
     * The messages along a cause chain, each distinct one once ("UNAUTHENTICATED: etcdserver: authentication failed,
     * invalid user ID or password", "UNAVAILABLE: io exception: SSLHandshakeException: ..."), so a log line names
     * what etcd or the TLS layer actually refused.
     */
    static String describe(final Throwable t) {
        final StringBuilder sb = new StringBuilder();
        int depth = 0;
        for (Throwable c = t; c != null && depth < 8; c = c.getCause() == c ? null : c.getCause(), depth++) {
            final String m = c.getMessage() == null ? c.getClass().getSimpleName()
                : c == t ? c.getMessage() : c.getClass().getSimpleName() + ": " + c.getMessage();
            if (sb.indexOf(c.getMessage() == null ? m : c.getMessage()) < 0) {
                if (sb.length() > 0) {
                    sb.append(" <- ");
                }
                sb.append(m);
            }
        }
        return sb.toString();
    }

    @Override
    public void close() {
        // a channel built after the client closed would never be shut down
        boolean interrupted = false;
        while (channelAhead.isAlive()) {
            try {
                channelAhead.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        client.close();
    }
}
