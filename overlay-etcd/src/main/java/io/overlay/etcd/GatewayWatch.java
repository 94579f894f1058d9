package io.overlay.etcd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * One prefix watch on etcd's JSON gateway ({@code POST /v3/watch}, one {@code WatchCreateRequest}; the answer is a
 * stream of {@code {"result": WatchResponse}} lines), package-private: {@link GatewayRegistry#watch}.
 *
 * <p>Over HTTP/1.1 nothing tells a silent connection from a quiet prefix (gRPC has its keepalive pings), so while
 * the stream is quiet the watch checks on it: every {@link #PROBE_INTERVAL} without a line it asks the same member
 * for its status, and a member that does not answer within {@link #PROBE_TIMEOUT} ends the watch with an error (the
 * caller reopens it, on the next endpoint). A connection that died without the member (a NAT or load balancer that
 * forgot it) is replaced every {@link #REFRESH_INTERVAL} of quiet: the watch is reopened in place from the revision
 * after the last one delivered, which the sink does not see.
 *
 * <p>The stream is opened with the client's token, authenticating first without blocking when there is none; a
 * stream etcd cancels because the token is invalid (expired unused, or the member restarted) is reopened in place once
 * with a new token.
 *
 * <p>Callbacks reach the sink on the client's thread, one at a time, in revision order; none after {@link #close}
 * returns, except one already under way.
 */
final class GatewayWatch implements SubnetRegistry.Watching {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EtcdSubnetAllocator.class);

    /** Quiet time after which the member is asked whether it still answers: the gRPC keepalive time jetcd used. */
    static final Duration PROBE_INTERVAL = Duration.ofSeconds(10);
    /** How long the member has to answer that question. */
    static final Duration PROBE_TIMEOUT = Duration.ofSeconds(5);
    /** Quiet time after which the stream is reopened on a new connection, below common load balancers' idle limits. */
    static final Duration REFRESH_INTERVAL = Duration.ofMinutes(3);

    /**
     * The watch's three durations: {@link #DEFAULT} in the agent, shorter ones in tests
     * ({@link GatewayRegistry#watchTiming}).
     *
     * @param probeInterval quiet time before the member is probed
     * @param probeTimeout how long a probe may take
     * @param refreshInterval quiet time before the stream is reopened in place
     */
    record Timing(Duration probeInterval, Duration probeTimeout, Duration refreshInterval) {
        static final Timing DEFAULT = new Timing(PROBE_INTERVAL, PROBE_TIMEOUT, REFRESH_INTERVAL);
    }

    private final EtcdGateway gateway;
    private final String prefix;
    private final SubnetRegistry.WatchSink sink;
    private final Consumer<GatewayWatch> onEnd;
    private final Timing timing;
    /** The revision the open stream started from: the created answer's store revision is checked against it. */
    private volatile long startRevision;
    /** The first revision the sink has not been given: where a refreshed stream starts. */
    private volatile long nextRevision;
    private volatile boolean done;
    private volatile URI endpoint;
    private volatile int status;
    /** When the stream last gave a line (nanoTime). */
    private volatile long lastHeard;
    /** When the member last answered a probe (nanoTime). */
    private volatile long lastAnswered;
    private volatile Flow.Subscription subscription;
    /** The current stream's exchange as {@code sendAsync} returned it: cancelling it ends the request. */
    private volatile CompletableFuture<?> exchange;
    private volatile ScheduledFuture<?> timer;
    private volatile boolean probing;
    /** The token the current stream was opened with, null for none. */
    private volatile String token;
    /** Whether the current stream was opened with a new token because etcd called the one before invalid. */
    private volatile boolean reauthenticated;
    /** The stream the callbacks belong to; lines of a stream replaced by a refresh are ignored. */
    private final Object lock = new Object();
    private int generation;

    GatewayWatch(final EtcdGateway gateway, final String prefix, final long fromRevision,
                 final SubnetRegistry.WatchSink sink, final Consumer<GatewayWatch> onEnd, final Timing timing) {
        this.gateway = gateway;
        this.timing = timing;
        this.prefix = prefix;
        this.sink = sink;
        this.onEnd = onEnd;
        this.startRevision = fromRevision;
        this.nextRevision = fromRevision;
    }

    /** Opens the stream; a failure to open reaches the sink. Never blocks on the network. */
    void open() {
        try {
            timer = gateway.executor().scheduleWithFixedDelay(this::check, timing.probeInterval().toNanos(),
                timing.probeInterval().toNanos() / 2, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            fail(new IllegalStateException("the etcd client is closed", e));
            return;
        }
        connect(null);
    }

    /**
     * Opens a stream from the next revision on the endpoint in use, authenticating first (without blocking) when
     * there is no token or the known one is {@code stale}.
     */
    private void connect(final String stale) {
        final byte[] key = prefix.getBytes(StandardCharsets.UTF_8);
        final ObjectNode create = gateway.object().put("key", GatewayRegistry.b64(key))
            .put("range_end", GatewayRegistry.b64(GatewayRegistry.prefixEnd(key)))
            .put("start_revision", nextRevision).put("prev_kv", true).put("progress_notify", true);
        final ObjectNode body = gateway.object();
        body.set("create_request", create);
        final int gen;
        synchronized (lock) {
            gen = ++generation;
            startRevision = nextRevision;
        }
        lastHeard = System.nanoTime();
        // not answered yet: a quiet new stream gets probed
        lastAnswered = lastHeard - timing.probeInterval().toNanos();
        final URI on = gateway.endpoint();
        endpoint = on;
        gateway.tokenAsync("watch " + prefix, on, stale).whenComplete((auth, e) -> {
            if (!current(gen)) {
                return;
            }
            if (e == null) {
                send(gen, on, body, auth);
                return;
            }
            final Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null
                ? e.getCause() : e;
            if (cause.getCause() instanceof java.io.IOException) {
                gateway.leave(on);
            }
            fail(cause);
        });
    }

    private void send(final int gen, final URI on, final ObjectNode body, final String auth) {
        final Stream stream = new Stream(gen);
        token = auth;
        final CompletableFuture<?> x = gateway.stream(on, "/watch", body, auth, s -> status = s, stream);
        exchange = x;
        stream.exchange = x;
        if (!current(gen)) {
            cancel(null, x); // closed or replaced meanwhile, perhaps before close() could see x
            return;
        }
        x.whenComplete((r, e) -> {
            if (e != null && current(gen)) {
                gateway.leave(on);
                fail(e instanceof java.util.concurrent.CompletionException && e.getCause() != null
                    ? e.getCause() : e);
            }
        });
    }

    private boolean current(final int gen) {
        synchronized (lock) {
            return gen == generation && !done;
        }
    }

    /** The lines of one stream, passed on while it is the current one. */
    private final class Stream implements Flow.Subscriber<String> {
        private final int gen;
        private volatile CompletableFuture<?> exchange;

        Stream(final int gen) {
            this.gen = gen;
        }

        @Override
        public void onSubscribe(final Flow.Subscription s) {
            if (current(gen)) {
                subscription = s;
                s.request(Long.MAX_VALUE);
            } else {
                cancel(s, exchange);
            }
        }

        @Override
        public void onNext(final String line) {
            if (current(gen)) {
                line(line);
            }
        }

        @Override
        public void onError(final Throwable t) {
            if (current(gen)) {
                gateway.leave(endpoint);
                fail(t);
            }
        }

        @Override
        public void onComplete() {
            if (current(gen) && status != 200) {
                notEtcd("empty body");
            } else if (current(gen)) {
                end(sink::onCompleted);
            }
        }
    }

    private void line(final String line) {
        lastHeard = System.nanoTime();
        if (line.isBlank()) {
            return;
        }
        final JsonNode n = EtcdGateway.parse(line);
        // a stream line is {"result": ...} or {"error": ...}; a parser that stops after the first value would read
        // "404 page not found" as the number 404
        if (n == null || !n.isObject() || !n.has("result") && !n.has("error")) {
            notEtcd(line.substring(0, Math.min(line.length(), 200)));
            return;
        }
        final EtcdGateway.Refused refused = EtcdGateway.refusal(n);
        if (refused != null && EtcdGateway.staleToken(refused.getMessage()) && !reauthenticated) {
            reauthenticate();
            return;
        }
        if (refused != null) {
            if (refused.code() == 14) {
                gateway.leave(endpoint);
            }
            fail(refused);
            return;
        }
        final JsonNode r = n.path("result");
        final long storeRevision = r.path("header").path("revision").asLong();
        final long compacted = r.path("compact_revision").asLong();
        if (compacted != 0) {
            end(() -> sink.onCompacted(compacted));
            return;
        }
        if (r.path("canceled").asBoolean()) {
            // etcd's simple tokens expire unused (--auth-token-ttl) and die with the member's restart
            if (staleTokenCancel(r.path("cancel_reason").asText()) && !reauthenticated) {
                reauthenticate();
                return;
            }
            fail(new java.io.IOException("etcd cancelled the watch of " + prefix + ": "
                + r.path("cancel_reason").asText("no reason given")));
            return;
        }
        final JsonNode events = r.path("events");
        if (r.path("created").asBoolean()) {
            reauthenticated = false;
            // the store's revision at creation: one below the start revision - 1 shows the store went back
            if (storeRevision != 0 && storeRevision < startRevision - 1) {
                sink.onStoreBehind(storeRevision);
            }
            return;
        }
        final List<SubnetRegistry.Event> out = new ArrayList<>(events.size());
        for (JsonNode ev : events) {
            final JsonNode kv = ev.path("kv");
            final String key = GatewayRegistry.text(kv.get("key"));
            final long mod = kv.path("mod_revision").asLong();
            // PUT is the enum's zero value, which the gateway leaves out
            if ("DELETE".equals(ev.path("type").asText("PUT"))) {
                out.add(new SubnetRegistry.Event(false, key, new byte[0], 0, mod, 0));
            } else {
                out.add(new SubnetRegistry.Event(true, key, GatewayRegistry.bytes(kv.get("value")),
                    kv.path("lease").asLong(), mod, kv.path("create_revision").asLong()));
            }
            nextRevision = Math.max(nextRevision, mod + 1);
        }
        final long progress = out.isEmpty() ? storeRevision : 0;
        if (progress != 0) {
            nextRevision = Math.max(nextRevision, progress + 1);
        }
        sink.onEvents(out, progress);
    }


    /** The endpoint answered, but not as etcd's gateway does: the watch fails, the next one goes elsewhere. */
    private void notEtcd(final String excerpt) {
        gateway.leave(endpoint);
        fail(new java.io.IOException("watch of " + prefix + ": HTTP " + status + " from " + endpoint
            + EtcdGateway.API + "/watch is not etcd's JSON (" + excerpt + "): " + EtcdGateway.NOT_GATEWAY));
    }

    /**
     * Whether etcd cancelled the stream because of its token: as for a request ({@link EtcdGateway#staleToken}), or
     * {@code permission denied}, which etcd before v3.4.22 and v3.5.6 gave a watch opened with an expired token.
     * Retried once with a new token; a real denial then fails the watch.
     */
    private static boolean staleTokenCancel(final String reason) {
        return EtcdGateway.staleToken(reason) || reason.contains("etcdserver: permission denied");
    }

    /** Timer: as {@link #checkQuietly}, and an unexpected failure neither stops the timer nor stops later probes. */
    private void check() {
        try {
            checkQuietly();
        } catch (RuntimeException e) {
            probing = false;
            LOG.warn("Unexpected error checking the etcd watch of {}; checking again later", prefix, e);
        }
    }

    /** A quiet stream gets its member probed, or is refreshed after long quiet. */
    private void checkQuietly() {
        if (done || probing) {
            return;
        }
        final long now = System.nanoTime();
        final long quiet = now - lastHeard;
        if (quiet >= timing.refreshInterval().toNanos()) {
            refresh();
        } else if (quiet >= timing.probeInterval().toNanos()
            && now - lastAnswered >= timing.probeInterval().toNanos()) {
            probing = true;
            final URI probed = endpoint;
            gateway.probe(probed, timing.probeTimeout()).thenAccept(answered -> {
                probing = false;
                if (!answered && !done && probed.equals(endpoint)) {
                    gateway.leave(probed);
                    fail(new TimeoutException("etcd member " + probed + " did not answer a status request within "
                        + timing.probeTimeout() + " while the watch of " + prefix + " was quiet for "
                        + Duration.ofNanos(quiet).toSeconds() + " s"));
                } else if (answered) {
                    lastAnswered = System.nanoTime();
                }
            });
        }
    }

    /** Has {@link #refresh} run on the client's thread, where the stream's lines arrive (never blocks). */
    void refreshSoon() {
        try {
            gateway.executor().execute(this::refresh);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // the client is closing: so is this watch
        }
    }

    /** Replaces the stream with a new one from the next revision; the sink sees nothing of it. */
    private void refresh() {
        replace(null);
    }

    /** Replaces the stream with one opened with a new token; if etcd refuses that one too, the watch fails. */
    private void reauthenticate() {
        reauthenticated = true;
        replace(token == null ? "" : token); // "": no token was sent, etcd had authentication off
    }

    private void replace(final String stale) {
        final Flow.Subscription s = subscription;
        final CompletableFuture<?> x = exchange;
        synchronized (lock) {
            if (done) {
                return;
            }
            generation++; // the old stream's callbacks are ignored from here on
        }
        cancel(s, x);
        connect(stale);
    }

    /**
     * Ends a stream: the exchange first, the future {@code sendAsync} returned (not a dependent of it), which makes
     * the JDK close the connection and count the request as over. Cancelling the body's subscription first (or only
     * a dependent future) closes the connection too, but the JDK 17 client then counts the request as pending for
     * ever, and its selector thread outlives the client (GatewayWatchTest#closeLeavesNothingBehind).
     */
    private static void cancel(final Flow.Subscription s, final CompletableFuture<?> x) {
        if (x != null) {
            x.cancel(true);
        }
        if (s != null) {
            s.cancel();
        }
    }

    private void fail(final Throwable t) {
        end(() -> sink.onError(t));
    }

    /** Ends the watch once: stops the stream and the timer, then tells the sink. */
    private void end(final Runnable tell) {
        synchronized (lock) {
            if (done) {
                return;
            }
            done = true;
        }
        stop();
        tell.run();
    }

    private void stop() {
        final ScheduledFuture<?> t = timer;
        if (t != null) {
            t.cancel(false);
        }
        cancel(subscription, exchange);
        onEnd.accept(this);
    }

    @Override
    public void close() {
        synchronized (lock) {
            if (done) {
                return;
            }
            done = true;
        }
        stop();
    }
}
