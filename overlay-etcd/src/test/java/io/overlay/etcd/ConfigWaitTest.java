package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.NetworkConfig;
import io.overlay.testing.LogCapture;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Waiting for the network config on a real etcd: B16 (missing, wrong prefix, then right) and invalid configs. */
class ConfigWaitTest extends EtcdTestSupport {
    private final ExecutorService pool = Executors.newSingleThreadExecutor();

    @AfterEach
    void stopPool() {
        pool.shutdownNow();
    }

    @Test
    void b16MissingThenWrongPrefixThenRight() throws Exception {
        try (LogCapture log = new LogCapture()) {
            final EtcdSubnetAllocator a = allocator();
            final Future<NetworkConfig> config = pool.submit(a::awaitNetworkConfig);
            final String key = prefix + "/config";

            await().atMost(Duration.ofSeconds(10)).until(() -> !log.warnings().isEmpty());
            final String missing = log.warnings().get(0);
            assertThat(missing).contains("no key " + key).contains(etcd.endpoint()).contains("v3 API")
                .contains("flannel >= 0.18").contains("another prefix").contains("etcdctl put " + key);
            // Causality, not a sleep: two more attempts (logged at DEBUG) met the same problem.
            await().atMost(Duration.ofSeconds(30)).until(() -> log.count("Network config not found") >= 3);
            assertThat(config).isNotDone();
            assertThat(log.warnings()).as("one message per distinct problem").hasSize(1);

            final String wrong = prefix.replace("/coreos.com/network", "/coreos.com/network2") + "/config";
            etcd.etcdctl("put", wrong, "{\"Network\":\"100.64.0.0/16\"}");
            await().atMost(Duration.ofSeconds(10)).until(() -> log.warnings().size() == 2);
            assertThat(log.warnings().get(1)).contains("no key " + key).contains(wrong);
            assertThat(config).isNotDone();

            final long t0 = System.nanoTime();
            putConfig("{\"Network\":\"100.64.0.0/16\"}");
            final NetworkConfig c = config.get(10, TimeUnit.SECONDS);
            // backoff is capped at 500 ms in these tests
            assertThat(System.nanoTime() - t0).isLessThan(Duration.ofSeconds(3).toNanos());
            assertThat(c.subnetLen()).isEqualTo(24);
            assertThat(log.warnings()).hasSize(2);
        }
    }

    @Test
    void invalidConfigIsReportedOnceWithKeyAndReasonUntilFixed() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/32\"}");
        try (LogCapture log = new LogCapture()) {
            final EtcdSubnetAllocator a = allocator();
            final Future<NetworkConfig> config = pool.submit(a::awaitNetworkConfig);
            await().atMost(Duration.ofSeconds(10)).until(() -> !log.warnings().isEmpty());
            await().atMost(Duration.ofSeconds(30)).until(() -> log.count("is invalid") >= 3);
            final List<String> w = log.warnings();
            assertThat(w).hasSize(1);
            assertThat(w.get(0)).contains(prefix + "/config").contains(etcd.endpoint()).contains("too small");
            assertThat(config).isNotDone();

            putConfig("{\"Network\":\"100.64.0.0/24\",\"Backend\":{\"Type\":\"vxlan\"}}");
            await().atMost(Duration.ofSeconds(10)).until(() -> log.warnings().size() == 2);
            assertThat(log.warnings().get(1)).contains("vxlan");

            putConfig("{\"Network\":\"100.64.0.0/24\"}");
            assertThat(config.get(10, TimeUnit.SECONDS).subnetLen()).isEqualTo(26);
        }
    }

    @Test
    void unreachableEtcdIsReportedWithTheEndpoints() throws Exception {
        final String dead = "http://127.0.0.1:1";
        try (LogCapture log = new LogCapture()) {
            final EtcdSubnetAllocator a = allocator(settings().endpoints(dead)
                .requestTimeout(Duration.ofMillis(500)).connectTimeout(Duration.ofMillis(300)).build());
            final CompletableFuture<NetworkConfig> config = CompletableFuture.supplyAsync(() -> {
                try {
                    return a.awaitNetworkConfig();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }, pool);
            await().atMost(Duration.ofSeconds(10)).until(() -> !log.warnings().isEmpty());
            assertThat(log.warnings().get(0)).contains(prefix + "/config").contains(dead);
            assertThat(config).isNotDone();
            a.close();
            await().atMost(Duration.ofSeconds(10)).until(config::isDone);
            assertThat(config).isCompletedExceptionally();
        }
    }
}
