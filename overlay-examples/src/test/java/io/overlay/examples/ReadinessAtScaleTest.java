package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.testing.Privileged;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Readiness means the peers are routed: with 3,000 peer leases already in etcd (a /10 Network at SubnetLen 24), one
 * {@link OverlayMain} host starts, and the moment its {@code subnet.env} appears (polled every millisecond) its
 * {@code /status} must already list every one of them; {@code /readyz} never answers 200 before that file exists. The
 * peers' PublicIPs are in 198.19.0.0/16, which nobody uses: nothing is sent. Logs go to
 * {@code target/readiness-at-scale/}.
 */
@Privileged
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ReadinessAtScaleTest {
    private static final int PEERS = 3000;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void whenSubnetEnvAppearsEveryPeerListedAtStartIsRouted() throws Exception {
        try (OverlayHosts o = OverlayHosts.infra("readiness-at-scale")) {
            o.etcdctl("put", "/coreos.com/network/config",
                "{\"Network\":\"100.64.0.0/10\",\"SubnetLen\":24,\"Backend\":{\"Type\":\"udp\"}}");
            final String lease = o.etcdctl("lease", "grant", "3600").split("\\s+")[1];
            for (int first = 0; first < PEERS; first += 100) {
                final StringBuilder txn = new StringBuilder("\n");
                for (int i = first; i < Math.min(PEERS, first + 100); i++) {
                    txn.append("put --lease=").append(lease).append(" /coreos.com/network/subnets/100.")
                        .append(64 + i / 256).append('.').append(i % 256).append(".0-24 \"{\\\"PublicIP\\\":\\\"198.19.")
                        .append(i / 250).append('.').append(i % 250 + 1).append("\\\",\\\"PublicIPv6\\\":null}\"\n");
                }
                o.etcdctlWithInput(txn.append("\n\n").toString(), "txn");
            }
            assertThat(JSON.readTree(o.etcdctl("get", "--prefix", "/coreos.com/network/subnets/", "--limit", "1",
                "-w", "json")).get("count").asInt()).isEqualTo(PEERS);

            final OverlayHosts.Host h = o.spawnHost(1, List.of());
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            long nextReadyz = 0;
            while (!Files.exists(h.subnetEnv())) {
                assertThat(h.process().isAlive()).as("OverlayMain of h1 runs; see %s", o.logs()).isTrue();
                assertThat(System.nanoTime()).as("subnet.env within 120 s").isLessThan(deadline);
                if (System.nanoTime() > nextReadyz) {
                    final int code = OverlayHosts.readyz(h);
                    assertThat(code == 200 && !Files.exists(h.subnetEnv())).as("/readyz 200 before subnet.env")
                        .isFalse();
                    nextReadyz = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20);
                }
                Thread.sleep(1);
            }
            final JsonNode status = status(h);
            assertThat(status.get("peers").size()).as("peers routed when subnet.env appeared").isEqualTo(PEERS);
            assertThat(OverlayHosts.readyz(h)).isEqualTo(200);
            assertThat(Files.readString(o.logs().resolve("h1.log")))
                .contains("Routed the " + PEERS + " peers listed at start");
        }
    }

    /** /status from inside the host namespace. */
    private static JsonNode status(final OverlayHosts.Host host) throws Exception {
        return io.overlay.tun.NetnsThread.call(host.ns().name(), () -> {
            final HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + OverlayHosts.HEALTH_PORT
                + "/status").openConnection(java.net.Proxy.NO_PROXY);
            c.setConnectTimeout(2000);
            c.setReadTimeout(5000);
            c.setRequestProperty("Connection", "close");
            try {
                return JSON.readTree(c.getInputStream());
            } catch (IOException e) {
                throw new IOException("GET /status failed", e);
            } finally {
                c.disconnect();
            }
        });
    }
}
