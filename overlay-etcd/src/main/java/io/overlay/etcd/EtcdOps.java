package io.overlay.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.ClientBuilder;
import io.etcd.jetcd.KeyValue;
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
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;

/**
 * The few etcd requests the allocator makes, each blocking with the configured request timeout and failing with
 * {@link EtcdUnavailableException} (package-private). Never called on a jetcd thread.
 */
final class EtcdOps implements AutoCloseable {
    /** A key's value with its metadata. */
    record Value(byte[] value, long leaseId, long modRevision, long revision) {
    }

    /** The etcd lease a renewal asked for is gone (expired or revoked). */
    static final class LeaseGoneException extends Exception {
        private static final long serialVersionUID = 1L;

        LeaseGoneException(final String message, final Throwable cause) {
            super(message, cause);
        }
    }

    /** Largest gRPC message accepted from etcd, bytes: 16 MiB. */
    static final int MAX_INBOUND_BYTES = 16 << 20;

    private final Client client;
    private final EtcdSettings settings;
    private final long timeoutNanos;

    EtcdOps(final EtcdSettings settings) {
        this.settings = settings;
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
            try {
                b.sslContext(ssl -> {
                    settings.caFile().ifPresent(ca -> ssl.trustManager(ca.toFile()));
                    if (settings.certFile().isPresent()) {
                        ssl.keyManager(settings.certFile().get().toFile(), settings.keyFile().orElseThrow().toFile());
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
    }

    Client client() {
        return client;
    }

    static ByteSequence bytes(final String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    /** Reads one key. */
    Optional<Value> get(final String key) {
        final GetResponse r = await("get " + key, client.getKVClient().get(bytes(key)));
        if (r.getKvs().isEmpty()) {
            return Optional.empty();
        }
        final KeyValue kv = r.getKvs().get(0);
        return Optional.of(new Value(kv.getValue().getBytes(), kv.getLease(), kv.getModRevision(),
            r.getHeader().getRevision()));
    }

    /**
     * Lists every key under {@code prefix} (etcd prefix semantics) at one revision, in pages of {@link #listPageSize}
     * keys (so that no response comes near gRPC's message size limit, however many leases there are); the pages after
     * the first are read at the first page's revision. A compaction between pages fails the listing with
     * {@link EtcdUnavailableException}; the callers retry.
     */
    SubnetListing list(final String prefix) {
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
                entries.add(SubnetListing.Entry.parse(kv.getKey().toString(StandardCharsets.UTF_8),
                    kv.getValue().getBytes(), kv.getLease(), kv.getModRevision()));
            }
            if (!r.isMore() || r.getKvs().isEmpty()) {
                return new SubnetListing(revision, List.copyOf(entries));
            }
            // The next page starts just after the last key read (key + one zero byte).
            final byte[] last = r.getKvs().get(r.getKvs().size() - 1).getKey().getBytes();
            from = ByteSequence.from(java.util.Arrays.copyOf(last, last.length + 1));
        }
    }

    /** Keys per listing request (package-private so tests can make pages small). */
    int listPageSize = 5000;

    /** Lists only key names under {@code prefix}, at most {@code limit}. */
    List<String> keys(final String prefix, final int limit) {
        final GetResponse r = await("list keys " + prefix, client.getKVClient().get(bytes(prefix),
            GetOption.builder().isPrefix(true).withKeysOnly(true).withLimit(limit).build()));
        final List<String> out = new ArrayList<>();
        for (KeyValue kv : r.getKvs()) {
            out.add(kv.getKey().toString(StandardCharsets.UTF_8));
        }
        return out;
    }

    /** A granted etcd lease: its id and the TTL etcd gave it in seconds (etcd may raise a tiny TTL). */
    record Granted(long id, long ttlSeconds) {
    }

    /** Grants an etcd lease. */
    Granted grant(final long ttlSeconds) {
        final io.etcd.jetcd.lease.LeaseGrantResponse r = await("grant lease of " + ttlSeconds + " s",
            client.getLeaseClient().grant(ttlSeconds));
        return new Granted(r.getID(), r.getTTL());
    }

    /** Revokes a lease without waiting (best effort; used for leases a lost race left unused). */
    void revokeQuietly(final long leaseId) {
        client.getLeaseClient().revoke(leaseId).exceptionally(e -> null);
    }

    /**
     * Puts {@code value} at {@code key} attached to {@code leaseId} only if the key does not exist (createRevision 0).
     *
     * @return the put's revision if it was created, empty if the key existed
     */
    Optional<Long> createIfAbsent(final String key, final byte[] value, final long leaseId) {
        final ByteSequence k = bytes(key);
        final TxnResponse r = await("create " + key, client.getKVClient().txn()
            .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
            .Then(Op.put(k, ByteSequence.from(value), PutOption.builder().withLeaseId(leaseId).build()))
            .commit());
        return r.isSucceeded() ? Optional.of(r.getHeader().getRevision()) : Optional.empty();
    }

    /**
     * Puts {@code value} at {@code key} (attached to {@code leaseId}, or to no lease when 0) only if the key's
     * modRevision is still {@code modRevision}.
     *
     * @return the put's revision, or empty if the key changed or vanished meanwhile
     */
    Optional<Long> putIfUnchanged(final String key, final byte[] value, final long leaseId, final long modRevision) {
        final ByteSequence k = bytes(key);
        final PutOption opt = leaseId == 0 ? PutOption.DEFAULT : PutOption.builder().withLeaseId(leaseId).build();
        final TxnResponse r = await("update " + key, client.getKVClient().txn()
            .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(modRevision)))
            .Then(Op.put(k, ByteSequence.from(value), opt))
            .commit());
        return r.isSucceeded() ? Optional.of(r.getHeader().getRevision()) : Optional.empty();
    }

    /** Deletes {@code key} only if its modRevision is still {@code modRevision}; returns whether it did. */
    boolean deleteIfUnchanged(final String key, final long modRevision) {
        final ByteSequence k = bytes(key);
        return await("delete " + key, client.getKVClient().txn()
            .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(modRevision)))
            .Then(Op.delete(k, io.etcd.jetcd.options.DeleteOption.DEFAULT))
            .commit()).isSucceeded();
    }

    /**
     * Refreshes a lease once (etcd LeaseKeepAlive): its TTL starts again from the granted TTL.
     *
     * @return the TTL in seconds etcd now gives the lease
     * @throws LeaseGoneException if etcd no longer knows the lease
     */
    long keepAliveOnce(final long leaseId) throws LeaseGoneException {
        try {
            final long ttl = await("renew lease " + Long.toHexString(leaseId),
                client.getLeaseClient().keepAliveOnce(leaseId)).getTTL();
            if (ttl <= 0) {
                throw new LeaseGoneException("etcd lease " + Long.toHexString(leaseId) + " is gone", null);
            }
            return ttl;
        } catch (EtcdUnavailableException e) {
            if (e.getCause() instanceof EtcdException ee && ee.getErrorCode() == ErrorCode.NOT_FOUND) {
                throw new LeaseGoneException("etcd lease " + Long.toHexString(leaseId) + " is gone", ee);
            }
            throw e;
        }
    }

    /**
     * What etcd knows of a lease.
     *
     * @param remainingSeconds the remaining TTL in seconds, -1 when etcd does not know the lease
     * @param grantedSeconds the TTL it was granted with in seconds
     * @param attachedKeys the keys attached to it (only counted when asked for, else 0)
     */
    record LeaseInfo(long remainingSeconds, long grantedSeconds, int attachedKeys) {
        boolean gone() {
            return remainingSeconds <= 0;
        }
    }

    /** Asks etcd for a lease's remaining TTL (and, if {@code withKeys}, how many keys hang on it). */
    LeaseInfo timeToLive(final long leaseId, final boolean withKeys) {
        final io.etcd.jetcd.lease.LeaseTimeToLiveResponse r = await("lease time-to-live " + Long.toHexString(leaseId),
            client.getLeaseClient().timeToLive(leaseId,
                withKeys ? LeaseOption.builder().withAttachedKeys().build() : LeaseOption.DEFAULT));
        return new LeaseInfo(r.getTTL(), r.getGrantedTTL(), withKeys ? r.getKeys().size() : 0);
    }

    /**
     * Test hook: the next request whose description starts with {@code what} fails with {@code failure}; when
     * {@code afterApplying}, only after etcd applied it (as a reply lost on the way back would).
     */
    void injectFailure(final String what, final RuntimeException failure, final boolean afterApplying) {
        injected.set(new Injected(what, failure, afterApplying));
    }

    private record Injected(String what, RuntimeException failure, boolean afterApplying) {
    }

    private final java.util.concurrent.atomic.AtomicReference<Injected> injected =
        new java.util.concurrent.atomic.AtomicReference<>();

    private RuntimeException injected(final String what, final boolean applied) {
        final Injected i = injected.get();
        if (i != null && what.startsWith(i.what()) && i.afterApplying() == applied && injected.compareAndSet(i, null)) {
            return i.failure();
        }
        return null;
    }

    private <T> T await(final String what, final CompletableFuture<T> future) {
        final RuntimeException before = injected(what, false);
        if (before != null) {
            future.cancel(true);
            throw before;
        }
        try {
            final T result = future.get(timeoutNanos, TimeUnit.NANOSECONDS);
            final RuntimeException after = injected(what, true);
            if (after != null) {
                throw after;
            }
            return result;
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
                + " (endpoints " + settings.endpoints() + "): no answer"
                + (settings.tls() ? "; etcd is down or unreachable, or the TLS handshake fails (server certificate "
                    + "not trusted by the CA file, or a client certificate missing or refused)" : ""), e);
        } catch (ExecutionException e) {
            final Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new EtcdUnavailableException("etcd " + what + " failed (endpoints " + settings.endpoints() + "): "
                + describe(cause), cause);
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
        client.close();
    }
}
