package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** B2: etcd goes away for a while and comes back; peers are kept, the watch and renewal resume, backoff is bounded. */
class OutageTest extends EtcdTestSupport {
    private static final Duration OUTAGE = Duration.ofSeconds(12);

    @Test
    void b2EtcdOutageKeepsPeersAndResumes() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}");
        final EtcdSubnetAllocator a = allocator(settings().leaseTtl(Duration.ofSeconds(20))
            .renewMargin(Duration.ofSeconds(17)).renewRetryInterval(Duration.ofSeconds(1))
            .requestTimeout(Duration.ofSeconds(1)).connectTimeout(Duration.ofSeconds(1))
            .backoff(Duration.ofMillis(100), Duration.ofSeconds(2)).build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.size() == 1 && a.renewals() >= 1);

        assertThat(a.status().errors()).as("no failed request while etcd answers").isZero();
        etcd.stop();
        Thread.sleep(OUTAGE.toMillis());
        assertThat(events.matching("removed")).as("last known routes stay").isEmpty();
        assertThat(events.matching("lost")).isEmpty();
        assertThat(events.peers).containsKey(Ipv4Prefix.parse("100.64.2.0/24"));
        // capped exponential backoff: 100 ms doubling to 2 s over 12 s is about 10 attempts, never a hot loop
        assertThat(a.watchRestarts()).isBetween(1L, 20L);
        final long renewalsDuringOutage = a.renewals();
        assertThat(a.status().errors()).as("failed etcd requests are counted").isPositive();

        etcd.start();
        Thread.sleep(2000);
        // a subnet the agent did not pick at random for itself
        final Ipv4Prefix later = Ipv4Prefix.parse(lease.subnet().equals(Ipv4Prefix.parse("100.64.4.0/24"))
            ? "100.64.5.0/24" : "100.64.4.0/24");
        etcd.etcdctl("put", subnetKey(later.toString().replace('/', '-')), "{\"PublicIP\":\"198.18.0.4\"}");
        await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.containsKey(later));
        await().atMost(Duration.ofSeconds(10)).until(() -> a.renewals() > renewalsDuringOutage);
        assertThat(events.matching("removed")).isEmpty();
        assertThat(events.matching("lost")).isEmpty();
        final KeyState k = get(subnetKey(lease.key()));
        assertThat(k.text()).isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
        assertThat(leaseTtl(etcd, k.lease())[1]).isGreaterThan(10);
    }
}
