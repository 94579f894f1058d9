package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.core.OverlayHistory;
import io.overlay.core.OverlayStatus;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.AllocatorStatus;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.EngineOffloads;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The launcher's {@code /metrics} and {@code /status} pages over real HTTP on loopback, {@code overlay status}
 * against them, the status table, and the JSON log line.
 */
class OperatorPagesTest {
    private static final Ipv4Prefix OWN = Ipv4Prefix.parse("100.64.3.0/24");
    private static final Ipv4Prefix PEER = Ipv4Prefix.parse("100.64.9.0/24");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final OverlayHistory history = new OverlayHistory();
    private final AtomicReference<OverlayStatus> current = new AtomicReference<>(status(false));
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private HealthServer server;

    private static OverlayStatus status(final boolean ready) {
        final Lease lease = ready ? new Lease(OWN, LeaseAttrs.udp(Ipv4.parse("198.18.0.1")), false,
            Duration.ofHours(24)) : null;
        return new OverlayStatus(ready, ready ? "" : "starting", lease, Ipv4Prefix.parse("100.64.0.0/16"), 1472,
            "flannel0", null, Map.of(PEER, new Peer(Ipv4.parse("198.18.0.2"), 8285)),
            new TrafficCounters(Map.of(Counter.TUN_TO_UDP_PACKETS, 20L, Counter.TUN_TO_UDP_BYTES, 1680L,
                Counter.UDP_TO_TUN_PACKETS, 21L, Counter.UDP_TO_TUN_BYTES, 1764L), Map.of(DropReason.NO_ROUTE, 3L)),
            new AllocatorStatus(List.of("http://198.18.0.254:2379"), "running", 1, 2, 0, 0),
            new EngineOffloads(true, true, false));
    }

    @BeforeEach
    void start() throws Exception {
        server = HealthServer.start("127.0.0.1", 0, current::get,
            PrometheusPage.operatorPages(current::get, history));
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> get(final String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.address().getPort() + path))
            .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void metricsAreInThePrometheusTextFormatWithTheJvmMeters() throws Exception {
        final HttpResponse<String> rsp = get("/metrics");
        assertThat(rsp.statusCode()).isEqualTo(200);
        assertThat(rsp.headers().firstValue("Content-Type")).contains("text/plain; version=0.0.4; charset=utf-8");
        assertThat(rsp.body()).contains("overlay_tun_to_udp_packets_total 20.0",
            "overlay_drops_total{reason=\"no_route\"} 3.0", "overlay_etcd_watch_resets_total 2.0",
            "jvm_memory_used_bytes", "process_uptime_seconds");
        assertThat(rsp.body()).doesNotContain("process_cpu_time_ns_total", "system_cpu_count");
    }

    @Test
    void statusIsJsonWithTheLeaseThePeersAndTheCounters() throws Exception {
        current.set(status(true));
        history.leaseAcquired(current.get().lease());
        history.peerAdded(new Lease(PEER, LeaseAttrs.udp(Ipv4.parse("198.18.0.2")), false, Duration.ofHours(24)));
        final HttpResponse<String> rsp = get("/status");
        assertThat(rsp.statusCode()).isEqualTo(200);
        assertThat(rsp.headers().firstValue("Content-Type")).contains("application/json");
        final JsonNode s = JSON.readTree(rsp.body());
        assertThat(s.path("ready").asBoolean()).isTrue();
        assertThat(s.path("lease").path("subnet").asText()).isEqualTo("100.64.3.0/24");
        assertThat(s.path("lease").path("publicIp").asText()).isEqualTo("198.18.0.1");
        assertThat(s.path("lease").path("remainingSeconds").asLong()).isBetween(24 * 3600L - 60, 24 * 3600L);
        assertThat(s.path("mtu").asInt()).isEqualTo(1472);
        assertThat(s.path("interface").asText()).isEqualTo("flannel0");
        assertThat(s.path("peers")).hasSize(1);
        assertThat(s.path("peers").get(0).path("subnet").asText()).isEqualTo("100.64.9.0/24");
        assertThat(s.path("peers").get(0).path("publicIp").asText()).isEqualTo("198.18.0.2");
        assertThat(s.path("peers").get(0).path("changedAt").isTextual()).isTrue();
        assertThat(s.path("counters").path("TUN_TO_UDP_PACKETS").asLong()).isEqualTo(20);
        assertThat(s.path("counters").path("drops").path("NO_ROUTE").asLong()).isEqualTo(3);
        assertThat(s.path("etcd").path("endpoints").get(0).asText()).isEqualTo("http://198.18.0.254:2379");
        assertThat(s.path("etcd").path("state").asText()).isEqualTo("running");
        assertThat(s.path("counters").path("TUN_SUPER_PACKETS").asLong()).isZero();
        assertThat(s.path("offloads").path("tunVnetHeader").asBoolean()).isTrue();
        assertThat(s.path("offloads").path("udpGro").asBoolean()).isFalse();
    }

    @Test
    void theStatusCommandPrintsATableAndExits0OnlyWhenReady() {
        final String port = Integer.toString(server.address().getPort());
        StringWriter out = new StringWriter();
        assertThat(execute(out, "status", "--healthz-port", port)).isEqualTo(1);
        assertThat(out.toString()).contains("state: not ready: starting", "lease: none");

        current.set(status(true));
        history.leaseAcquired(current.get().lease());
        out = new StringWriter();
        assertThat(execute(out, "status", "--healthz-port", port)).isZero();
        assertThat(out.toString()).contains("interface: flannel0", "state: ready",
            "lease: 100.64.3.0/24, expires in 23h", "public ip: 198.18.0.1", "drops: 3 NO_ROUTE",
            "offloads: tun vnet header (TSO, coalescing), udp gso\n", "peer: 198.18.0.2:8285",
            "subnet: 100.64.9.0/24",
            "etcd: http://198.18.0.254:2379 (running; 1 renewals, 2 watch resets, 0 re-lists, 0 errors)");
    }

    @Test
    void theStatusCommandReportsAnUnreachableInstance() {
        server.close();
        final StringWriter out = new StringWriter();
        assertThat(execute(out, "status", "--healthz-port", Integer.toString(server.address().getPort())))
            .isEqualTo(1);
        assertThat(out.toString()).contains("overlay status: cannot read http://127.0.0.1:");
    }

    @Test
    void theTableNamesWhenEachPeerChanged() throws Exception {
        final JsonNode s = JSON.readTree("{\"ready\":true,\"interface\":\"flannel0\",\"lease\":{\"subnet\":null},"
            + "\"peers\":[{\"subnet\":\"100.64.9.0/24\",\"publicIp\":\"198.18.0.2\",\"port\":8285,"
            + "\"changedAt\":\"2026-11-29T22:00:00Z\"},{\"subnet\":\"100.64.11.0/24\",\"publicIp\":\"198.18.0.3\","
            + "\"port\":8285,\"changedAt\":null}],\"counters\":{\"UDP_TO_TUN_BYTES\":1536},\"etcd\":{}}");
        final String table = StatusCommand.table(s, Instant.parse("2026-11-29T23:01:02Z"));
        assertThat(table).contains("  changed: 2026-11-29T22:00:00Z (1h 1m 2s ago)\n",
            "  changed: before this process started watching\n", "transfer: 1.50 KiB received");
        assertThat(StatusCommand.duration(90061)).isEqualTo("1d 1h 1m 1s");
        assertThat(StatusCommand.duration(0)).isEqualTo("0s");
        assertThat(StatusCommand.bytes(12)).isEqualTo("12 B");
    }

    @Test
    void theTableNamesThePeersEncryptionRequiredCannotReach() throws Exception {
        final io.overlay.core.spi.EncryptionStatus enc = new io.overlay.core.spi.EncryptionStatus(
            io.overlay.core.spi.Encryption.REQUIRED, "S2V5", List.of(Ipv4.parse("198.18.0.3")));
        final OverlayStatus st = new OverlayStatus(true, "", null, null, 1443, "flannel0", null, Map.of(),
            io.overlay.core.spi.TrafficCounters.ZERO, io.overlay.core.spi.AllocatorStatus.UNKNOWN,
            io.overlay.core.spi.EngineOffloads.NONE, enc);
        final JsonNode s = JSON.readTree(StatusJson.render(st, new OverlayHistory()));
        assertThat(s.path("encryption").path("mode").asText()).isEqualTo("required");
        assertThat(s.path("encryption").path("peersWithoutKey").get(0).asText()).isEqualTo("198.18.0.3");
        final String table = StatusCommand.table(s, Instant.parse("2026-11-29T23:01:02Z"));
        assertThat(table).contains("  encryption: required, public key S2V5\n",
            "  unreachable: 198.18.0.3: advertises no key (encryption required)\n");
        // off: nothing about encryption in the table
        final JsonNode off = JSON.readTree(StatusJson.render(new OverlayStatus(true, "", null, null, 1472,
            "flannel0", null, Map.of(), io.overlay.core.spi.TrafficCounters.ZERO),
            new OverlayHistory()));
        assertThat(off.path("encryption").path("mode").asText()).isEqualTo("off");
        assertThat(StatusCommand.table(off, Instant.now())).doesNotContain("encryption");
    }

    @Test
    void aJsonLogLineHasTheFieldsAndTheStackTraceOnOneLine() throws Exception {
        final LoggerContext context = new LoggerContext();
        final JsonLineLayout layout = new JsonLineLayout();
        layout.setContext(context);
        layout.start();
        final Logger logger = context.getLogger("io.overlay.core.Overlay");
        final String line = layout.doLayout(new LoggingEvent(Logger.class.getName(), logger, Level.WARN,
            "Lease {} lost \"quoted\"", new IllegalStateException("gone"), new Object[] {"100.64.3.0/24"}));
        assertThat(line).endsWith("\n").doesNotContain("\n\t");
        assertThat(line.strip().lines()).hasSize(1);
        final JsonNode n = JSON.readTree(line);
        assertThat(n.path("level").asText()).isEqualTo("WARN");
        assertThat(n.path("logger").asText()).isEqualTo("io.overlay.core.Overlay");
        assertThat(n.path("message").asText()).isEqualTo("Lease 100.64.3.0/24 lost \"quoted\"");
        assertThat(Instant.parse(n.path("time").asText())).isBefore(Instant.now().plusSeconds(1));
        assertThat(n.path("exception").asText()).startsWith("java.lang.IllegalStateException: gone")
            .contains("\tat io.overlay.examples.OperatorPagesTest");
    }

    @Test
    void logOptionsAreChecked() {
        assertThat(LogSetup.problems("debug", "JSON")).isEmpty();
        assertThat(LogSetup.problems("loud", "xml")).containsExactly(
            "--log-level must be trace, debug, info, warn or error, got loud",
            "--log-format must be text or json, got xml");
    }

    private static int execute(final StringWriter out, final String... args) {
        final CommandLine cl = OverlayMain.commandLine(Map.of());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(out, true));
        return cl.execute(args);
    }
}
