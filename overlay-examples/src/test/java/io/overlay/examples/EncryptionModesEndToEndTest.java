package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.testing.Privileged;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Three {@link OverlayMain} hosts on real etcd ({@link OverlayHosts}), one per encryption mode: h1
 * {@code --encryption=preferred}, h2 {@code required}, h3 off. Who reaches whom, in which form and with which
 * counters is docs/encryption.md's table; then h2 is killed and started again several times (a new key pair each
 * time) while h1 pings it, and each time both directions work again within a second of h2's new lease.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EncryptionModesEndToEndTest {
    private static final Pattern REPLY = Pattern.compile("^\\[(\\d+\\.\\d+)\\] \\d+ bytes from");
    private static final ObjectMapper JSON = new ObjectMapper();

    private OverlayHosts overlay;

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        overlay = OverlayHosts.start("e2e-encryption-modes", 3, h -> switch (h) {
            case 1 -> List.of("--encryption=preferred");
            case 2 -> List.of("--encryption=required");
            default -> List.of();
        });
        for (int h = 1; h <= 3; h++) {
            final int host = h;
            OverlayHosts.await("h" + h + " knows its two peers", Duration.ofSeconds(60), () -> {
                final JsonNode s = status(host);
                return s != null && s.path("ready").asBoolean() && s.path("peers").size() == 2;
            });
        }
    }

    @AfterAll
    void tearDown() {
        if (overlay != null) {
            overlay.close();
        }
    }

    @Test
    @Order(1)
    void whoReachesWhomAndHowIsTheDocumentedTable() throws Exception {
        final String leases = overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets/",
            "--print-value-only");
        assertThat(leases).as("h3 (off) publishes flannel's value byte for byte")
            .contains("{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null}\n");
        assertThat(EncryptedHostsEndToEndTest.key(leases, "198.18.0.1")).isNotNull();
        assertThat(EncryptedHostsEndToEndTest.key(leases, "198.18.0.2")).isNotNull();
        assertThat(overlay.hosts().get(0).subnet().mtu()).isEqualTo(1443);
        assertThat(overlay.hosts().get(1).subnet().mtu()).isEqualTo(1443);
        assertThat(overlay.hosts().get(2).subnet().mtu()).as("flannel's").isEqualTo(1472);

        assertThat(ping(1, 2, 3)).as("preferred -> required: sealed").isTrue();
        assertThat(ping(2, 1, 3)).as("required -> preferred: sealed").isTrue();
        assertThat(ping(1, 3, 3)).as("preferred -> off: clear text").isTrue();
        assertThat(ping(3, 1, 3)).as("off -> preferred: clear text").isTrue();
        // h3's full-size packet (its MTU is flannel's) still reaches h1, whose own MTU is 29 bytes lower
        assertThat(run(3, "ping", "-M", "do", "-s", "1444", "-c", "1", "-W", "2", tun(1))).contains("1 received");
        assertThat(ping(2, 3, 2)).as("required -> off: nothing sent").isFalse();
        assertThat(ping(3, 2, 2)).as("off -> required: refused").isFalse();

        final JsonNode e1 = status(1).path("encryption");
        assertThat(e1.path("mode").asText()).isEqualTo("preferred");
        assertThat(e1.path("peersWithoutKey").toString()).isEqualTo("[\"198.18.0.3\"]");
        assertThat(e1.has("unreachable")).isFalse();
        final JsonNode e2 = status(2).path("encryption");
        assertThat(e2.path("mode").asText()).isEqualTo("required");
        assertThat(e2.path("peersWithoutKey").toString()).isEqualTo("[\"198.18.0.3\"]");
        assertThat(e2.path("unreachable").toString()).contains("198.18.0.3");
        assertThat(e2.path("unreachable").size()).isEqualTo(1);

        final JsonNode c1 = status(1).path("counters");
        for (String c : List.of("SEALED_SENT", "SEALED_RECEIVED", "CLEAR_SENT", "CLEAR_RECEIVED")) {
            assertThat(c1.path(c).asLong()).as("h1 " + c + " in " + c1).isPositive();
        }
        assertThat(c1.path("drops").path("CLEAR_TEXT_REFUSED").asLong()
            + c1.path("drops").path("UNKNOWN_KEY").asLong() + c1.path("drops").path("TAMPERED").asLong())
            .as("h1's drops " + c1.path("drops")).isZero();
        final JsonNode c2 = status(2).path("counters");
        assertThat(c2.path("SEALED_SENT").asLong()).isPositive();
        assertThat(c2.path("CLEAR_SENT").asLong() + c2.path("CLEAR_RECEIVED").asLong()).isZero();
        assertThat(c2.path("drops").path("PEER_HAS_NO_KEY").asLong()).as("h2 -> h3").isGreaterThanOrEqualTo(2);
        assertThat(c2.path("drops").path("CLEAR_TEXT_REFUSED").asLong()).as("h3 -> h2").isGreaterThanOrEqualTo(2);
        final JsonNode c3 = status(3).path("counters");
        assertThat(c3.path("drops").path("NOT_IPV4").asLong()).as("nobody seals to h3").isZero();
        assertThat(c3.path("SEALED_SENT").asLong() + c3.path("CLEAR_SENT").asLong()).as("off counts neither")
            .isZero();
    }

    @Test
    @Order(2)
    void aHostRestartedAgainAndAgainIsReachedBothWaysWithinASecondOfEachNewLease() throws Exception {
        final String target = tun(2);
        final List<Double> replies = new CopyOnWriteArrayList<>();
        final Process ping = overlay.hosts().get(0).ns().spawn(new ProcessBuilder("ping", "-D", "-n", "-i", "0.05",
            "-W", "1", "-w", "100", target).redirectErrorStream(true));
        final Thread reader = OverlayHosts.lineReader(ping, line -> {
            final Matcher m = REPLY.matcher(line);
            if (m.find()) {
                replies.add(Double.parseDouble(m.group(1)));
            }
        });
        try {
            OverlayHosts.await("h1's pings answered", Duration.ofSeconds(10), () -> !replies.isEmpty());
            String key = EncryptedHostsEndToEndTest.key(leases(), "198.18.0.2");
            for (int restart = 1; restart <= 3; restart++) {
                final String before = key;
                overlay.restart(2);
                final double[] leaseAt = new double[1];
                OverlayHosts.await("h2's new lease, restart " + restart, Duration.ofSeconds(30), () -> {
                    final String k = EncryptedHostsEndToEndTest.key(leases(), "198.18.0.2");
                    if (k != null && !k.equals(before)) {
                        leaseAt[0] = System.currentTimeMillis() / 1000.0;
                        return true;
                    }
                    return false;
                });
                key = EncryptedHostsEndToEndTest.key(leases(), "198.18.0.2");
                // the lease was polled every 200 ms: it appeared at most that long before leaseAt
                final double since = leaseAt[0] - 0.2;
                OverlayHosts.await("h1's ping answered after restart " + restart, Duration.ofSeconds(10),
                    () -> replies.stream().anyMatch(t -> t > since));
                final long h1ToH2 = Math.round((replies.stream().filter(t -> t > since).findFirst().orElseThrow()
                    - since) * 1000);
                final long t0 = System.nanoTime();
                OverlayHosts.await("h2's ping to h1 answered after restart " + restart, Duration.ofSeconds(10),
                    () -> run(2, "ping", "-c", "1", "-W", "1", tun(1)).contains("1 received"));
                final long h2ToH1 = (System.nanoTime() - t0) / 1_000_000;
                System.out.printf("restart %d: h1 -> h2 answered %d ms after the new lease, h2 -> h1 %d ms%n",
                    restart, h1ToH2, h2ToH1);
                assertThat(h1ToH2).as("ms from h2's new lease to h1's first answered ping").isLessThan(1000);
                assertThat(h2ToH1).as("ms to h2's first answered ping once h1 answers").isLessThan(1000);
            }
            // settled: h1 drops nothing more while both directions flow
            final JsonNode d0 = status(1).path("counters").path("drops");
            assertThat(run(2, "ping", "-c", "10", "-i", "0.1", "-W", "1", tun(1))).contains("10 received");
            final JsonNode d1 = status(1).path("counters").path("drops");
            for (String r : List.of("UNKNOWN_KEY", "TAMPERED", "REPLAYED", "CLEAR_TEXT_REFUSED")) {
                assertThat(d1.path(r).asLong()).as("h1 " + r + " once settled").isEqualTo(d0.path(r).asLong());
            }
            final JsonNode e1 = status(1).path("encryption");
            assertThat(e1.path("peersWithoutKey").toString()).isEqualTo("[\"198.18.0.3\"]");
        } finally {
            ping.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            reader.join(5000);
        }
    }

    private String leases() throws Exception {
        return overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets/", "--print-value-only");
    }

    /** Pings host {@code to}'s TUN address from host {@code from} {@code count} times; whether all were answered. */
    private boolean ping(final int from, final int to, final int count) throws Exception {
        return run(from, "ping", "-c", Integer.toString(count), "-i", "0.2", "-W", "1", tun(to))
            .contains(count + " received");
    }

    private String run(final int h, final String... command) throws Exception {
        final List<String> full = new ArrayList<>(List.of("ip", "netns", "exec",
            overlay.hosts().get(h - 1).ns().name()));
        full.addAll(List.of(command));
        return OverlayHosts.runStatus(Duration.ofSeconds(20), full.toArray(String[]::new))[1].toString();
    }

    /** Host {@code h}'s /status as JSON; {@code null} until it answers 200. */
    private JsonNode status(final int h) throws Exception {
        final String body = OverlayHosts.get(overlay.hosts().get(h - 1), "/status");
        return body == null ? null : JSON.readTree(body);
    }

    private String tun(final int h) throws Exception {
        return OverlayHosts.tunAddress(overlay.hosts().get(h - 1));
    }
}
