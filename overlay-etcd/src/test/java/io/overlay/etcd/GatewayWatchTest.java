package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.testing.EtcdServer;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * {@link GatewayWatch} on a real etcd 3.4: what the JDK's HTTP client does to a long-lived streamed answer, the
 * in-place refresh and the probe (with {@link GatewayRegistry#watchTiming} shortened), compaction, and what is left
 * after close: callbacks, etcd's watchers, our TCP connections to etcd.
 */
class GatewayWatchTest extends EtcdTestSupport {
    private static final Duration WAIT = Duration.ofSeconds(15);
    /** Probe after 300 ms of quiet, give it 5 s (a loaded machine), reopen the stream after 2 s of quiet. */
    private static final GatewayWatch.Timing FAST = new GatewayWatch.Timing(Duration.ofMillis(300),
        Duration.ofSeconds(5), Duration.ofSeconds(2));

    /** Records every sink call, the threads they came on and whether two ever overlapped. */
    static final class Sink implements SubnetRegistry.WatchSink {
        final List<String> calls = new CopyOnWriteArrayList<>();
        final List<SubnetRegistry.Event> events = new CopyOnWriteArrayList<>();
        final Set<String> threads = ConcurrentHashMap.newKeySet();
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger overlaps = new AtomicInteger();
        volatile Throwable error;
        /** How long each call takes, to widen any window in which a second call could overlap it. */
        volatile long dwellMillis;

        private void enter() {
            threads.add(Thread.currentThread().getName());
            if (inside.incrementAndGet() > 1) {
                overlaps.incrementAndGet();
            }
            if (dwellMillis > 0) {
                try {
                    Thread.sleep(dwellMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        @Override
        public void onEvents(final List<SubnetRegistry.Event> list, final long progressRevision) {
            enter();
            events.addAll(list);
            calls.add(list.isEmpty() ? "progress " + progressRevision : "events " + list.size());
            inside.decrementAndGet();
        }

        @Override
        public void onCompacted(final long compactRevision) {
            enter();
            calls.add("compacted " + compactRevision);
            inside.decrementAndGet();
        }

        @Override
        public void onStoreBehind(final long storeRevision) {
            enter();
            calls.add("behind " + storeRevision);
            inside.decrementAndGet();
        }

        @Override
        public void onError(final Throwable t) {
            enter();
            error = t;
            calls.add("error " + t);
            inside.decrementAndGet();
        }

        @Override
        public void onCompleted() {
            enter();
            calls.add("completed");
            inside.decrementAndGet();
        }

        List<String> keys() {
            return events.stream().map(e -> (e.put() ? "put " : "del ") + e.key() + "@" + e.modRevision()).toList();
        }

        boolean ended() {
            return calls.stream().anyMatch(c -> c.startsWith("error") || c.startsWith("compacted")
                || c.startsWith("completed") || c.startsWith("behind"));
        }
    }

    private GatewayRegistry registry(final EtcdSettings s) {
        final GatewayRegistry r = new GatewayRegistry(s);
        closeAfter(r);
        return r;
    }

    private final List<AutoCloseable> registries = new CopyOnWriteArrayList<>();

    private void closeAfter(final AutoCloseable c) {
        registries.add(c);
    }

    @org.junit.jupiter.api.AfterEach
    void closeRegistries() throws Exception {
        for (AutoCloseable c : registries) {
            c.close();
        }
        registries.clear();
    }

    private String key(final String name) {
        return prefix + "/subnets/" + name;
    }

    private long put(final String name, final String value) {
        etcd.etcdctl("put", key(name), value);
        return revision(etcd);
    }

    /** This JVM's established TCP connections to {@code server}'s client port, per {@code ss -tnp}. */
    static int connections(final EtcdServer server) throws IOException, InterruptedException {
        final int port = URI.create(server.endpoint()).getPort();
        final Process p = new ProcessBuilder("ss", "-Htnp", "state", "established", "dport", "= :" + port)
            .redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("ss took over 10 s");
        }
        final String me = "pid=" + ProcessHandle.current().pid() + ",";
        return (int) out.lines().filter(l -> l.contains(me)).count();
    }

    /** Watch streams etcd has opened (one per HTTP watch through its gateway) and ended so far. */
    private static long watchStreamsOpen(final EtcdServer server) {
        return server.metric("grpc_server_started_total", "grpc_method=\"Watch\"")
            - server.metric("grpc_server_handled_total", "grpc_method=\"Watch\"");
    }

    private static long watchStreamsStarted(final EtcdServer server) {
        return server.metric("grpc_server_started_total", "grpc_method=\"Watch\"");
    }

    /**
     * The JDK applies {@code HttpRequest.timeout} until the answer's headers; the watch sets it to the request timeout
     * (1 s here), and an event written 5 s later must still arrive on the same, unbroken stream.
     */
    @Test
    void aWatchOutlivesItsRequestTimeout() throws Exception {
        final GatewayRegistry r = registry(settings().requestTimeout(Duration.ofSeconds(1)).build());
        final Sink sink = new Sink();
        final long from = revision(etcd) + 1;
        final long started = watchStreamsStarted(etcd);
        r.watch(prefix + "/subnets/", from, sink);
        Thread.sleep(5000);
        final long rev = put("100.64.1.0-24", "{}");
        await().atMost(WAIT).until(() -> !sink.events.isEmpty());
        assertThat(sink.keys()).containsExactly("put " + key("100.64.1.0-24") + "@" + rev);
        assertThat(sink.calls).as("no error, no reopen").containsExactly("events 1");
        assertThat(watchStreamsStarted(etcd) - started).as("one stream, never reopened").isEqualTo(1);
    }

    /**
     * Sink calls come one at a time, never overlapping, even with writes arriving while the sink is busy and the
     * probe timer running: the sink is slow (50 ms a call) and the probe fires every 150 ms of quiet.
     */
    @Test
    void sinkCallsNeverOverlap() throws Exception {
        final GatewayRegistry r = registry(settings().build());
        r.watchTiming(new GatewayWatch.Timing(Duration.ofMillis(100), Duration.ofSeconds(5), Duration.ofMillis(400)));
        final Sink sink = new Sink();
        sink.dwellMillis = 50;
        r.watch(prefix + "/subnets/", revision(etcd) + 1, sink);
        for (int i = 0; i < 20; i++) {
            etcd.etcdctl("put", key("k" + i), "v");
            Thread.sleep(i % 5 == 0 ? 700 : 10); // now and then quiet long enough for a probe and a refresh
        }
        await().atMost(WAIT).until(() -> sink.events.size() == 20);
        assertThat(sink.overlaps).as("overlapping sink calls on %s", sink.threads).hasValue(0);
        assertThat(sink.calls).noneMatch(c -> c.startsWith("error"));
        System.out.printf("sink threads: %s%n", sink.threads);
    }

    /**
     * A quiet watch is reopened in place every refresh interval of quiet, even though its member answers every probe
     * (the case the refresh exists for: the member is fine, the watch's own connection may not be). The sink sees
     * nothing of it: each key once, in order, from the right revision (writes elsewhere in between move the store's
     * revision on), no error; and each old stream is really gone: etcd serves one watcher, this JVM holds at most two
     * more connections to it than before the watch (the watch's, and a pooled one of the probes).
     */
    @Test
    void aRefreshIsInvisibleAndLeavesNothingBehind() throws Exception {
        final GatewayRegistry r = registry(settings().build());
        r.watchTiming(FAST);
        final Sink sink = new Sink();
        final long from = revision(etcd) + 1;
        final long started0 = watchStreamsStarted(etcd);
        final int connections0 = connections(etcd); // the fixture's own, and any a closed client has not yet closed
        r.watch(prefix + "/subnets/", from, sink);
        final List<String> expected = new java.util.ArrayList<>();
        for (int round = 0; round < 3; round++) {
            final long rev = put("100.64." + round + ".0-24", "{}");
            expected.add("put " + key("100.64." + round + ".0-24") + "@" + rev);
            await().atMost(WAIT).until(() -> sink.events.size() == expected.size());
            etcd.etcdctl("put", prefix + "/elsewhere", "x" + round); // not watched: moves the revision on
            final long before = watchStreamsStarted(etcd);
            final int round0 = round;
            await("refresh " + round0 + " while probes are answered").atMost(Duration.ofSeconds(10))
                .until(() -> watchStreamsStarted(etcd) > before);
            await().atMost(WAIT).until(() -> etcd.watchers() == 1);
        }
        final long rev = put("100.64.9.0-24", "{}");
        expected.add("put " + key("100.64.9.0-24") + "@" + rev);
        await().atMost(WAIT).until(() -> sink.events.size() >= expected.size());
        Thread.sleep(500);
        assertThat(sink.keys()).containsExactlyElementsOf(expected);
        assertThat(sink.calls).noneMatch(c -> !c.startsWith("events") && !c.startsWith("progress"));
        assertThat(watchStreamsStarted(etcd) - started0).as("the first stream and three refreshes").isBetween(4L, 6L);
        assertThat(etcd.watchers()).as("etcd serves one watcher").isEqualTo(1);
        // an upper bound only: a client an earlier test closed may drop its pooled connection meanwhile
        assertThat(connections(etcd) - connections0).as("the watch's connection and at most one pooled (probes)")
            .isLessThanOrEqualTo(2);
    }

    /**
     * Writes timed around the moment of a refresh (2 s of quiet, checked every 150 ms): the new stream starts from the
     * revision after the last one delivered, so whether a write lands on the old stream, between the two, or on the
     * new one, it reaches the sink exactly once and in order.
     */
    @Test
    void writesAroundARefreshArriveOnceInOrder() throws Exception {
        final GatewayRegistry r = registry(settings().build());
        r.watchTiming(FAST);
        final Sink sink = new Sink();
        final long started0 = watchStreamsStarted(etcd);
        r.watch(prefix + "/subnets/", revision(etcd) + 1, sink);
        final List<String> expected = new java.util.ArrayList<>();
        for (int i = 0; i < 8; i++) {
            Thread.sleep(1700 + i * 70L); // etcdctl itself takes ~50 ms
            final long rev = put("k" + i, "v" + i);
            expected.add("put " + key("k" + i) + "@" + rev);
            await().atMost(WAIT).until(() -> sink.events.size() >= expected.size());
        }
        Thread.sleep(300);
        assertThat(sink.keys()).containsExactlyElementsOf(expected);
        assertThat(sink.calls).allMatch(c -> c.startsWith("events") || c.startsWith("progress"));
        System.out.printf("writes around a refresh: %d refreshes%n", watchStreamsStarted(etcd) - started0 - 1);
        assertThat(watchStreamsStarted(etcd) - started0).as("some writes came after a refresh").isGreaterThan(1);
    }

    /**
     * close() racing with refreshes (every 60 ms of quiet here) and with the stream's own start: 40 watches, each
     * closed after 0 to 200 ms. Afterwards etcd serves none of their streams, and no callback came after close()
     * returned but the one under way, if any.
     */
    @Test
    void closeRacingWithRefreshesLeavesNoStream() throws Exception {
        final GatewayRegistry r = registry(settings().build());
        r.watchTiming(new GatewayWatch.Timing(Duration.ofMillis(20), Duration.ofSeconds(5), Duration.ofMillis(60)));
        final long open0 = watchStreamsOpen(etcd);
        final java.util.Random random = new java.util.Random(7);
        final long from = revision(etcd) + 1;
        put("k", "v");
        int late = 0;
        for (int i = 0; i < 40; i++) {
            final Sink sink = new Sink();
            final SubnetRegistry.Watching w = r.watch(prefix + "/subnets/", from, sink);
            Thread.sleep(random.nextInt(200));
            w.close();
            final int calls = sink.calls.size();
            Thread.sleep(20);
            late += sink.calls.size() - calls;
            assertThat(sink.calls).as("watch %d", i).allMatch(c -> c.startsWith("events") || c.startsWith("progress"));
        }
        assertThat(late).as("callbacks after close() returned").isLessThanOrEqualTo(1);
        await("etcd ends every stream").atMost(WAIT).until(() -> watchStreamsOpen(etcd) == open0);
        assertThat(etcd.watchers()).isZero();
    }

    /**
     * A watch from a compacted revision: etcd answers "created", then "canceled" with the compaction revision, and
     * keeps the HTTP stream open. The sink hears onCompacted once, nothing else, and our side ends the stream: etcd's
     * gateway closes its Watch stream once our connection is gone.
     */
    @Test
    void aCompactedWatchTellsOnceAndEndsItsStream() throws Exception {
        final GatewayRegistry r = registry(settings().build());
        final long from = put("100.64.1.0-24", "a");
        put("100.64.1.0-24", "b");
        final long compactedAt = put("100.64.1.0-24", "c");
        etcd.etcdctl("compact", Long.toString(compactedAt));
        final long open0 = watchStreamsOpen(etcd);
        final int connections0 = connections(etcd);
        final Sink sink = new Sink();
        r.watch(prefix + "/subnets/", from, sink);
        await().atMost(WAIT).until(() -> !sink.calls.isEmpty());
        await("etcd's gateway ended its Watch stream").atMost(WAIT).until(() -> watchStreamsOpen(etcd) == open0);
        put("100.64.1.0-24", "d");
        Thread.sleep(500);
        assertThat(sink.calls).containsExactly("compacted " + compactedAt);
        assertThat(connections(etcd) - connections0).as("at most one pooled connection left").isLessThanOrEqualTo(1);
    }

    /** A member that stops answering (SIGSTOP) while the watch is quiet is found by the probe and the watch ends. */
    @Test
    void aFrozenMemberEndsTheWatchByTheProbe() throws Exception {
        final GatewayRegistry r = registry(settings().build());
        r.watchTiming(new GatewayWatch.Timing(Duration.ofMillis(300), Duration.ofSeconds(1), Duration.ofMinutes(3)));
        final Sink sink = new Sink();
        r.watch(prefix + "/subnets/", revision(etcd) + 1, sink);
        Thread.sleep(1000); // a few probes answered
        assertThat(sink.calls).isEmpty();
        etcd.freeze();
        try {
            final long t0 = System.nanoTime();
            await().atMost(WAIT).until(sink::ended);
            final long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("frozen member: watch ended after %d ms%n", ms);
            assertThat(sink.calls).hasSize(1);
            assertThat(sink.error).hasMessageContaining("did not answer a status request within PT1S")
                .hasMessageContaining(etcd.endpoint());
            assertThat(ms).as("probe interval + probe timeout + timer slack").isLessThan(4000);
        } finally {
            etcd.unfreeze();
        }
    }

    /**
     * After close() returns: no callback, etcd's Watch stream ends. Closing the registry ends the client's own thread
     * at once and, once the client is garbage, the JDK's selector thread and connections (JDK 17's HttpClient has no
     * close()): a registry closed on a credential reload leaves nothing running behind.
     */
    @Test
    void closeLeavesNothingBehind() throws Exception {
        final long selectors0 = selectorsAfterGc(-1, Duration.ofSeconds(4)); // clients of earlier tests end first
        final int connections0 = connections(etcd);
        watchAndClose();
        await().atMost(WAIT).until(() -> threads("overlay-etcd-http") == 0);
        final long t0 = System.nanoTime();
        final long selectors = selectorsAfterGc(selectors0, Duration.ofSeconds(15));
        System.out.printf("closed registry: its selector thread ended %d ms after close and GC%n",
            (System.nanoTime() - t0) / 1_000_000);
        assertThat(selectors).as("JDK HttpClient selector threads, after GC").isLessThanOrEqualTo(selectors0);
        assertThat(connections(etcd)).as("our connections to etcd").isLessThanOrEqualTo(connections0);
    }

    /**
     * Collects garbage until at most {@code target} JDK HttpClient selector threads are left, for at most
     * {@code atMost} (each checks every 3 s whether its client is still referenced); returns the count.
     */
    private static long selectorsAfterGc(final long target, final Duration atMost) throws InterruptedException {
        final long deadline = System.nanoTime() + atMost.toNanos();
        long n;
        do {
            System.gc();
            Thread.sleep(200);
            n = threads("SelectorManager");
        } while (n > target && System.nanoTime() < deadline);
        return n;
    }

    /** Watches, closes the watch, then the registry; nothing of them is reachable after the return. */
    private void watchAndClose() throws Exception {
        final long open0 = watchStreamsOpen(etcd);
        final GatewayRegistry r = new GatewayRegistry(settings().build());
        final Sink sink = new Sink();
        final SubnetRegistry.Watching w = r.watch(prefix + "/subnets/", revision(etcd) + 1, sink);
        put("100.64.1.0-24", "a");
        await().atMost(WAIT).until(() -> sink.events.size() == 1);
        assertThat(watchStreamsOpen(etcd) - open0).isEqualTo(1);
        w.close();
        put("100.64.1.0-24", "b");
        await("etcd's gateway ended its Watch stream").atMost(WAIT).until(() -> watchStreamsOpen(etcd) == open0);
        Thread.sleep(300);
        assertThat(sink.calls).containsExactly("events 1");
        r.read(key("100.64.1.0-24")); // one pooled connection
        r.close();
    }

    private static long threads(final String nameContains) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().contains(nameContains)).count();
    }
}
