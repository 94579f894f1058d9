package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.overlay.testing.EtcdServer;
import java.time.Duration;
import java.util.List;
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

                r.watchTiming(new GatewayWatch.Timing(Duration.ofMillis(300), Duration.ofSeconds(2),
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

    /** A web server on loopback that is not etcd: every request gets 404 and a line of text, as Go's mux answers. */
    private static final class NotEtcd implements AutoCloseable {
        private final com.sun.net.httpserver.HttpServer server;

        NotEtcd() throws java.io.IOException {
            server = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 8);
            server.createContext("/", x -> {
                final byte[] body = "404 page not found\n".getBytes(java.nio.charset.StandardCharsets.UTF_8);
                x.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
                x.sendResponseHeaders(404, body.length);
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
}
