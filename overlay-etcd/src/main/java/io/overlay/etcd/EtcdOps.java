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
            .keepaliveWithoutCalls(false);
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

    /** Lists every key under {@code prefix} (etcd prefix semantics) at one revision. */
    SubnetListing list(final String prefix) {
        final GetResponse r = await("list " + prefix, client.getKVClient().get(bytes(prefix),
            GetOption.builder().isPrefix(true).build()));
        final List<SubnetListing.Entry> entries = new ArrayList<>(r.getKvs().size());
        for (KeyValue kv : r.getKvs()) {
            entries.add(SubnetListing.Entry.parse(kv.getKey().toString(StandardCharsets.UTF_8),
                kv.getValue().getBytes(), kv.getLease(), kv.getModRevision()));
        }
        return new SubnetListing(r.getHeader().getRevision(), List.copyOf(entries));
    }

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

    /** Returns a lease's remaining TTL in seconds, -1 when etcd does not know it. */
    long timeToLive(final long leaseId) {
        return await("lease time-to-live", client.getLeaseClient().timeToLive(leaseId, LeaseOption.DEFAULT)).getTTL();
    }

    private <T> T await(final String what, final CompletableFuture<T> future) {
        try {
            return future.get(timeoutNanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new EtcdUnavailableException("interrupted during etcd " + what, e);
        } catch (TimeoutException e) {
            future.cancel(true);
            throw new EtcdUnavailableException("etcd " + what + " timed out after " + settings.requestTimeout()
                + " (endpoints " + settings.endpoints() + ")", e);
        } catch (ExecutionException e) {
            final Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new EtcdUnavailableException("etcd " + what + " failed (endpoints " + settings.endpoints() + "): "
                + cause.getMessage(), cause);
        }
    }

    @Override
    public void close() {
        client.close();
    }
}
