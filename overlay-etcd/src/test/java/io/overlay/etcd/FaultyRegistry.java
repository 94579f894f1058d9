package io.overlay.etcd;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Wraps a registry (in-memory or real etcd) with explicit fault hooks: fail the next calls of one operation, before
 * or after the wrapped registry applied them; pause watches (and resume them from the last revision they delivered,
 * as a reconnect would); stall them for good without an error; break them with an error.
 */
final class FaultyRegistry implements SubnetRegistry {
    /** The registry's operations, as fault targets. */
    enum Op { GET, LIST, KEYS, GRANT, CREATE, PUT_IF_UNCHANGED, DELETE_IF_UNCHANGED, KEEP_ALIVE, TIME_TO_LIVE }

    private record Fault(int remaining, RuntimeException failure, boolean afterApplying, Runnable before) {
    }

    private final SubnetRegistry delegate;
    private final boolean closesDelegate;
    private final Map<Op, Fault> faults = new EnumMap<>(Op.class);
    private final List<TrackedWatch> watches = new ArrayList<>();
    private boolean paused;
    /** Watches under {@link #behindPrefix} still to be answered "store behind" instead of opened. */
    private int behindRemaining;
    private String behindPrefix;
    private long behindRevision;
    /** Appended to the next watch response delivered (a surprise while the allocator applies it), then cleared. */
    private volatile Event poison;

    /**
     * @param delegate the registry to wrap
     * @param closesDelegate whether {@link #close()} closes it too (a shared in-memory store outlives its users)
     */
    FaultyRegistry(final SubnetRegistry delegate, final boolean closesDelegate) {
        this.delegate = delegate;
        this.closesDelegate = closesDelegate;
    }

    /** The next {@code times} calls of {@code op} throw {@code failure} without reaching the wrapped registry. */
    synchronized FaultyRegistry failNext(final Op op, final int times, final RuntimeException failure) {
        faults.put(op, new Fault(times, failure, false, null));
        return this;
    }

    /** Runs {@code action} (another host's write, say) just before each of the next {@code times} calls of op. */
    synchronized FaultyRegistry interleave(final Op op, final int times, final Runnable action) {
        faults.put(op, new Fault(times, null, false, action));
        return this;
    }

    /** Runs {@code action} just after the next call of {@code op} was applied, before its caller sees the result. */
    synchronized FaultyRegistry interleaveAfter(final Op op, final Runnable action) {
        faults.put(op, new Fault(1, null, true, action));
        return this;
    }

    /** The next call of {@code op} is applied, then throws {@code failure} (a reply lost on the way back). */
    synchronized FaultyRegistry failAfterApplying(final Op op, final RuntimeException failure) {
        faults.put(op, new Fault(1, failure, true, null));
        return this;
    }

    /** Appends {@code event} to the next watch response delivered, as a surprise after that response's events. */
    void appendToNextResponse(final Event event) {
        poison = event;
    }

    /**
     * The next {@code times} watches opened on {@code prefix} answer {@link WatchSink#onStoreBehind} with
     * {@code storeRevision} at once instead of opening, as etcd members behind the caller's revision do (a wiped or
     * restored store, or a member that lags the one a listing came from).
     */
    synchronized void storeBehindOnNextWatches(final String prefix, final int times, final long storeRevision) {
        behindPrefix = prefix;
        behindRemaining = times;
        behindRevision = storeRevision;
    }

    /** Closes every open watch underneath, as a hung connection; new watches wait too. Events meanwhile are missed. */
    synchronized void pauseWatches() {
        paused = true;
        for (TrackedWatch w : watches) {
            w.suspend();
        }
    }

    /** Reopens every paused watch from the revision after the last one it delivered. */
    synchronized void resumeWatches() {
        paused = false;
        for (TrackedWatch w : List.copyOf(watches)) {
            w.open();
        }
    }

    /** Silently ends every open watch: no error, no more events (a stalled stream); later watches work. */
    synchronized void stallWatches() {
        for (TrackedWatch w : List.copyOf(watches)) {
            w.suspend();
            watches.remove(w);
        }
    }

    /** Ends every open watch with {@code error}, as a broken connection would. */
    synchronized void breakWatches(final Throwable error) {
        for (TrackedWatch w : List.copyOf(watches)) {
            w.suspend();
            watches.remove(w);
            w.sink.onError(error);
        }
    }

    private <T> T call(final Op op, final Supplier<T> action) {
        final Fault f;
        synchronized (this) {
            f = faults.get(op);
            if (f != null) {
                if (f.remaining() <= 1) {
                    faults.remove(op);
                } else {
                    faults.put(op, new Fault(f.remaining() - 1, f.failure(), f.afterApplying(), f.before()));
                }
            }
        }
        if (f != null && f.before() != null && !f.afterApplying()) {
            f.before().run();
        } else if (f != null && !f.afterApplying()) {
            throw f.failure();
        }
        final T result = action.get();
        if (f != null && f.afterApplying() && f.before() != null) {
            f.before().run();
        } else if (f != null && f.afterApplying()) {
            throw f.failure();
        }
        return result;
    }

    @Override
    public Read read(final String key) {
        return call(Op.GET, () -> delegate.read(key));
    }

    @Override
    public SubnetListing list(final String prefix) {
        return call(Op.LIST, () -> delegate.list(prefix));
    }

    @Override
    public List<String> keys(final String prefix, final int limit) {
        return call(Op.KEYS, () -> delegate.keys(prefix, limit));
    }

    @Override
    public Granted grant(final long ttlSeconds) {
        return call(Op.GRANT, () -> delegate.grant(ttlSeconds));
    }

    @Override
    public void revoke(final long leaseId) {
        delegate.revoke(leaseId);
    }

    @Override
    public Optional<Long> createIfAbsent(final String key, final byte[] value, final long leaseId) {
        return call(Op.CREATE, () -> delegate.createIfAbsent(key, value, leaseId));
    }

    @Override
    public Optional<Long> putIfUnchanged(final String key, final byte[] value, final long leaseId,
                                         final long modRevision) {
        return call(Op.PUT_IF_UNCHANGED, () -> delegate.putIfUnchanged(key, value, leaseId, modRevision));
    }

    @Override
    public boolean deleteIfUnchanged(final String key, final long modRevision) {
        return call(Op.DELETE_IF_UNCHANGED, () -> delegate.deleteIfUnchanged(key, modRevision));
    }

    @Override
    public long keepAliveOnce(final long leaseId) throws LeaseGoneException {
        final LeaseGoneException[] gone = {null};
        final Long ttl = call(Op.KEEP_ALIVE, () -> {
            try {
                return delegate.keepAliveOnce(leaseId);
            } catch (LeaseGoneException e) {
                gone[0] = e;
                return null;
            }
        });
        if (gone[0] != null) {
            throw gone[0];
        }
        return ttl;
    }

    @Override
    public LeaseInfo timeToLive(final long leaseId, final boolean withKeys) {
        return call(Op.TIME_TO_LIVE, () -> delegate.timeToLive(leaseId, withKeys));
    }

    @Override
    public synchronized Watching watch(final String prefix, final long fromRevision, final WatchSink sink) {
        if (behindRemaining > 0 && prefix.equals(behindPrefix)) {
            behindRemaining--;
            sink.onStoreBehind(behindRevision);
            return () -> { };
        }
        final TrackedWatch w = new TrackedWatch(prefix, fromRevision - 1, sink);
        watches.add(w);
        if (!paused) {
            w.open();
        }
        return () -> {
            synchronized (FaultyRegistry.this) {
                watches.remove(w);
                w.suspend();
            }
        };
    }

    @Override
    public void close() {
        stallWatches();
        if (closesDelegate) {
            delegate.close();
        }
    }

    /** One watch as the allocator sees it, over any number of watches of the wrapped registry. */
    private final class TrackedWatch implements WatchSink {
        private final String prefix;
        private final WatchSink sink;
        private volatile long lastSeen;
        private Watching inner;
        // volatile, not locked: the wrapped registry may call back while holding its own lock
        private volatile int generation;

        TrackedWatch(final String prefix, final long lastSeen, final WatchSink sink) {
            this.prefix = prefix;
            this.lastSeen = lastSeen;
            this.sink = sink;
        }

        void open() {
            suspend();
            final int gen = ++generation;
            inner = delegate.watch(prefix, lastSeen + 1, new WatchSink() {
                @Override
                public void onEvents(final List<Event> events, final long progressRevision) {
                    if (current(gen)) {
                        TrackedWatch.this.onEvents(events, progressRevision);
                    }
                }

                @Override
                public void onCompacted(final long compactRevision) {
                    if (current(gen)) {
                        sink.onCompacted(compactRevision);
                    }
                }

                @Override
                public void onStoreBehind(final long storeRevision) {
                    if (current(gen)) {
                        sink.onStoreBehind(storeRevision);
                    }
                }

                @Override
                public void onError(final Throwable error) {
                    if (current(gen)) {
                        sink.onError(error);
                    }
                }

                @Override
                public void onCompleted() {
                    if (current(gen)) {
                        sink.onCompleted();
                    }
                }
            });
        }

        private boolean current(final int gen) {
            return gen == generation;
        }

        void suspend() {
            generation++;
            if (inner != null) {
                inner.close();
                inner = null;
            }
        }

        @Override
        public void onEvents(final List<Event> events, final long progressRevision) {
            for (Event e : events) {
                lastSeen = Math.max(lastSeen, e.modRevision());
            }
            lastSeen = Math.max(lastSeen, progressRevision);
            final Event extra = poison;
            if (extra != null && !events.isEmpty()) {
                poison = null;
                final List<Event> with = new ArrayList<>(events);
                with.add(extra);
                sink.onEvents(with, progressRevision);
                return;
            }
            sink.onEvents(events, progressRevision);
        }

        @Override
        public void onCompacted(final long compactRevision) {
            sink.onCompacted(compactRevision);
        }

        @Override
        public void onStoreBehind(final long storeRevision) {
            sink.onStoreBehind(storeRevision);
        }

        @Override
        public void onError(final Throwable error) {
            sink.onError(error);
        }

        @Override
        public void onCompleted() {
            sink.onCompleted();
        }
    }
}
