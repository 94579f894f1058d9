package io.overlay.etcd;

import static io.overlay.core.net.Ipv4.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.EtcdCluster;
import io.overlay.testing.EtcdServer;
import io.overlay.testing.LogCapture;
import java.io.IOException;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A real three-member etcd cluster whose membership an operator changes while an allocator runs: a failed member
 * removed ({@code etcdctl member remove}) and replaced by a new member on a new URL ({@code member add}, started with
 * {@code --initial-cluster-state existing}), and the member that is the allocator's only endpoint removed.
 */
class MembershipTest {
    private static final String PREFIX = "/members/coreos.com/network";
    private EtcdCluster cluster;

    @BeforeEach
    void startCluster() throws IOException {
        cluster = EtcdCluster.launch(3);
        cluster.etcdctl("put", PREFIX + "/config", "{\"Network\":\"100.64.0.0/16\"}");
        cluster.etcdctl("put", PREFIX + "/subnets/100.64.2.0-24", "{\"PublicIP\":\"198.18.0.2\"}");
    }

    @AfterEach
    void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** Renewal every ~2 s, a retry 1 s after a failure, requests bounded to 2 s. */
    private static EtcdSettings settings(final List<String> endpoints) {
        return EtcdSettings.builder().endpoints(endpoints.toArray(new String[0])).prefix(PREFIX)
            .leaseTtl(Duration.ofSeconds(6)).renewMargin(Duration.ofSeconds(4))
            .renewRetryInterval(Duration.ofSeconds(1)).requestTimeout(Duration.ofSeconds(2))
            .connectTimeout(Duration.ofSeconds(1)).backoff(Duration.ofMillis(100), Duration.ofSeconds(1)).build();
    }

    /**
     * Two failed members in turn are removed and replaced by new members on new URLs; the allocator, configured with
     * the three original URLs, is left with one and then two dead ones. Each round removes a member serving one of its
     * watches (found by etcd's watcher gauge), so a watch must move: the allocator keeps renewing, hears peers written
     * through the new members, and fails only a bounded number of requests.
     */
    @Test
    void failedMembersReplacedOnNewUrls() throws Exception {
        try (LogCapture log = new LogCapture();
             EtcdSubnetAllocator a = new EtcdSubnetAllocator(settings(cluster.endpoints()))) {
            final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
            final RecordingListener events = new RecordingListener();
            a.start(lease, events);
            await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1 && a.renewals() >= 1);
            final List<EtcdServer> original = cluster.members();
            for (int round = 0; round < 2; round++) {
                // Each round replaces the original member serving the most of the allocator's watches (etcd's watcher
                // gauge; it has two, the lease watch and the config watch, each on its own gRPC stream, which round
                // robin may put on different members, so which of them moves is not known in advance).
                final List<EtcdServer> left = original.stream().filter(x -> cluster.members().contains(x)).toList();
                final EtcdServer failed = left.stream().max(Comparator.comparingLong(EtcdServer::watchers))
                    .orElseThrow();
                assertThat(failed.watchers()).as("round %d removes a member serving a watch", round).isPositive();
                final long errors = a.status().errors();
                final long t0 = System.nanoTime();
                failed.stop();
                cluster.removeMember(failed);
                final EtcdServer fresh = cluster.addMember();
                final String key = "100.64." + (10 + round) + ".0-24";
                fresh.etcdctl("put", PREFIX + "/subnets/" + key, "{\"PublicIP\":\"198.18.1." + round + "\"}");
                await().atMost(Duration.ofSeconds(20)).until(() -> events.peers.containsKey(
                    Ipv4Prefix.parse(key.replace('-', '/'))));
                final long renewed = a.renewals();
                await().atMost(Duration.ofSeconds(20)).until(() -> a.renewals() >= renewed + 3);
                System.out.printf("round %d: replaced %s by %s; new peer and 3 renewals after %d ms; %d failed "
                    + "requests, %d watch restarts%n", round, failed, fresh, (System.nanoTime() - t0) / 1_000_000,
                    a.status().errors() - errors, a.watchRestarts());
                // the dead URL is skipped by gRPC's round robin: at most a few requests fail on it, no steady stream
                assertThat(a.status().errors() - errors).as("failed requests in round %d", round).isLessThan(6);
            }
            System.out.println("warnings: " + log.warnings());
            assertThat(log.warnings()).as("at most a watch reopening and a failed request or two per round")
                .hasSizeLessThanOrEqualTo(6);
            assertThat(events.matching("lost")).as("the own lease is kept renewed").isEmpty();
            assertThat(events.matching("removed")).isEmpty();
            assertThat(events.peers).hasSize(3);
        }
    }

    /**
     * The allocator's only configured endpoint is the member an operator removes (the others are alive but not in its
     * list). etcd 3.4 shuts a removed member down, so every request finds the port closed; overlay (like flanneld's
     * client with a fixed {@code --etcd-endpoints}) never learns other members' URLs. The agent must say which endpoint
     * does not answer and that it may no longer be a member, retry at a bounded rate without hanging, and an agent
     * restarted with the right list must get its subnet back.
     */
    @Test
    void onlyEndpointRemoved() throws Exception {
        final EtcdServer only = cluster.members().get(2);
        final Ipv4Prefix subnet = Ipv4Prefix.parse("100.64.1.0/24");
        try (LogCapture log = new LogCapture()) {
            final EtcdSubnetAllocator a = new EtcdSubnetAllocator(settings(List.of(only.endpoint())));
            try {
                final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(subnet));
                final RecordingListener events = new RecordingListener();
                a.start(lease, events);
                await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1 && a.renewals() >= 1);
                cluster.removeMember(only);
                await().atMost(Duration.ofSeconds(20)).until(() -> !only.isRunning());
                final long errors = a.status().errors();
                final long warnings = log.count("Error renewing lease");
                Thread.sleep(12_000);
                final List<String> failed = log.warnings().stream().filter(w -> w.contains("Error renewing lease"))
                    .toList();
                System.out.printf("only endpoint removed: %s; %d renewal WARNs and %d failed requests in 12 s; last: "
                    + "%s%n", a.status(), failed.size() - warnings, a.status().errors() - errors,
                    failed.isEmpty() ? "-" : failed.get(failed.size() - 1));
                assertThat(failed).as("renewals fail, with a WARN each").isNotEmpty();
                assertThat(failed.get(failed.size() - 1)).as("the WARN names the endpoint and the likely cause")
                    .contains(only.endpoint()).contains("no longer an etcd member").contains("etcdctl member list");
                // the port is closed, so each attempt fails at once: one per retry interval (1 s), about 12 in
                // 12 s, never a loop
                assertThat(failed.size() - warnings).isBetween(1L, 14L);
                // besides the renewals, the two watches' reopenings (backoff up to 1 s) fail at once too
                assertThat(a.status().errors() - errors).isBetween(1L, 40L);
                assertThat(events.matching("removed")).as("last known routes stay").isEmpty();
            } finally {
                final long t0 = System.nanoTime();
                a.close();
                assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("close does not wait for etcd")
                    .isLessThan(Duration.ofSeconds(5));
            }
        }
        // The operator restarts the agent with the members' URLs: its etcd lease (6 s TTL) expired meanwhile, so the
        // same subnet is free again and taken without a takeover.
        try (EtcdSubnetAllocator b = new EtcdSubnetAllocator(settings(cluster.endpoints()))) {
            final Lease again = b.acquire(parse("198.18.0.1"), Optional.of(subnet));
            assertThat(again.subnet()).isEqualTo(subnet);
        }
    }

    /**
     * Quorum lost for 20 s, and the one member left answering is behind: it was down while a peer moved to another
     * PublicIP and a peer was added. Renewals are due all along (every ~2 s) and fail; nothing the lagging member says
     * (no leader; older values) may make the allocator drop or revert a peer or drop its own lease, and once a quorum
     * is back it renews and follows peers again within seconds. ({@link ClusterFaultsTest} loses quorum with no member
     * behind.)
     */
    @Test
    void quorumLostWithOnlyALaggingMemberAnswering() throws Exception {
        final List<EtcdServer> m = cluster.members();
        try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(settings(cluster.endpoints()))) {
            final Lease lease = a.acquire(parse("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
            final RecordingListener events = new RecordingListener();
            a.start(lease, events);
            await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1 && a.renewals() >= 1);
            final Ipv4Prefix moved = Ipv4Prefix.parse("100.64.2.0/24");
            final Ipv4Prefix added = Ipv4Prefix.parse("100.64.3.0/24");
            m.get(0).stop();
            cluster.awaitHealthy(Duration.ofSeconds(30));
            putVia(m.get(1), PREFIX + "/subnets/100.64.2.0-24", "{\"PublicIP\":\"198.18.0.22\"}");
            putVia(m.get(1), PREFIX + "/subnets/100.64.3.0-24", "{\"PublicIP\":\"198.18.0.3\"}");
            await().atMost(Duration.ofSeconds(15)).until(() -> events.peers.containsKey(added)
                && events.peers.get(moved).attrs().publicIp() == parse("198.18.0.22"));

            // m0 comes back alone: behind by two writes, and no quorum to catch up from
            m.get(1).stop();
            m.get(2).stop();
            m.get(0).start();
            final long failedBefore = a.status().errors();
            Thread.sleep(20_000);
            final long renewalsDuringOutage = a.renewals();
            System.out.printf("quorum lost 20 s, lagging member answering: %s, %d failed requests%n", a.status(),
                a.status().errors() - failedBefore);
            assertThat(a.status().errors()).as("renewals were due and failed").isGreaterThan(failedBefore);
            assertThat(events.matching("removed")).as("no peer dropped").isEmpty();
            assertThat(events.matching("lost")).as("own lease kept").isEmpty();
            assertThat(events.peers).containsKey(added);
            assertThat(events.peers.get(moved).attrs().publicIp()).as("not reverted to the lagging member's value")
                .isEqualTo(parse("198.18.0.22"));

            final long t0 = System.nanoTime();
            m.get(1).start();
            m.get(2).start();
            cluster.awaitHealthy(Duration.ofSeconds(30));
            putVia(m.get(0), PREFIX + "/subnets/100.64.4.0-24", "{\"PublicIP\":\"198.18.0.4\"}");
            await().atMost(Duration.ofSeconds(15)).until(() -> events.peers.containsKey(
                Ipv4Prefix.parse("100.64.4.0/24")));
            await().atMost(Duration.ofSeconds(15)).until(() -> a.renewals() > renewalsDuringOutage);
            System.out.printf("quorum back: new peer and a renewal %d ms after the restart began%n",
                (System.nanoTime() - t0) / 1_000_000);
            assertThat(events.matching("removed")).isEmpty();
            assertThat(events.matching("lost")).isEmpty();
            assertThat(events.peers.get(moved).attrs().publicIp()).isEqualTo(parse("198.18.0.22"));
            assertThat(events.peers).hasSize(3);
        }
    }

    /** Puts through one member, retrying while the cluster elects a leader. */
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
}
