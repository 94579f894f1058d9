package io.overlay.etcd;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * An in-memory etcd for the allocator's policy tests: keys with create and mod revisions, leases that expire only when
 * the test says so ({@link #expire}), conditional writes, prefix watches replaying history from a revision, and
 * compaction ({@link #compact}). Watch events are delivered synchronously, in revision order, by the thread that made
 * the change. Fault injection lives in {@link FaultyRegistry}, which wraps this or a real {@link GatewayRegistry}.
 */
final class FakeRegistry implements SubnetRegistry {
    private record Kv(byte[] value, long leaseId, long modRevision, long createRevision) {
    }

    private record Watcher(String prefix, WatchSink sink) {
    }

    private final TreeMap<String, Kv> kvs = new TreeMap<>();
    private final Map<Long, Long> leases = new HashMap<>();
    private final List<Event> history = new ArrayList<>();
    private final List<Watcher> watchers = new ArrayList<>();
    /** Every lease id keepAliveOnce was asked to refresh, in order. */
    final List<Long> keepAlives = new CopyOnWriteArrayList<>();
    private long revision = 1;
    private long compactRevision;
    private long nextLeaseId = 0x7e57_0000L;

    // ---------------------------------------------------------------- test side (as etcdctl would)

    /** Puts {@code value} at {@code key} without a lease; returns the revision. */
    long put(final String key, final String value) {
        return put(key, value, 0);
    }

    /** Puts {@code value} at {@code key} on {@code leaseId} (0: none); returns the revision. */
    synchronized long put(final String key, final String value, final long leaseId) {
        return write(key, value.getBytes(StandardCharsets.UTF_8), leaseId);
    }

    /** Deletes {@code key} if present. */
    synchronized void delete(final String key) {
        if (kvs.containsKey(key)) {
            revision++;
            remove(key);
        }
    }

    /** Grants a lease of {@code ttlSeconds}; returns its id. */
    long lease(final long ttlSeconds) {
        return grant(ttlSeconds).id();
    }

    /** Ends a lease as expiry or revocation does: every key on it is deleted at one revision. */
    synchronized void expire(final long leaseId) {
        if (leases.remove(leaseId) == null) {
            return;
        }
        final List<String> attached = new ArrayList<>();
        kvs.forEach((k, v) -> {
            if (v.leaseId() == leaseId) {
                attached.add(k);
            }
        });
        if (!attached.isEmpty()) {
            revision++;
            attached.forEach(this::remove);
        }
    }

    /** Compacts the history up to the current revision: watches from an older revision fail as compacted. */
    synchronized void compact() {
        compactRevision = revision;
        history.clear();
    }

    /** Returns the key's value as text, or null when absent. */
    synchronized String text(final String key) {
        final Kv kv = kvs.get(key);
        return kv == null ? null : new String(kv.value(), StandardCharsets.UTF_8);
    }

    /** Returns the lease the key hangs on (0: none), or -1 when the key is absent. */
    synchronized long leaseOf(final String key) {
        final Kv kv = kvs.get(key);
        return kv == null ? -1 : kv.leaseId();
    }

    /** Returns the key's mod revision, or -1 when absent. */
    synchronized long modRevisionOf(final String key) {
        final Kv kv = kvs.get(key);
        return kv == null ? -1 : kv.modRevision();
    }

    /** Returns whether the lease exists. */
    synchronized boolean alive(final long leaseId) {
        return leases.containsKey(leaseId);
    }

    /** Returns how many leases exist. */
    synchronized int liveLeases() {
        return leases.size();
    }

    /** Returns every key under {@code prefix}. */
    synchronized List<String> keysUnder(final String prefix) {
        return keys(prefix, Integer.MAX_VALUE);
    }

    /** Returns the current revision. */
    synchronized long revision() {
        return revision;
    }

    // ---------------------------------------------------------------- SubnetRegistry

    @Override
    public synchronized Read read(final String key) {
        final Kv kv = kvs.get(key);
        return new Read(kv == null ? Optional.empty() : Optional.of(new Value(kv.value(), kv.leaseId(),
            kv.modRevision(), revision)), revision);
    }

    @Override
    public synchronized SubnetListing list(final String prefix) {
        final List<SubnetListing.Entry> entries = new ArrayList<>();
        kvs.tailMap(prefix, true).forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                entries.add(SubnetListing.Entry.parse(prefix, k, v.value(), v.leaseId(), v.modRevision(),
                    v.createRevision()));
            }
        });
        return new SubnetListing(revision, List.copyOf(entries));
    }

    @Override
    public synchronized List<String> keys(final String prefix, final int limit) {
        final List<String> out = new ArrayList<>();
        for (String k : kvs.tailMap(prefix, true).keySet()) {
            if (!k.startsWith(prefix) || out.size() == limit) {
                break;
            }
            out.add(k);
        }
        return out;
    }

    @Override
    public synchronized Granted grant(final long ttlSeconds) {
        final long id = nextLeaseId++;
        leases.put(id, ttlSeconds);
        return new Granted(id, ttlSeconds);
    }

    @Override
    public void revoke(final long leaseId) {
        expire(leaseId);
    }

    @Override
    public synchronized Optional<Long> createIfAbsent(final String key, final byte[] value, final long leaseId) {
        if (kvs.containsKey(key)) {
            return Optional.empty();
        }
        return Optional.of(write(key, value, leaseId));
    }

    @Override
    public synchronized Optional<Long> putIfUnchanged(final String key, final byte[] value, final long leaseId,
                                                      final long modRevision) {
        final Kv kv = kvs.get(key);
        if (kv == null || kv.modRevision() != modRevision) {
            return Optional.empty();
        }
        return Optional.of(write(key, value, leaseId));
    }

    @Override
    public synchronized boolean deleteIfUnchanged(final String key, final long modRevision) {
        final Kv kv = kvs.get(key);
        if (kv == null || kv.modRevision() != modRevision) {
            return false;
        }
        delete(key);
        return true;
    }

    @Override
    public synchronized long keepAliveOnce(final long leaseId) throws LeaseGoneException {
        keepAlives.add(leaseId);
        final Long ttl = leases.get(leaseId);
        if (ttl == null) {
            throw new LeaseGoneException(leaseId, null);
        }
        return ttl;
    }

    @Override
    public synchronized LeaseInfo timeToLive(final long leaseId, final boolean withKeys) {
        final Long ttl = leases.get(leaseId);
        if (ttl == null) {
            return new LeaseInfo(-1, 0, 0);
        }
        final int attached = withKeys ? (int) kvs.values().stream().filter(v -> v.leaseId() == leaseId).count() : 0;
        return new LeaseInfo(ttl, ttl, attached);
    }

    @Override
    public synchronized Watching watch(final String prefix, final long fromRevision, final WatchSink sink) {
        if (fromRevision <= compactRevision) {
            sink.onCompacted(compactRevision);
            return () -> { };
        }
        final List<Event> replay = new ArrayList<>();
        for (Event e : history) {
            if (e.modRevision() >= fromRevision && e.key().startsWith(prefix)) {
                replay.add(e);
            }
        }
        if (!replay.isEmpty()) {
            sink.onEvents(replay, 0);
        }
        final Watcher w = new Watcher(prefix, sink);
        watchers.add(w);
        return () -> {
            synchronized (FakeRegistry.this) {
                watchers.remove(w);
            }
        };
    }

    /** Nothing to release; the store outlives the allocators that share it (each closes its own registry). */
    @Override
    public void close() {
    }

    // ---------------------------------------------------------------- internals (under the lock)

    private long write(final String key, final byte[] value, final long leaseId) {
        if (leaseId != 0 && !leases.containsKey(leaseId)) {
            throw new EtcdUnavailableException("etcdserver: requested lease not found", null);
        }
        revision++;
        final Kv old = kvs.get(key);
        final long created = old == null ? revision : old.createRevision();
        kvs.put(key, new Kv(value.clone(), leaseId, revision, created));
        publish(new Event(true, key, value.clone(), leaseId, revision, created));
        return revision;
    }

    private void remove(final String key) {
        kvs.remove(key);
        publish(new Event(false, key, new byte[0], 0, revision, 0));
    }

    private void publish(final Event e) {
        history.add(e);
        for (Watcher w : List.copyOf(watchers)) {
            if (e.key().startsWith(w.prefix())) {
                w.sink().onEvents(List.of(e), 0);
            }
        }
    }
}
