package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.OverlayStatus;
import io.overlay.core.spi.TrafficCounters;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The /healthz and /readyz server over real HTTP on loopback, and the {@code health} subcommand against it. */
class HealthServerTest {
    private static final Ipv4Prefix SUBNET = Ipv4Prefix.parse("100.64.3.0/24");
    private static final OverlayStatus STARTING = status(false, "starting", null);
    private static final OverlayStatus READY = status(true, "", new Lease(SUBNET,
        LeaseAttrs.udp(Ipv4.parse("198.18.0.1")), false, Duration.ofHours(24)));

    private final AtomicReference<OverlayStatus> current = new AtomicReference<>(STARTING);
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private HealthServer server;

    private static OverlayStatus status(final boolean ready, final String reason, final Lease lease) {
        return new OverlayStatus(ready, reason, lease, Ipv4Prefix.parse("100.64.0.0/16"), 1472, "flannel0",
            "lxcbr0", Map.of(), TrafficCounters.ZERO);
    }

    @BeforeEach
    void start() throws Exception {
        server = HealthServer.start("127.0.0.1", 0, current::get);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> request(final String method, final String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.address().getPort() + path))
            .timeout(Duration.ofSeconds(5)).method(method, HttpRequest.BodyPublishers.noBody()).build(),
            HttpResponse.BodyHandlers.ofString());
    }

    private int health(final StringWriter out, final String... args) {
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(out, true));
        return cl.execute(args);
    }

    @Test
    void healthzAnswersWhileTheProcessRuns() throws Exception {
        final HttpResponse<String> rsp = request("GET", "/healthz");
        assertThat(rsp.statusCode()).isEqualTo(200);
        assertThat(rsp.body()).isEqualTo("overlay is running\n");
        assertThat(rsp.headers().firstValue("Content-Type")).contains("text/plain; charset=utf-8");
    }

    @Test
    void readyzIs503WithTheReasonUntilReadyThen200WithTheHealthLine() throws Exception {
        HttpResponse<String> rsp = request("GET", "/readyz");
        assertThat(rsp.statusCode()).isEqualTo(503);
        assertThat(rsp.body()).isEqualTo("not-ready starting\n");

        current.set(READY);
        rsp = request("GET", "/readyz");
        assertThat(rsp.statusCode()).isEqualTo(200);
        assertThat(rsp.body()).isEqualTo("ready lxcbr0:100.64.3.1 subnet:100.64.3.1/24 mtu:1472\n");

        current.set(status(false, "lease 100.64.3.0/24 lost; re-acquiring", null));
        rsp = request("GET", "/readyz");
        assertThat(rsp.statusCode()).isEqualTo(503);
        assertThat(rsp.body()).isEqualTo("not-ready lease 100.64.3.0/24 lost; re-acquiring\n");
    }

    @Test
    void otherPathsAre404AndOtherMethods405() throws Exception {
        assertThat(request("GET", "/healthzz").statusCode()).isEqualTo(404);
        assertThat(request("GET", "/").statusCode()).isEqualTo(404);
        final HttpResponse<String> post = request("POST", "/readyz");
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("Allow")).contains("GET, HEAD");
        assertThat(request("HEAD", "/healthz").statusCode()).isEqualTo(200);
    }

    @Test
    void theHealthCommandPrintsTheLineAndExits0WhenReadyElse1() {
        final String port = Integer.toString(server.address().getPort());
        StringWriter out = new StringWriter();
        assertThat(health(out, "health", "--healthz-ip", "127.0.0.1", "--healthz-port", port)).isEqualTo(1);
        assertThat(out.toString()).isEqualTo("not-ready starting" + System.lineSeparator());

        current.set(READY);
        out = new StringWriter();
        assertThat(health(out, "health", "--healthz-ip", "0.0.0.0", "--healthz-port", port)).isZero();
        assertThat(out.toString()).isEqualTo("ready lxcbr0:100.64.3.1 subnet:100.64.3.1/24 mtu:1472"
            + System.lineSeparator());
    }

    @Test
    void theHealthCommandReadsThePortFromTheEnvironment() {
        current.set(READY);
        final CommandLine cl = OverlayMain.commandLine(Map.of("FLANNELD_HEALTHZ_PORT",
            Integer.toString(server.address().getPort())));
        final StringWriter out = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        assertThat(cl.execute("health")).isZero();
        assertThat(out.toString()).startsWith("ready lxcbr0:");
    }

    @Test
    void theHealthCommandReportsAnUnreachableInstanceAsNotReady() throws Exception {
        final int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        final StringWriter out = new StringWriter();
        assertThat(health(out, "health", "--healthz-port", Integer.toString(closed))).isEqualTo(1);
        assertThat(out.toString()).startsWith("not-ready cannot reach http://127.0.0.1:" + closed + "/readyz: "
            + "connection refused (is OverlayMain running with --healthz-port " + closed + "?)");

        final StringWriter noPort = new StringWriter();
        assertThat(health(noPort, "health")).isEqualTo(1);
        assertThat(noPort.toString()).contains("--healthz-port");
    }

    @Test
    void aBusyPortIsAClearError() throws Exception {
        try {
            HealthServer.start("127.0.0.1", server.address().getPort(), current::get).close();
            org.assertj.core.api.Assertions.fail("second bind on the same port succeeded");
        } catch (java.io.IOException e) {
            assertThat(e.getMessage()).contains("127.0.0.1:" + server.address().getPort());
        }
    }
}
