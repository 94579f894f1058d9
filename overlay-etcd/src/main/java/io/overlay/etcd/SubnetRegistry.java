package io.overlay.etcd;

import java.util.List;
import java.util.Optional;

/**
 * The etcd requests the allocator makes, as flannel's {@code Registry} (pkg/subnet/etcd/registry.go,
 * docs/flannel-compatibility.md#sources) is to its {@code LocalManager}: blocking calls made on the allocator's control
 * thread, failing with {@link EtcdUnavailableException} when etcd cannot be reached, times out or refuses
 * (package-private). {@link GatewayRegistry} is the one implementation, on etcd's JSON gateway; tests use an in-memory one.
 *
 * <p>Revisions are etcd's: one counter per cluster, raised by every write. Lease ids are etcd lease ids (0: no lease).
 */
interface SubnetRegistry extends AutoCloseable {
    /**
     * Formats an etcd lease ID as {@code etcdctl} prints it ({@code lease grant}, {@code lease list}): 16 lower-case
     * hex digits, zero-padded, so that an operator can paste it into {@code etcdctl lease timetolive}.
     *
     * @param leaseId the etcd lease ID
     * @return its 16-digit hex form
     */
    static String leaseIdText(final long leaseId) {
        return String.format("%016x", leaseId);
    }

    /**
     * A key's value with its metadata.
     *
     * @param value the value bytes
     * @param leaseId the attached etcd lease, 0 for none
     * @param modRevision the key's last modification revision
     * @param revision the store's revision when it was read
     */
    record Value(byte[] value, long leaseId, long modRevision, long revision) {
    }

    /**
     * A granted etcd lease.
     *
     * @param id its id
     * @param ttlSeconds the TTL etcd gave it, seconds (etcd may raise a tiny TTL)
     */
    record Granted(long id, long ttlSeconds) {
    }

    /**
     * What etcd knows of a lease.
     *
     * @param remainingSeconds the remaining TTL in seconds, -1 when etcd does not know the lease
     * @param grantedSeconds the TTL it was granted with in seconds
     * @param attachedKeys the keys attached to it (only counted when asked for, else 0)
     */
    record LeaseInfo(long remainingSeconds, long grantedSeconds, int attachedKeys) {
        /** Returns whether etcd no longer knows the lease (expired or revoked). */
        boolean gone() {
            return remainingSeconds <= 0;
        }
    }

    /** The etcd lease a renewal asked for is gone (expired or revoked). */
    final class LeaseGoneException extends Exception {
        private static final long serialVersionUID = 1L;

        LeaseGoneException(final long leaseId, final Throwable cause) {
            super("etcd lease " + leaseIdText(leaseId) + " is gone", cause);
        }
    }

    /**
     * One change seen by a watch.
     *
     * @param put true for a put, false for a delete
     * @param key the full key
     * @param value the new value (empty for a delete)
     * @param leaseId the attached etcd lease after a put, 0 otherwise
     * @param modRevision the revision of the change
     * @param createRevision after a put, the revision that created the key (the same as modRevision for a new key);
     *     0 for a delete
     */
    record Event(boolean put, String key, byte[] value, long leaseId, long modRevision, long createRevision) {
    }

    /**
     * Receives what a watch sees, on a thread of the registry's choosing, one call at a time and in revision order.
     * Implementations must not block.
     */
    interface WatchSink {
        /**
         * Changes, in revision order.
         *
         * @param events the changes, empty for a progress notification
         * @param progressRevision for a progress notification without events, the store's revision (every change up
         *     to it was delivered); else 0
         */
        void onEvents(List<Event> events, long progressRevision);

        /**
         * The start revision was compacted away: the watch is over, list again.
         *
         * @param compactRevision the store's compaction revision
         */
        void onCompacted(long compactRevision);

        /**
         * The store's revision is below what the caller had seen (the start revision - 1): etcd's data was wiped or
         * restored from an older snapshot. Left open, the watch would wait silently until the new store reaches the old
         * revision, missing every change before; the watch is over, list again.
         *
         * @param storeRevision the store's revision now
         */
        void onStoreBehind(long storeRevision);

        /**
         * The watch broke (connection lost, refused); it is over.
         *
         * @param error what broke it
         */
        void onError(Throwable error);

        /** The watch was closed by the client library or the server without an error; it is over. */
        void onCompleted();
    }

    /** An open watch. */
    interface Watching extends AutoCloseable {
        /** Stops the watch; calls already under way may still reach the sink. */
        @Override
        void close();
    }

    /**
     * One key as read, with the store's revision at the read, also when the key is absent (a watch from
     * {@code revision + 1} then misses nothing written after the read).
     *
     * @param value the key's value, or empty when absent
     * @param revision the store's revision when it was read (the response header's)
     */
    record Read(Optional<Value> value, long revision) {
    }

    /** Reads one key. */
    default Optional<Value> get(final String key) {
        return read(key).value();
    }

    /** Reads one key with the store's revision at the read. */
    Read read(String key);

    /**
     * Lists every key under {@code prefix} (etcd prefix semantics) at one revision, each parsed as a subnet key.
     * A compaction while listing fails the call with {@link EtcdUnavailableException}; callers retry.
     */
    SubnetListing list(String prefix);

    /** Lists only key names under {@code prefix}, at most {@code limit}. */
    List<String> keys(String prefix, int limit);

    /** Grants an etcd lease of {@code ttlSeconds}. */
    Granted grant(long ttlSeconds);

    /** Revokes a lease without waiting for the answer (best effort; used for leases a lost race left unused). */
    void revoke(long leaseId);

    /**
     * Puts {@code value} at {@code key} attached to {@code leaseId} only if the key does not exist.
     *
     * @return the put's revision if it was created, empty if the key existed
     */
    Optional<Long> createIfAbsent(String key, byte[] value, long leaseId);

    /**
     * Puts {@code value} at {@code key} (attached to {@code leaseId}, or to no lease when 0) only if the key's
     * modRevision is still {@code modRevision}.
     *
     * @return the put's revision, or empty if the key changed or vanished meanwhile
     */
    Optional<Long> putIfUnchanged(String key, byte[] value, long leaseId, long modRevision);

    /** Deletes {@code key} only if its modRevision is still {@code modRevision}; returns whether it did. */
    boolean deleteIfUnchanged(String key, long modRevision);

    /**
     * Refreshes a lease once (etcd LeaseKeepAlive): its TTL starts again from the granted TTL.
     *
     * @return the TTL in seconds etcd now gives the lease
     * @throws LeaseGoneException if etcd no longer knows the lease
     */
    long keepAliveOnce(long leaseId) throws LeaseGoneException;

    /** Asks etcd for a lease's remaining TTL (and, if {@code withKeys}, how many keys hang on it). */
    LeaseInfo timeToLive(long leaseId, boolean withKeys);

    /**
     * Opens a prefix watch from {@code fromRevision}, with the previous values and progress notifications, requiring
     * a leader. Never blocks on the network; a failure to open is reported to {@code sink}.
     *
     * @return the open watch
     */
    Watching watch(String prefix, long fromRevision, WatchSink sink);

    /**
     * The host's addresses changed: every open watch is reopened on a new connection from the revision after the last
     * one it delivered, which its sink does not see. A watch's connection may be bound to an address the host no
     * longer has, where nothing arrives and nothing fails; HTTP/1.1 has no ping that would notice. Never blocks.
     */
    default void refreshWatches() {
    }

    /**
     * Returns how many requests to etcd have failed so far (timed out, refused, cancelled), whoever retried them.
     *
     * @return the count; 0 for a registry that does not count
     */
    default long failedRequests() {
        return 0;
    }

    @Override
    void close();
}
