package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.LogCapture;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A single etcd that accepts TCP connections but never answers: its process frozen with SIGSTOP (a hung disk, a
 * swapped-out or paused VM), the kernel still completing connections into its listen backlog. Every request must end
 * by its deadline with an error naming the endpoint, nothing may hang, and everything resumes after SIGCONT.
 * {@link ClusterFaultsTest} covers one frozen member of three, where the client can move to another.
 */
class FrozenEtcdTest extends EtcdTestSupport {
    @AfterEach
    void thaw() {
        if (etcd.isRunning()) {
            etcd.unfreeze();
        }
    }

    private EtcdSettings.Builder frozenSettings() {
        return settings().requestTimeout(Duration.ofSeconds(1)).connectTimeout(Duration.ofSeconds(1))
            .backoff(Duration.ofMillis(100), Duration.ofSeconds(1));
    }

    @Test
    void frozenAtStartUpTimesOutNamingTheEndpointAndStartsAfterThaw() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        etcd.freeze();
        final EtcdSubnetAllocator a = allocator(frozenSettings().build());
        try (LogCapture log = new LogCapture()) {
            final CompletableFuture<Lease> started = CompletableFuture.supplyAsync(() -> {
                try {
                    a.awaitNetworkConfig();
                    return a.acquire(ip("198.18.0.1"), Optional.empty());
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            await().atMost(Duration.ofSeconds(10)).until(() -> log.warnings().stream().anyMatch(m ->
                m.contains("timed out after PT1S") && m.contains(etcd.endpoint())));
            Thread.sleep(3000);
            assertThat(started).isNotDone();
            // this test's own: an allocator of the test before may still be ending its last request in the background
            assertThat(log.warnings().stream().filter(m -> m.contains(prefix)).toList())
                .as("one WARN per problem: %s", log.warnings()).hasSize(1);
            final long errors = a.status().errors();
            assertThat(errors).as("requests end by their 1 s deadline and are retried").isBetween(2L, 10L);

            final long t0 = System.nanoTime();
            etcd.unfreeze();
            final Lease lease = started.get(15, TimeUnit.SECONDS);
            System.out.printf("frozen at start-up: acquired %d ms after SIGCONT%n", (System.nanoTime() - t0) / 1_000_000);
            assertThat(get(subnetKey(lease.key())).text()).contains("198.18.0.1");
        }
    }

    @Test
    void closingWhileEtcdIsFrozenDoesNotHang() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(frozenSettings().build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        a.start(lease, new RecordingListener());
        Thread.sleep(500);
        etcd.freeze();
        final CompletableFuture<Lease> other = CompletableFuture.supplyAsync(() -> {
            try {
                return allocator(frozenSettings().build()).acquire(ip("198.18.0.2"), Optional.empty());
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(2000);
        final long t0 = System.nanoTime();
        a.close();
        final long closedMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("frozen etcd: close() took %d ms%n", closedMs);
        assertThat(closedMs).as("close() with etcd frozen").isLessThan(5000);
        assertThat(other).isNotDone();
    }

    @Test
    void frozenWhileRunningKeepsPeersAndResumesAfterThaw() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.2\"}");
        // a renewal every 3 s; a TTL far above the freeze, so etcd's own lease clock does not expire it on resume
        final EtcdSubnetAllocator a = allocator(frozenSettings().leaseTtl(Duration.ofSeconds(60))
            .renewMargin(Duration.ofSeconds(57)).renewRetryInterval(Duration.ofSeconds(1)).build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1 && a.renewals() >= 1);

        try (LogCapture log = new LogCapture()) {
            etcd.freeze();
            Thread.sleep(20_000);
            final long renewals = a.renewals();
            assertThat(events.matching("removed")).as("last known routes stay").isEmpty();
            assertThat(events.matching("lost")).isEmpty();
            assertThat(log.warnings()).as("the renewal's failure names the endpoint").anyMatch(m ->
                m.contains("renew lease") && m.contains("timed out") && m.contains(etcd.endpoint()));
            // renewal retried every 1 s with a 1 s deadline, the watch reopened with backoff up to 1 s: bounded
            assertThat(a.status().errors()).isBetween(5L, 40L);
            assertThat(log.warnings()).as("WARN lines in 20 s: %s", log.warnings()).hasSizeLessThanOrEqualTo(25);

            final long t0 = System.nanoTime();
            etcd.unfreeze();
            etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
            await().atMost(Duration.ofSeconds(20)).until(() -> events.peers.containsKey(
                Ipv4Prefix.parse("100.64.4.0/24")));
            final long seen = (System.nanoTime() - t0) / 1_000_000;
            await().atMost(Duration.ofSeconds(15)).until(() -> a.renewals() > renewals);
            System.out.printf("frozen 20 s while running: new peer seen %d ms after SIGCONT, renewal after %d ms; "
                + "%d watch restarts, %d WARN lines%n", seen, (System.nanoTime() - t0) / 1_000_000,
                a.watchRestarts(), log.warnings().size());
            assertThat(events.matching("lost")).isEmpty();
            assertThat(events.matching("removed")).isEmpty();
        }
    }

    /**
     * etcd freezes after granting the fresh etcd lease and before the create that attaches the key to it: the create
     * times out, so does reading the key back, and on SIGCONT etcd applies the create after all. The key then carries
     * this host's PublicIP on a live etcd lease this very agent granted: it is this agent's own, not another host's
     * to refuse a takeover of (which would lock a fresh host out until the 24 h TTL ran out).
     */
    @Test
    void aCreateAppliedAfterItTimedOutIsTakenAsOwn() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = frozenSettings().build();
        final FaultyRegistry faulty = new FaultyRegistry(new GatewayRegistry(s), true);
        faulty.interleave(FaultyRegistry.Op.CREATE, 1, () -> {
            etcd.freeze();
            CompletableFuture.delayedExecutor(3, TimeUnit.SECONDS).execute(etcd::unfreeze);
        });
        final EtcdSubnetAllocator a = allocator(s, faulty);
        final Lease lease;
        try (LogCapture log = new LogCapture()) {
            lease = a.acquire(ip("198.18.0.1"), Optional.empty());
            assertThat(log.warnings()).anyMatch(m -> m.contains("cannot be read back"));
            final KeyState k = get(subnetKey(lease.key()));
            assertThat(k.text()).isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
            assertThat(leaseTtl(etcd, k.lease())[1]).isPositive();
            // the key the late create made is revoked with its lease (asynchronously)
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(etcd.etcdctl("get", "--prefix",
                "--keys-only", prefix + "/subnets/").strip().split("\\s+"))
                .as("one key for this host").containsExactly(subnetKey(lease.key())));
        }
        // and the host restarts with its subnet.env: no orphan key of its PublicIP on a live lease in the way
        a.close();
        final Lease again = allocator(frozenSettings().build()).acquire(ip("198.18.0.1"), Optional.of(lease.subnet()));
        assertThat(again.subnet()).isEqualTo(lease.subnet());
    }
}
