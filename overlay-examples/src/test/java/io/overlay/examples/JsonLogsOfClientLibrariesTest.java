package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code --log-format=json} holds for what the client libraries log too. gRPC (under jetcd) logs through
 * {@code java.util.logging}, not SLF4J: against an etcd whose {@code --grpc-keepalive-min-time} (60 s here) is longer
 * than the client's keepalive interval (10 s), etcd answers the third ping with GOAWAY ENHANCE_YOUR_CALM
 * "too_many_pings", about 30 to 40 s after the watch opened, and gRPC logs two WARNINGs. Every line the launcher
 * writes must still be one JSON object, those warnings among them. etcd and the host run in namespaces of their own
 * ({@link OverlayHosts}); logs go to {@code target/e2e-json-logs/}.
 */
@Privileged
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class JsonLogsOfClientLibrariesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The line as JSON, {@code null} if it is not JSON at all. */
    private static JsonNode parse(final String line) {
        try {
            return JSON.readTree(line);
        } catch (java.io.IOException notJson) {
            return null;
        }
    }

    @Test
    void grpcsWarningsAboutEtcdsKeepalivePolicyAreJsonLines() throws Exception {
        final Path log;
        try (OverlayHosts overlay = OverlayHosts.infra("e2e-json-logs", List.of("--grpc-keepalive-min-time", "60s"))) {
            final OverlayHosts.Host h = overlay.spawnHost(1, List.of("--log-format=json"));
            log = overlay.logs().resolve("h1.log");
            final Process p = h.process();
            OverlayHosts.await("etcd's GOAWAY too_many_pings", Duration.ofSeconds(90),
                () -> !p.isAlive() || Files.readString(log).contains("too_many_pings"));
            Thread.sleep(1000); // the rest of what the GOAWAY makes the launcher log
            assertThat(p.isAlive()).as("still running; log:%n%s", Files.readString(log)).isTrue();
            p.destroy(); // SIGTERM
            assertThat(p.waitFor(20, TimeUnit.SECONDS)).as("exits within 20 s of SIGTERM").isTrue();
        }
        final List<String> lines = Files.readAllLines(log);
        for (String line : lines) {
            final JsonNode n = parse(line);
            assertThat(n != null && n.isObject()).as("a JSON object: %s%nlog:%n%s", line, String.join("\n", lines))
                .isTrue();
            assertThat(n.path("time").asText()).as("line %s", line).isNotEmpty();
            assertThat(n.path("level").asText()).as("line %s", line).isIn("TRACE", "DEBUG", "INFO", "WARN", "ERROR");
            assertThat(n.path("logger").asText()).as("line %s", line).isNotEmpty();
            assertThat(n.has("message")).as("line %s", line).isTrue();
        }
        assertThat(lines).anySatisfy(l -> {
            final JsonNode n = JSON.readTree(l);
            assertThat(n.path("logger").asText()).startsWith("io.grpc.");
            assertThat(n.path("level").asText()).isEqualTo("WARN");
            assertThat(n.path("message").asText()).contains("ENHANCE_YOUR_CALM");
        });
        assertThat(lines).anySatisfy(l -> assertThat(JSON.readTree(l).path("message").asText())
            .isEqualTo("Exiting cleanly"));
    }
}
