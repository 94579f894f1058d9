package io.overlay.etcd;

import static io.overlay.core.net.Ipv4.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.EtcdCluster;
import io.overlay.testing.EtcdServer;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Faults of a three-member etcd cluster that {@link ClusterTest} (one member killed at a time) does not cover: a member
 * that hangs with its connections open (SIGSTOP), and the loss of quorum for a while.
 */
class ClusterFaultsTest {
    private static final AtomicInteger PREFIXES = new AtomicInteger();
    /** One cluster for the class (launching several back to back races for free ports); tests leave it whole. */
    private static EtcdCluster cluster;
    private String prefix;

    @BeforeAll
    static void startCluster() throws IOException {
        cluster = EtcdCluster.launch(3);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @BeforeEach
    void freshPrefix() throws IOException {
        cluster.awaitHealthy(Duration.ofSeconds(30));
        prefix = "/faults" + PREFIXES.incrementAndGet() + "/coreos.com/network";
        cluster.etcdctl("put", prefix + "/config", "{\"Network\":\"100.64.0.0/16\"}");
        cluster.etcdctl("put", prefix + "/subnets/100.64.2.0-24", "{\"PublicIP\":\"198.18.0.2\"}");
    }

    /** Every member running, none frozen, whatever the test did. */
    @AfterEach
    void restoreMembers() throws IOException {
        for (EtcdServer m : cluster.members()) {
            if (m.isRunning()) {
                m.unfreeze();
            } else {
                m.start();
            }
        }
    }

    /** Renewal every ~{@code ttl - margin} s; a retry 1 s after a failure. */
    private EtcdSettings settings(final int ttl, final int margin) {
        return EtcdSettings.builder().endpoints(cluster.endpoints().toArray(new String[0])).prefix(prefix)
            .leaseTtl(Duration.ofSeconds(ttl)).renewMargin(Duration.ofSeconds(margin))
            .renewRetryInterval(Duration.ofSeconds(1)).requestTimeout(Duration.ofSeconds(2))
            .connectTimeout(Duration.ofSeconds(1)).backoff(Duration.ofMillis(100), Duration.ofSeconds(1)).build();
    }

    /** Puts through one live member, retrying while the cluster elects a leader. */
    private static void putVia(final EtcdServer m, final String key, final String value) throws InterruptedException {
        for (int attempt = 1;; attempt++) {
            try {
                m.etcdctl("put", key, value);
                return;
            } catch (IllegalStateException e) {
                if (attempt == 10) {
                    throw e;
                }
                Thread.sleep(1000);
            }
        }
    }

    /**
     * Each member in turn is frozen: its TCP connections stay open but silent, so only gRPC keepalive (or a request
     * timeout) tells the client. The allocator must leave it for another member within a bounded time, keep renewing
     * and keep hearing the lease watch. Whichever member holds the lease watch, one round freezes it.
     */
    @Test
    void frozenMemberIsLeftForAnother() throws Exception {
        // A renewal every 3 s, as with a 10 s TTL, but a TTL far above the longest freeze (~30 s): a leader frozen and
        // resumed revokes, in etcd releases without the fix (3.4.23 here), the leases its own clock says expired,
        // although the new leader renewed them; that is etcd's fault, not the client's (the allocator then re-acquires
        // the same subnet), and it would make this test about etcd. Renewals sent to the frozen member time out (2 s).
        try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(settings(60, 57))) {
            final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
            final RecordingListener events = new RecordingListener();
            a.start(lease, events);
            await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1 && a.renewals() >= 1);
            final List<EtcdServer> members = cluster.members();
            for (int i = 0; i < members.size(); i++) {
                final EtcdServer frozen = members.get(i);
                final EtcdServer live = members.get((i + 1) % members.size());
                final long w = frozen.watchers();
                final long restarts = a.watchRestarts();
                final long errors = a.status().errors();
                final long t0 = System.nanoTime();
                frozen.freeze();
                final String key = "100.64." + (10 + i) + ".0-24";
                putVia(live, prefix + "/subnets/" + key, "{\"PublicIP\":\"198.18.1." + i + "\"}");
                final long put = System.nanoTime();
                await().atMost(Duration.ofSeconds(40)).until(() -> events.peers.containsKey(Ipv4Prefix.parse(
                    key.replace('-', '/'))));
                final long seen = System.nanoTime();
                final long renewed = a.renewals();
                await().atMost(Duration.ofSeconds(20)).until(() -> a.renewals() >= renewed + 2);
                System.out.printf("frozen %s (%d watchers): put done after %d ms, new peer seen %d ms after the put,"
                    + " 2 more renewals after %d ms; %d watch restarts, %d failed requests%n", frozen, w,
                    (put - t0) / 1_000_000, (seen - put) / 1_000_000, (System.nanoTime() - seen) / 1_000_000,
                    a.watchRestarts() - restarts, a.status().errors() - errors);
                frozen.unfreeze();
                cluster.awaitHealthy(Duration.ofSeconds(30));
            }
            assertThat(a.watchRestarts()).as("one round froze the member holding the lease watch").isPositive();
            assertThat(events.matching("lost")).as("the own lease is kept renewed").isEmpty();
            assertThat(events.matching("removed")).isEmpty();
            assertThat(events.peers).hasSize(4);
        }
    }

    @Test
    void quorumLostForAWhileThenBack() throws Exception {
        try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(settings(6, 4))) {
            final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
            final RecordingListener events = new RecordingListener();
            a.start(lease, events);
            await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1 && a.renewals() >= 1);
            final List<EtcdServer> members = cluster.members();
            members.get(1).stop();
            members.get(2).stop();
            Thread.sleep(20_000);
            final long renewalsDuringOutage = a.renewals();
            final long restarts = a.watchRestarts();
            assertThat(events.matching("removed")).as("last known routes stay").isEmpty();
            assertThat(events.matching("lost")).isEmpty();
            assertThat(events.peers).containsKey(Ipv4Prefix.parse("100.64.2.0/24"));

            final long t0 = System.nanoTime();
            members.get(1).start();
            members.get(2).start();
            cluster.awaitHealthy(Duration.ofSeconds(30));
            putVia(members.get(1), prefix + "/subnets/100.64.4.0-24", "{\"PublicIP\":\"198.18.0.4\"}");
            await().atMost(Duration.ofSeconds(15)).until(() -> events.peers.containsKey(Ipv4Prefix.parse(
                "100.64.4.0/24")));
            final long seen = (System.nanoTime() - t0) / 1_000_000;
            await().atMost(Duration.ofSeconds(15)).until(() -> a.renewals() > renewalsDuringOutage);
            System.out.printf("quorum lost 20 s: %d watch restarts during it, %d renewals; after: new peer seen %d ms"
                + " after the restart began, renewal after %d ms%n", restarts, renewalsDuringOutage,
                seen, (System.nanoTime() - t0) / 1_000_000);
            // capped backoff (100 ms doubling to 1 s) over 20 s: a few dozen reopenings at most, never a hot loop
            assertThat(restarts).isBetween(1L, 40L);
            assertThat(events.matching("removed")).isEmpty();
            assertThat(events.matching("lost")).isEmpty();
        }
    }
}
