package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.OverlayStatus;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TrafficCounters;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Slow HTTP clients (headers sent one byte per second, a slowloris) against the health server on loopback: probes
 * still answer within a second, and a slow client is cut off at the request deadline.
 */
class HealthServerSlowClientTest {
    private static final int SLOW_CLIENTS = 4;
    private static final byte[] REQUEST = "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"
        .getBytes(StandardCharsets.US_ASCII);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    private final List<Socket> slow = new ArrayList<>();
    private ScheduledExecutorService dribbler;
    private HealthServer server;

    @BeforeEach
    void start() throws Exception {
        server = HealthServer.start("127.0.0.1", 0, () -> new OverlayStatus(false, "starting", null,
            Ipv4Prefix.parse("100.64.0.0/16"), 1472, "flannel0", "", Map.of(), TrafficCounters.ZERO));
        dribbler = Executors.newSingleThreadScheduledExecutor();
    }

    @AfterEach
    void stop() throws Exception {
        dribbler.shutdownNow();
        for (Socket s : slow) {
            s.close();
        }
        server.close();
    }

    /** Opens a connection that sends one byte of {@link #REQUEST} per second, for at most its length. */
    private Socket slowClient() throws Exception {
        final Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", server.address().getPort()), 1000);
        slow.add(s);
        final OutputStream out = s.getOutputStream();
        final int[] sent = {0};
        dribbler.scheduleAtFixedRate(() -> {
            try {
                if (sent[0] < REQUEST.length - 1) { // never completes the request
                    out.write(REQUEST[sent[0]++]);
                    out.flush();
                }
            } catch (Exception e) {
                // closed by the server: the deadline at work
            }
        }, 0, 1, TimeUnit.SECONDS);
        return s;
    }

    private int probe(final String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.address().getPort() + path))
            .timeout(Duration.ofSeconds(1)).GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    @Test
    void probesAnswerWithinASecondWhileSlowClientsAreHeldOpen() throws Exception {
        for (int i = 0; i < SLOW_CLIENTS; i++) {
            slowClient();
        }
        Thread.sleep(1500); // every slow client has sent its first bytes and holds a request open
        for (int i = 0; i < 3; i++) {
            assertThat(probe("/healthz")).isEqualTo(200);
            assertThat(probe("/readyz")).isEqualTo(503);
            Thread.sleep(500);
        }
    }

    @Test
    void aSlowClientIsCutOffAtTheRequestDeadline() throws Exception {
        final Socket s = slowClient();
        s.setSoTimeout((int) TimeUnit.SECONDS.toMillis(HealthServer.REQUEST_DEADLINE_SECONDS + 8));
        final InputStream in = s.getInputStream();
        final long start = System.nanoTime();
        int read;
        try {
            read = in.read();
        } catch (SocketTimeoutException e) {
            read = -2;
        } catch (java.net.SocketException e) {
            read = -1; // reset: closed as well
        }
        // the server closes the connection without an answer (EOF or reset), not after the request completes
        assertThat(read).as("read after %d ms", (System.nanoTime() - start) / 1_000_000).isEqualTo(-1);
        assertThat(probe("/healthz")).isEqualTo(200);
    }
}
