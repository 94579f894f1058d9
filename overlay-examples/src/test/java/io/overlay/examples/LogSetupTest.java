package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * {@code --log-level} and {@code --log-format} as {@link LogSetup#apply} installs them, read back from this JVM's
 * stderr: the level decides which events are written, the client libraries stay at WARN, and records logged through
 * {@code java.util.logging} (gRPC, Guava, the JDK) take the same path and format as the SLF4J ones.
 */
class LogSetupTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream saved;

    @BeforeEach
    void captureStderr() {
        saved = System.err;
        // logback's console appender writes to whatever System.err is at each event
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        LogSetup.apply("info", LogSetup.Format.TEXT); // the default every launcher starts with
        System.setErr(saved);
    }

    /**
     * The stderr lines of the loggers these tests use: other test classes in this JVM may leave threads that log
     * meanwhile (a client library's warning), which must not count.
     */
    private List<String> lines() {
        return err.toString(StandardCharsets.UTF_8).lines()
            .filter(l -> OURS.stream().anyMatch(l::contains))
            .toList();
    }

    /** The loggers these tests write to, as the text format (simple name) and the JSON format (full name) show them. */
    private static final List<String> OURS = List.of(" Overlay - ", " LeaseKeeper - ", "Epoll",
        "jdk.httpclient.HttpClient", "com.example.library.Worker",
        "io.overlay.examples.Probe");

    @Test
    void theLevelDecidesWhatIsWrittenAndClientLibrariesStayAtWarn() {
        LogSetup.apply("warn", LogSetup.Format.TEXT);
        LoggerFactory.getLogger("io.overlay.core.Overlay").info("not written");
        LoggerFactory.getLogger("io.overlay.core.Overlay").warn("written");
        assertThat(lines()).hasSize(1);
        assertThat(lines().get(0)).matches("\\S+ WARN Overlay - written");

        err.reset();
        LogSetup.apply("DEBUG", LogSetup.Format.TEXT);
        LoggerFactory.getLogger("io.overlay.etcd.LeaseKeeper").debug("renewing");
        LoggerFactory.getLogger("io.netty.channel.Epoll").info("client library chatter");
        assertThat(lines()).hasSize(1);
        assertThat(lines().get(0)).endsWith(" DEBUG LeaseKeeper - renewing");
    }

    @Test
    void aJavaUtilLoggingWarningIsOneJsonLine() throws Exception {
        LogSetup.apply("info", LogSetup.Format.JSON);
        // the JDK's HTTP client (the etcd client's transport) logs through System.Logger, which is JUL by default
        java.util.logging.Logger.getLogger("jdk.httpclient.HttpClient").log(Level.WARNING,
            "Received GOAWAY with ENHANCE_YOUR_CALM. Debug data: {0}", "too_many_pings");
        assertThat(lines()).as("stderr").hasSize(1);
        final JsonNode n = JSON.readTree(lines().get(0));
        assertThat(n.path("level").asText()).isEqualTo("WARN");
        assertThat(n.path("logger").asText()).isEqualTo("jdk.httpclient.HttpClient");
        assertThat(n.path("message").asText())
            .isEqualTo("Received GOAWAY with ENHANCE_YOUR_CALM. Debug data: too_many_pings");
    }

    @Test
    void javaUtilLoggingRecordsFollowTheLevelAndKeepTheirException() throws Exception {
        LogSetup.apply("info", LogSetup.Format.JSON);
        final java.util.logging.Logger jul = java.util.logging.Logger.getLogger("com.example.library.Worker");
        jul.log(Level.FINE, "below the level");
        jul.log(Level.SEVERE, "Input Future failed with Error", new IllegalStateException("boom"));
        assertThat(lines()).as("stderr").hasSize(1);
        final JsonNode n = JSON.readTree(lines().get(0));
        assertThat(n.path("level").asText()).isEqualTo("ERROR");
        assertThat(n.path("message").asText()).isEqualTo("Input Future failed with Error");
        assertThat(n.path("exception").asText()).startsWith("java.lang.IllegalStateException: boom");

        err.reset();
        LogSetup.apply("trace", LogSetup.Format.JSON);
        java.util.logging.Logger.getLogger("io.overlay.examples.Probe").log(Level.FINE, "now written");
        assertThat(lines()).hasSize(1);
        assertThat(JSON.readTree(lines().get(0)).path("level").asText()).isEqualTo("DEBUG");
    }
}
