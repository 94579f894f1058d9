package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.overlay.testing.EtcdServer;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * {@link GatewayRegistry} against etcd 3.4 members started for each test: authentication with expiring tokens,
 * endpoints that are not etcd's gateway, and etcd's answers at the edges (unknown leases, paging, odd keys).
 */
class GatewayRegistryTest {
    private static final Duration WAIT = Duration.ofSeconds(15);
    private static final String NETWORK = "/coreos.com/network";

    private static EtcdSettings.Builder settings(final EtcdServer server) {
        return EtcdSettings.builder().endpoints(server.endpoint()).requestTimeout(Duration.ofSeconds(3));
    }

    /**
     * The JDK 17 client keeps the exchange that opened a connection, its response included, for as long as the
     * connection lives (its connect-timeout timer event holds it). An answer's bytes must not stay reachable through
     * it once the gateway has handed them over: a 5,000-lease listing stayed live that way (1.1 MB).
     */
    @Test
    void anAnswerIsNotKeptByTheConnectionThatCarriedIt() throws Exception {
        try (EtcdServer server = EtcdServer.launch();
             EtcdGateway g = new EtcdGateway(settings(server).build(), null)) {
            server.etcdctl("put", NETWORK + "/config", "{\"Network\":\"100.64.0.0/10\"}");
            final AtomicReference<WeakReference<byte[]>> first = new AtomicReference<>();
            final int size = g.call("get config", "/kv/range",
                g.object().put("key", GatewayRegistry.b64(NETWORK + "/config")), a -> {
                    first.set(new WeakReference<>(a.body()));
                    return a.body().length;
                });
            assertThat(size).isGreaterThan(0);
            // the connection is pooled and still open: a second request reuses it
            assertThat(g.call("get config again", "/kv/range",
                g.object().put("key", GatewayRegistry.b64(NETWORK + "/config"))).path("count").asText()).isEqualTo("1");
            await().atMost(WAIT).pollInterval(Duration.ofMillis(100)).until(() -> {
                System.gc();
                return first.get().get() == null;
            });
        }
    }

    /**
     * etcd's simple tokens expire after {@code --auth-token-ttl} unused (1 s here). A request after that
     * authenticates again; so must a watch opened after that with no request in between, and a watch's in-place
     * refresh after its token expired.
     */
    @Test
    void expiredTokensAreReplacedForRequestsWatchesAndRefreshes() throws Exception {
        try (EtcdServer server = EtcdServer.launch(null, List.of("--auth-token-ttl", "1"))) {
            TlsAndAuthTest.enableAuth(server);
            try (GatewayRegistry r = new GatewayRegistry(settings(server).credentials("overlay", "s3cret").build())) {
                assertThat(r.get(NETWORK + "/config")).isPresent();
                Thread.sleep(2500);
                assertThat(r.get(NETWORK + "/config")).as("a request after the token expired").isPresent();
                Thread.sleep(2500);

                final GatewayWatchTest.Sink opened = new GatewayWatchTest.Sink();
                r.watch(NETWORK + "/subnets/", 1, opened);
                server.etcdctl("--user=root:rootpw", "put", NETWORK + "/subnets/a", "1");
                await().atMost(WAIT).until(() -> !opened.calls.isEmpty());
                assertThat(opened.calls).as("a watch opened after the token expired").containsExactly("events 1");

                r.watchTiming(new GatewayWatch.Timing(Duration.ofMillis(300), Duration.ofSeconds(5),
                    Duration.ofMillis(2500)));
                final GatewayWatchTest.Sink refreshed = new GatewayWatchTest.Sink();
                final long from = r.read(NETWORK + "/config").revision() + 1;
                r.watch(NETWORK + "/subnets/", from, refreshed);
                final long started = server.metric("grpc_server_started_total", "grpc_method=\"Watch\"");
                await().atMost(WAIT).until(() -> server.metric("grpc_server_started_total",
                    "grpc_method=\"Watch\"") > started); // refreshed, 1.5 s after its token expired
                Thread.sleep(500);
                server.etcdctl("--user=root:rootpw", "put", NETWORK + "/subnets/b", "2");
                await().atMost(WAIT).until(() -> !refreshed.calls.isEmpty());
                assertThat(refreshed.calls).as("a watch refreshed after the token expired").containsExactly("events 1");
            }
        }
    }

    /** A wrong password: requests and watches fail with etcd's own words. */
    @Test
    void aWrongPasswordSaysAuthenticationFailed() throws Exception {
        try (EtcdServer server = EtcdServer.launch()) {
            TlsAndAuthTest.enableAuth(server);
            try (GatewayRegistry r = new GatewayRegistry(settings(server).credentials("overlay", "wrong").build())) {
                assertThatThrownBy(() -> r.get(NETWORK + "/config")).isInstanceOf(EtcdUnavailableException.class)
                    .hasMessageContaining(EtcdGateway.AUTH_FAILED).hasMessageContaining(server.endpoint());
                final GatewayWatchTest.Sink sink = new GatewayWatchTest.Sink();
                r.watch(NETWORK + "/subnets/", 1, sink);
                await().atMost(WAIT).until(sink::ended);
                assertThat(sink.error).hasMessageContaining(EtcdGateway.AUTH_FAILED);
            }
        }
    }

    /**
     * Authentication turned on after the agent started: the client had learnt that etcd has none and sent no token;
     * etcd then says the user name is empty, and the client logs in.
     */
    @Test
    void authenticationTurnedOnLaterIsLoggedInto() throws Exception {
        try (EtcdServer server = EtcdServer.launch();
             GatewayRegistry r = new GatewayRegistry(settings(server).credentials("overlay", "s3cret").build())) {
            server.etcdctl("put", NETWORK + "/config", "{}");
            assertThat(r.get(NETWORK + "/config")).as("authentication off").isPresent();
            TlsAndAuthTest.enableAuth(server);
            assertThat(r.get(NETWORK + "/config")).as("authentication on").isPresent();
        }
    }

    /**
     * etcd 3.5.28+ and 3.6 refuse the status request to users without the root role (403): the member answered, so a
     * watch's probe takes it as alive. A member that does not answer at all is not.
     */
    @Test
    void aMemberThatRefusesItsStatusIsAlive() throws Exception {
        try (NotEtcd refusing = new NotEtcd(403, "{\"error\":\"etcdserver: permission denied\",\"code\":7}");
             EtcdGateway g = new EtcdGateway(EtcdSettings.builder().endpoints(refusing.endpoint()).build(), null)) {
            assertThat(g.probe(java.net.URI.create(refusing.endpoint()), Duration.ofSeconds(2))
                .get(5, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        }
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 8, java.net.InetAddress.getLoopbackAddress());
             EtcdGateway g = new EtcdGateway(EtcdSettings.builder()
                 .endpoints("http://127.0.0.1:" + silent.getLocalPort()).build(), null)) {
            // the kernel accepts the connection; nothing ever answers
            assertThat(g.probe(java.net.URI.create("http://127.0.0.1:" + silent.getLocalPort()), Duration.ofSeconds(1))
                .get(5, java.util.concurrent.TimeUnit.SECONDS)).isFalse();
        }
    }

    /**
     * etcd with authentication and {@code --client-cert-auth} on refuses gateway requests whose client certificate has
     * a CommonName, in plain text (its embed/serve.go): the error says what to do, not that the gateway is off.
     */
    @Test
    void aCertificateCommonNameRefusedByTheGatewaySaysWhatToDo() throws Exception {
        try (NotEtcd refusing = new NotEtcd(400, "CommonName of client sending a request against gateway will be "
                + "ignored and not used as expected\n");
             GatewayRegistry r = new GatewayRegistry(EtcdSettings.builder().endpoints(refusing.endpoint())
                 .requestTimeout(Duration.ofSeconds(3)).build())) {
            assertThatThrownBy(() -> r.get(NETWORK + "/config")).isInstanceOf(EtcdUnavailableException.class)
                .hasMessageContaining(refusing.endpoint()).hasMessageContaining("without a CN")
                .hasMessageNotContaining("gateway on");
        }
    }

    /** A web server on loopback that is not etcd: every request gets 404 and a line of text, as Go's mux answers. */
    private static final class NotEtcd implements AutoCloseable {
        private final com.sun.net.httpserver.HttpServer server;

        NotEtcd() throws java.io.IOException {
            this(404, "404 page not found\n");
        }

        /** Answers every request with {@code status} and {@code text}. */
        NotEtcd(final int status, final String text) throws java.io.IOException {
            server = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 8);
            server.createContext("/", x -> {
                final byte[] body = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                x.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
                x.sendResponseHeaders(status, body.length);
                x.getResponseBody().write(body);
                x.close();
            });
            server.start();
        }

        String endpoint() {
            return "http://127.0.0.1:" + server.getAddress().getPort();
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    /**
     * An endpoint that is not etcd's JSON gateway, a web server answering 404 or an etcd member started with
     * {@code --enable-grpc-gateway=false}: requests and watches fail naming the endpoint and the likely cause; listed
     * before a working member, requests and watches go to that one.
     */
    @Test
    void anEndpointWithoutTheGatewayIsNamedAndPassedOver() throws Exception {
        try (NotEtcd web = new NotEtcd();
             EtcdServer off = EtcdServer.launch(null, List.of("--enable-grpc-gateway=false"));
             EtcdServer on = EtcdServer.launch()) {
            for (String bad : List.of(web.endpoint(), off.endpoint())) {
                try (GatewayRegistry r = new GatewayRegistry(EtcdSettings.builder().endpoints(bad)
                    .requestTimeout(Duration.ofSeconds(3)).build())) {
                    assertThatThrownBy(() -> r.get("/k")).isInstanceOf(EtcdUnavailableException.class)
                        .hasMessageContaining(bad + "/v3/kv/range").hasMessageContaining("HTTP 404")
                        .hasMessageContaining("--enable-grpc-gateway");
                    final GatewayWatchTest.Sink sink = new GatewayWatchTest.Sink();
                    r.watch("/p/", 1, sink);
                    await().atMost(WAIT).until(sink::ended);
                    assertThat(sink.calls).hasSize(1);
                    assertThat(sink.error).as("watch on %s", bad).isNotNull().hasMessageContaining(bad)
                        .hasMessageContaining("HTTP 404").hasMessageContaining("--enable-grpc-gateway");
                }
            }
            on.etcdctl("put", "/p/a", "1");
            try (GatewayRegistry r = new GatewayRegistry(EtcdSettings.builder()
                .endpoints(web.endpoint(), off.endpoint(), on.endpoint()).requestTimeout(Duration.ofSeconds(3))
                .build())) {
                assertThat(r.get("/p/a")).as("the first request lands on the member with the gateway").isPresent();
                final GatewayWatchTest.Sink sink = new GatewayWatchTest.Sink();
                r.watch("/p/", 1, sink);
                await().atMost(WAIT).until(() -> !sink.calls.isEmpty());
                assertThat(sink.calls).containsExactly("events 1");
                assertThat(r.failedRequests()).isZero();
            }
            try (GatewayRegistry r = new GatewayRegistry(EtcdSettings.builder()
                .endpoints(web.endpoint(), on.endpoint()).requestTimeout(Duration.ofSeconds(3)).build())) {
                final GatewayWatchTest.Sink first = new GatewayWatchTest.Sink();
                r.watch("/p/", 1, first);
                await().atMost(WAIT).until(first::ended);
                assertThat(first.error).as("a watch before any request").hasMessageContaining(web.endpoint());
                final GatewayWatchTest.Sink again = new GatewayWatchTest.Sink();
                r.watch("/p/", 1, again);
                await().atMost(WAIT).until(() -> !again.calls.isEmpty());
                assertThat(again.calls).as("reopened on the next endpoint").containsExactly("events 1");
            }
        }
    }

    /**
     * Lease ids are int64s the gateway writes as strings and reads as numbers: they must survive both ways exactly
     * (etcdctl lists the same id). Unknown leases: a renewal says gone, time-to-live says gone, revoke is quiet.
     */
    @Test
    void leasesAtTheEdges() throws Exception {
        try (EtcdServer server = EtcdServer.launch();
             GatewayRegistry r = new GatewayRegistry(settings(server).build())) {
            final SubnetRegistry.Granted g = r.grant(30);
            assertThat(server.etcdctl("lease", "list")).contains(Long.toHexString(g.id()));
            assertThat(g.ttlSeconds()).isEqualTo(30);
            assertThat(r.keepAliveOnce(g.id())).isEqualTo(30);
            assertThat(r.createIfAbsent("/l/k", new byte[] {1}, g.id())).isPresent();
            final SubnetRegistry.LeaseInfo info = r.timeToLive(g.id(), true);
            assertThat(info.grantedSeconds()).isEqualTo(30);
            assertThat(info.remainingSeconds()).isBetween(1L, 30L);
            assertThat(info.attachedKeys()).isEqualTo(1);
            assertThat(r.read("/l/k").value().orElseThrow().leaseId()).isEqualTo(g.id());

            final long unknown = 0x7fff_0000_0000_1234L;
            assertThatThrownBy(() -> r.keepAliveOnce(unknown)).isInstanceOf(SubnetRegistry.LeaseGoneException.class);
            assertThat(r.timeToLive(unknown, false).gone()).isTrue();
            r.revoke(unknown);

            r.revoke(g.id());
            await().atMost(WAIT).until(() -> r.timeToLive(g.id(), false).gone());
            assertThat(r.get("/l/k")).as("the revoked lease's key").isEmpty();
            assertThatThrownBy(() -> r.keepAliveOnce(g.id())).isInstanceOf(SubnetRegistry.LeaseGoneException.class);
        }
    }

    /**
     * Keys and values as bytes: an empty value, every byte value, non-ASCII keys at the edge of the prefix range
     * ({@code "/ü/"} ends at {@code "/ü0"}, {@code "/ü/ÿ"} is inside); the conditional writes' outcomes both ways.
     */
    @Test
    void keysValuesAndConditionalWritesAtTheEdges() throws Exception {
        try (EtcdServer server = EtcdServer.launch();
             GatewayRegistry r = new GatewayRegistry(settings(server).build())) {
            final byte[] all = new byte[256];
            for (int i = 0; i < all.length; i++) {
                all[i] = (byte) i;
            }
            final GatewayWatchTest.Sink sink = new GatewayWatchTest.Sink();
            r.watch("/ü/", 1, sink);
            final long created = r.createIfAbsent("/ü/a", all, 0).orElseThrow();
            assertThat(r.createIfAbsent("/ü/a", new byte[0], 0)).as("exists").isEmpty();
            assertThat(r.createIfAbsent("/ü/", new byte[0], 0)).isPresent();
            assertThat(r.createIfAbsent("/ü/ÿ", "x".getBytes(java.nio.charset.StandardCharsets.UTF_8), 0))
                .isPresent();
            assertThat(r.createIfAbsent("/ü0", new byte[] {1}, 0)).isPresent();

            final SubnetRegistry.Value a = r.read("/ü/a").value().orElseThrow();
            assertThat(a.value()).isEqualTo(all);
            assertThat(a.modRevision()).isEqualTo(created);
            assertThat(a.leaseId()).isZero();
            final SubnetRegistry.Read empty = r.read("/ü/");
            assertThat(empty.value()).as("an empty value is a value").isPresent();
            assertThat(empty.value().get().value()).isEmpty();
            assertThat(r.read("/nothing").value()).isEmpty();
            assertThat(r.read("/nothing").revision()).isEqualTo(empty.revision());

            assertThat(r.keys("/ü/", 100)).containsExactly("/ü/", "/ü/a", "/ü/ÿ");
            assertThat(r.keys("/ü/", 2)).containsExactly("/ü/", "/ü/a");

            assertThat(r.putIfUnchanged("/ü/a", new byte[0], 0, created - 1)).as("changed since").isEmpty();
            final long updated = r.putIfUnchanged("/ü/a", new byte[0], 0, created).orElseThrow();
            assertThat(r.read("/ü/a").value().orElseThrow().value()).isEmpty();
            assertThat(r.putIfUnchanged("/ü/gone", new byte[] {1}, 0, 5)).as("absent").isEmpty();
            assertThat(r.deleteIfUnchanged("/ü/a", created)).isFalse();
            assertThat(r.deleteIfUnchanged("/ü/a", updated)).isTrue();
            assertThat(r.read("/ü/a").value()).isEmpty();

            await().atMost(WAIT).until(() -> sink.events.size() == 5);
            assertThat(sink.events).extracting(e -> (e.put() ? "put " : "del ") + e.key() + " " + e.value().length)
                .containsExactly("put /ü/a 256", "put /ü/ 0", "put /ü/ÿ 1", "put /ü/a 0", "del /ü/a 0");
            assertThat(sink.events.get(0).value()).isEqualTo(all);
            assertThat(sink.events.get(0).createRevision()).isEqualTo(created);
            assertThat(sink.events.get(3).createRevision()).as("kept across puts").isEqualTo(created);
            assertThat(sink.events.get(3).modRevision()).isEqualTo(updated);
        }
    }

    /**
     * A member restarted between two requests closed the client's pooled connection: the next request must not fail
     * on it (the JDK does not retry a POST), nor a watch opened then.
     */
    @Test
    void aRestartedMemberIsUsedAgainAtTheFirstRequest() throws Exception {
        try (EtcdServer server = EtcdServer.launch();
             GatewayRegistry r = new GatewayRegistry(settings(server).build())) {
            server.etcdctl("put", "/p/a", "1");
            assertThat(r.get("/p/a")).isPresent();
            server.stop();
            server.start();
            assertThat(r.get("/p/a")).isPresent();
            assertThat(r.failedRequests()).isZero();
        }
    }
}
