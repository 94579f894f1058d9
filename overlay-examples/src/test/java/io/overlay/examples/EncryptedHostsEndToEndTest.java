package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
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
 * Two {@link OverlayMain} hosts with {@code --encryption=required} and one {@code --psk-file} on real etcd
 * ({@link OverlayHosts}): their leases carry the public keys, their MTU leaves room for the frame, they reach each
 * other, and a host restarted with a new key is reached again within a second of its new lease.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class EncryptedHostsEndToEndTest {
    private static final Pattern KEY = Pattern.compile("\"PublicKey\":\"([A-Za-z0-9+/=]{44})\"");
    private static final Pattern REPLY = Pattern.compile("^\\[(\\d+\\.\\d+)\\] \\d+ bytes from");
    private static final ObjectMapper JSON = new ObjectMapper();

    private OverlayHosts overlay;
    private Path psk;

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void setUp() throws Exception {
        psk = Files.createTempFile("overlay-psk", ".key");
        final byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        Files.write(psk, key);
        overlay = OverlayHosts.start("e2e-encryption", 2,
            h -> List.of("--encryption=required", "--psk-file", psk.toString()));
        for (int h = 1; h <= 2; h++) {
            final int host = h;
            OverlayHosts.await("h" + h + " knows its peer", Duration.ofSeconds(60), () -> {
                final JsonNode s = status(host);
                return s != null && s.path("ready").asBoolean() && s.path("peers").size() == 1;
            });
        }
    }

    @AfterAll
    void tearDown() throws Exception {
        if (overlay != null) {
            overlay.close();
        }
        if (psk != null) {
            Files.deleteIfExists(psk);
        }
    }

    @Test
    @Order(1)
    void leasesCarryKeysTheMtuLeavesRoomAndTheHostsReachEachOther() throws Exception {
        final String leases = overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets/",
            "--print-value-only");
        final Matcher m = KEY.matcher(leases);
        int keys = 0;
        while (m.find()) {
            keys++;
        }
        assertThat(keys).as("one public key per lease in " + leases).isEqualTo(2);
        assertThat(leases).contains("\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null,\"BackendData\":{\"PublicKey\":");
        for (OverlayHosts.Host h : overlay.hosts()) {
            assertThat(h.subnet().mtu()).as("1500 - 28 - 29").isEqualTo(1443);
            final JsonNode enc = status(h.n()).path("encryption");
            assertThat(enc.path("mode").asText()).isEqualTo("required");
            assertThat(enc.path("peersWithoutKey").size()).isZero();
            assertThat(enc.path("unreachable").size()).isZero();
        }
        final OverlayHosts.Host h1 = overlay.hosts().get(0);
        assertThat(OverlayHosts.runStatus(Duration.ofSeconds(20), "ip", "netns", "exec", h1.ns().name(), "ping",
            "-c", "3", "-i", "0.2", "-W", "2", tunAddress(2))[1].toString()).contains("3 received");
        final JsonNode counters = status(1).path("counters");
        assertThat(counters.toString()).contains("SEALED_SENT");
    }

    @Test
    @Order(2)
    void aHostRestartedWithANewKeyIsReachedWithinASecondOfItsNewLease() throws Exception {
        final String oldKey = key(overlay.etcdctl("get", "--prefix", "/coreos.com/network/subnets/",
            "--print-value-only"), "198.18.0.2");
        final List<long[]> leaseSeen = new CopyOnWriteArrayList<>();
        final List<String> newKeys = new CopyOnWriteArrayList<>();
        final Process watch = overlay.infra().spawn(new ProcessBuilder("env", "ETCDCTL_API=3", "/usr/bin/etcdctl",
            "--endpoints", OverlayHosts.ETCD, "watch", "--prefix", "/coreos.com/network/subnets/")
            .redirectErrorStream(true));
        final Thread watchReader = OverlayHosts.lineReader(watch, line -> {
            final String k = key(line, "198.18.0.2");
            if (k != null && !k.equals(oldKey)) {
                newKeys.add(k);
                leaseSeen.add(new long[] {System.currentTimeMillis()});
            }
        });
        final OverlayHosts.Host h1 = overlay.hosts().get(0);
        final String target = tunAddress(2);
        final List<Double> replies = new CopyOnWriteArrayList<>();
        final Process ping = h1.ns().spawn(new ProcessBuilder("ping", "-D", "-i", "0.02", "-W", "1", "-w", "60",
            target).redirectErrorStream(true));
        final Thread pingReader = OverlayHosts.lineReader(ping, line -> {
            final Matcher m = REPLY.matcher(line);
            if (m.find()) {
                replies.add(Double.parseDouble(m.group(1)));
            }
        });
        try {
            OverlayHosts.await("pings answered before the restart", Duration.ofSeconds(10), () -> !replies.isEmpty());
            Thread.sleep(500); // let the watch settle: only the restart's put must match
            overlay.restart(2);
            OverlayHosts.await("h2's new lease in etcd", Duration.ofSeconds(60), () -> !leaseSeen.isEmpty());
            final double lease = leaseSeen.get(0)[0] / 1000.0;
            OverlayHosts.await("a ping answered after h2's new lease", Duration.ofSeconds(30),
                () -> replies.stream().anyMatch(t -> t > lease));
            final double first = replies.stream().filter(t -> t > lease).findFirst().orElseThrow();
            final long millis = Math.round((first - lease) * 1000);
            System.out.println("encryption e2e: first answered ping " + millis + " ms after h2's new lease "
                + "(new key " + newKeys.get(0) + ")");
            assertThat(newKeys.get(0)).isNotEqualTo(oldKey);
            assertThat(millis).as("ms from h2's new lease to the first answered ping").isLessThan(1000);
        } finally {
            ping.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            watch.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            pingReader.join(5000);
            watchReader.join(5000);
        }
    }

    /** The base64 key in the lease value of {@code publicIp} within {@code text}, or null. */
    static String key(final String text, final String publicIp) {
        for (String line : text.split("\n")) {
            if (line.contains("\"PublicIP\":\"" + publicIp + "\"")) {
                final Matcher m = KEY.matcher(line);
                if (m.find()) {
                    return m.group(1);
                }
            }
        }
        return null;
    }

    /** Host {@code h}'s /status as JSON; {@code null} until it answers 200. */
    private JsonNode status(final int h) throws Exception {
        final String body = OverlayHosts.get(overlay.hosts().get(h - 1), "/status");
        return body == null ? null : JSON.readTree(body);
    }

    private String tunAddress(final int h) throws Exception {
        return OverlayHosts.tunAddress(overlay.hosts().get(h - 1));
    }
}
