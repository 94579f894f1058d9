package io.overlay.etcd;

import static io.overlay.core.net.Ipv4.parse;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.EtcdCluster;
import io.overlay.testing.EtcdServer;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A three-member etcd cluster on loopback: stopping any one member disturbs no allocator. */
class ClusterTest {
    private static EtcdCluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = EtcdCluster.launch(3);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void stoppingAnyOneMemberDisturbsNoAllocator() throws Exception {
        final String prefix = "/cluster/coreos.com/network";
        cluster.etcdctl("put", prefix + "/config", "{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings settings = EtcdSettings.builder().endpoints(cluster.endpoints().toArray(new String[0]))
            .prefix(prefix).leaseTtl(Duration.ofSeconds(6)).renewMargin(Duration.ofSeconds(4))
            .renewRetryInterval(Duration.ofSeconds(1)).requestTimeout(Duration.ofSeconds(2))
            .connectTimeout(Duration.ofSeconds(1)).backoff(Duration.ofMillis(100), Duration.ofSeconds(1)).build();
        try (EtcdSubnetAllocator a = new EtcdSubnetAllocator(settings);
             EtcdSubnetAllocator b = new EtcdSubnetAllocator(settings)) {
            final Lease la = a.acquire(parse("198.18.0.1"), Optional.empty());
            final Lease lb = b.acquire(parse("198.18.0.2"), Optional.empty());
            final RecordingListener ea = new RecordingListener();
            final RecordingListener eb = new RecordingListener();
            a.start(la, ea);
            b.start(lb, eb);
            await().atMost(Duration.ofSeconds(10)).until(() -> ea.peers.containsKey(lb.subnet())
                && eb.peers.containsKey(la.subnet()));

            final List<EtcdServer> members = cluster.members();
            for (int i = 0; i < members.size(); i++) {
                members.get(i).stop();
                final long ra = a.renewals();
                final long rb = b.renewals();
                final String key = prefix + "/subnets/100.64." + (200 + i) + ".0-24";
                // the test's own write waits out a leader election; the allocators are on their own
                cluster.awaitHealthy(Duration.ofSeconds(30));
                putWithRetry(key, "{\"PublicIP\":\"198.18.1." + i + "\"}");
                final Ipv4Prefix peer = Ipv4Prefix.parse("100.64." + (200 + i) + ".0/24");
                await().atMost(Duration.ofSeconds(15)).until(() -> ea.peers.containsKey(peer)
                    && eb.peers.containsKey(peer));
                // renewals go on (one every ~2 s)
                await().atMost(Duration.ofSeconds(15)).until(() -> a.renewals() > ra && b.renewals() > rb);
                members.get(i).start();
                cluster.awaitHealthy(Duration.ofSeconds(30));
            }
            assertThat(ea.matching("lost")).isEmpty();
            assertThat(eb.matching("lost")).isEmpty();
            assertThat(ea.matching("removed")).isEmpty();
            assertThat(eb.matching("removed")).isEmpty();
            assertThat(ea.peers).hasSize(4);
            assertThat(eb.peers).hasSize(4);
        }
    }

    private static void putWithRetry(final String key, final String value) throws InterruptedException {
        for (int attempt = 1;; attempt++) {
            try {
                cluster.etcdctl("put", key, value);
                return;
            } catch (IllegalStateException e) {
                if (attempt == 5) {
                    throw e;
                }
                Thread.sleep(1000);
            }
        }
    }
}
