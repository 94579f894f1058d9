package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.EtcdServer;
import io.overlay.testing.LogCapture;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * etcd's NOSPACE alarm on a real etcd 3.4 started with a 2 MiB {@code --quota-backend-bytes} and filled until it
 * refuses writes ("etcdserver: mvcc: database space exceeded"). While the alarm is raised etcd refuses puts, puts in
 * transactions and lease grants, but serves reads, deletes, the watch and lease keep-alives. An agent must say which
 * alarm it is and what the operator does about it, retry with bounded backoff, keep renewing and following its peers,
 * and come back by itself once the alarm is disarmed.
 */
class NoSpaceTest {
    private static final int QUOTA = 2 << 20;
    private static final AtomicInteger PREFIXES = new AtomicInteger();
    private static EtcdServer etcd;
    private static Client client;
    private String prefix;

    @BeforeAll
    static void startEtcd() throws IOException {
        etcd = EtcdServer.launch(null, List.of("--quota-backend-bytes", Integer.toString(QUOTA)));
        client = Client.builder().endpoints(etcd.endpoint()).build();
    }

    @AfterAll
    static void stopEtcd() {
        if (client != null) {
            client.close();
        }
        if (etcd != null) {
            etcd.close();
        }
    }

    @BeforeEach
    void freshPrefix() {
        prefix = "/nospace" + PREFIXES.incrementAndGet() + "/coreos.com/network";
        etcd.etcdctl("put", prefix + "/config", "{\"Network\":\"100.64.0.0/16\"}");
    }

    /** Whatever the test did, the next one starts without the alarm. */
    @AfterEach
    void disarm() {
        recover();
    }

    private String subnetKey(final String key) {
        return prefix + "/subnets/" + key;
    }

    /** Writes 256 KiB values until etcd refuses with NOSPACE (at most 64 of them), and checks the alarm is raised. */
    private void fill() throws Exception {
        final byte[] junk = new byte[256 << 10];
        new Random(42).nextBytes(junk);
        for (int i = 0; i < 64; i++) {
            try {
                client.getKVClient().put(ByteSequence.from("/fill/" + i, StandardCharsets.UTF_8),
                    ByteSequence.from(junk)).get(10, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                assertThat(e.getCause().getMessage()).contains("database space exceeded");
                break;
            }
        }
        assertThat(etcd.etcdctl("alarm", "list")).contains("NOSPACE");
    }

    /** What the operator does: delete what filled it, compact, defragment, disarm. */
    private void recover() {
        etcd.etcdctl("del", "--prefix", "/fill/");
        etcd.etcdctl("compact", Long.toString(EtcdTestSupport.revision(etcd)));
        etcd.etcdctl("defrag");
        etcd.etcdctl("alarm", "disarm");
        assertThat(etcd.etcdctl("alarm", "list")).doesNotContain("NOSPACE");
    }

    private EtcdSettings.Builder settings() {
        return EtcdSettings.builder().endpoints(etcd.endpoint()).prefix(prefix)
            .backoff(Duration.ofMillis(50), Duration.ofMillis(500)).requestTimeout(Duration.ofSeconds(3));
    }

    private static boolean namesAlarmAndRemedy(final String m) {
        return m.contains("NOSPACE") && m.contains("--quota-backend-bytes") && m.contains("etcdctl defrag")
            && m.contains("etcdctl alarm disarm");
    }

    @Test
    void aNewAgentSaysWhatToDoAndAcquiresOnceTheAlarmIsDisarmed() throws Exception {
        fill();
        try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(settings().build());
             LogCapture log = new LogCapture()) {
            final CompletableFuture<Lease> acquired = CompletableFuture.supplyAsync(() -> {
                try {
                    return a.acquire(EtcdTestSupport.ip("198.18.0.1"), Optional.empty());
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            await().atMost(Duration.ofSeconds(10)).until(() -> log.warnings().stream()
                .anyMatch(NoSpaceTest::namesAlarmAndRemedy));
            Thread.sleep(4000);
            assertThat(acquired).as("no lease while etcd refuses writes").isNotDone();
            // backoff 50 ms doubling to 500 ms: about 10 attempts in 5 s, each a listing and a refused grant
            assertThat(a.status().errors()).as("failed requests, bounded by the backoff").isBetween(1L, 20L);
            assertThat(log.warnings()).as("one WARN per wait, not one per attempt: %s", log.warnings()).hasSize(1);

            final long t0 = System.nanoTime();
            recover();
            final Lease lease = acquired.get(10, TimeUnit.SECONDS);
            System.out.printf("NOSPACE: acquired %d ms after the alarm was disarmed%n",
                (System.nanoTime() - t0) / 1_000_000);
            final EtcdTestSupport.KeyState k = EtcdTestSupport.get(etcd, subnetKey(lease.key()));
            assertThat(k.text()).isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
            assertThat(EtcdTestSupport.leaseTtl(etcd, k.lease())[1]).isPositive();
        }
    }

    /**
     * A running agent keeps renewing (keep-alives are not writes) and following its peers. When its key is gone while
     * the alarm is raised (deleted here; expired after a leader change, or after the agent was paused, in real life),
     * it cannot write a new one: it says why, keeps following peers meanwhile, and re-acquires once disarmed.
     */
    @Test
    void aRunningAgentKeepsRenewingFollowsPeersAndReacquiresOnceDisarmed() throws Exception {
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.2\"}");
        etcd.etcdctl("put", subnetKey("100.64.3.0-24"), "{\"PublicIP\":\"198.18.0.3\"}");
        try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(settings().leaseTtl(Duration.ofSeconds(6))
                .renewMargin(Duration.ofSeconds(4)).renewRetryInterval(Duration.ofSeconds(1)).build())) {
            final Lease lease = a.acquire(EtcdTestSupport.ip("198.18.0.1"),
                Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
            final RecordingListener events = new RecordingListener();
            a.start(lease, events);
            await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 2 && a.renewals() >= 1);

            fill();
            try (LogCapture log = new LogCapture()) {
                final long renewed = a.renewals();
                await().atMost(Duration.ofSeconds(15)).until(() -> a.renewals() >= renewed + 2);
                assertThat(events.matching("lost")).as("renewals go on under NOSPACE").isEmpty();

                etcd.etcdctl("del", subnetKey(lease.key()));
                await().atMost(Duration.ofSeconds(10)).until(() -> events.matching("lost").size() == 1);
                await().atMost(Duration.ofSeconds(10)).until(() -> log.warnings().stream()
                    .anyMatch(NoSpaceTest::namesAlarmAndRemedy));

                // a peer goes away meanwhile (its key deleted, as its etcd lease expiring would): followed at once
                etcd.etcdctl("del", subnetKey("100.64.3.0-24"));
                await().atMost(Duration.ofSeconds(5)).until(() -> !events.peers.containsKey(
                    Ipv4Prefix.parse("100.64.3.0/24")));
                assertThat(events.peers).containsOnlyKeys(Ipv4Prefix.parse("100.64.2.0/24"));

                Thread.sleep(3000);
                assertThat(events.matching("reacquired")).isEmpty();
                assertThat(log.warnings().stream().filter(NoSpaceTest::namesAlarmAndRemedy).count())
                    .as("one WARN naming the alarm per wait: %s", log.warnings()).isEqualTo(1);
                assertThat(log.warnings()).as("few WARN lines: %s", log.warnings()).hasSizeLessThanOrEqualTo(3);

                final long t0 = System.nanoTime();
                recover();
                await().atMost(Duration.ofSeconds(10)).until(() -> events.reacquired.size() == 1);
                System.out.printf("NOSPACE: re-acquired %d ms after the alarm was disarmed%n",
                    (System.nanoTime() - t0) / 1_000_000);
                assertThat(events.matching("reacquired")).containsExactly("reacquired " + lease.subnet() + " -> "
                    + lease.subnet());
                assertThat(EtcdTestSupport.get(etcd, subnetKey(lease.key())).text())
                    .isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
            }
        }
    }
}
