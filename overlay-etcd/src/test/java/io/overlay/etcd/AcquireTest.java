package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.LogCapture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Acquisition against a real etcd: keys and values byte for byte, TTL, reuse and the previous etcd lease, paged
 * listings, races on real transactions, a dead endpoint. The policy (B3, B5, B7, lost races and replies) is tested on
 * the in-memory registry in {@link AcquirePolicyTest}.
 */
class AcquireTest extends EtcdTestSupport {
    private static final String UDP_VALUE_1 = "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}";

    @Test
    void writesFlannelKeyAndValueByteForByteWithA24HourLease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}");
        final EtcdSubnetAllocator a = allocator();
        assertThat(a.awaitNetworkConfig().subnetLen()).isEqualTo(24);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());

        assertThat(lease.subnet().length()).isEqualTo(24);
        // among the lowest 100 free candidates: 100.64.1.0 .. 100.64.100.0
        final int third = (lease.subnet().address() >> 8) & 0xff;
        assertThat(third).isBetween(1, 100);
        assertThat(lease.reservation()).isFalse();
        assertThat(lease.ttl()).isEqualTo(Duration.ofSeconds(86400));

        final String key = subnetKey("100.64." + third + ".0-24");
        final KeyState k = get(key);
        assertThat(k).as("key %s", key).isNotNull();
        assertThat(k.value()).isEqualTo(UDP_VALUE_1.getBytes(StandardCharsets.UTF_8));
        assertThat(k.lease()).isNotZero();
        final long[] ttl = leaseTtl(etcd, k.lease());
        assertThat(ttl[0]).isEqualTo(86400);
        assertThat(ttl[1]).isBetween(86000L, 86400L);
        assertThat(etcd.etcdctl("get", prefix + "/subnets", "--prefix", "--keys-only").strip()).isEqualTo(key);
    }

    /**
     * With encryption the value carries BackendData; a restart with a new key rewrites the value of its own lease
     * (same subnet), which is what peers see as a changed lease.
     */
    @Test
    void aValueWithAPublicKeyIsWrittenAndARestartReplacesTheKey() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final String first = "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null,\"BackendData\":{\"PublicKey\":"
            + "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}}";
        final EtcdSubnetAllocator a = allocator();
        final Lease lease = a.acquire(io.overlay.core.flannel.LeaseAttrs.parse(
            first.getBytes(StandardCharsets.UTF_8)), Optional.empty());
        assertThat(get(subnetKey(lease.key())).value()).isEqualTo(first.getBytes(StandardCharsets.UTF_8));
        a.close();
        final String second = first.replace("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=");
        final Lease again = allocator().acquire(io.overlay.core.flannel.LeaseAttrs.parse(
            second.getBytes(StandardCharsets.UTF_8)), Optional.of(lease.subnet()));
        assertThat(again.subnet()).isEqualTo(lease.subnet());
        assertThat(get(subnetKey(lease.key())).value()).isEqualTo(second.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void trailingSlashOnPrefixIsHarmless() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(settings().prefix(prefix + "//").build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        assertThat(get(subnetKey(lease.key()))).isNotNull();
    }

    @Test
    void restartReusesTheLeaseOfItsPublicIp() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator first = allocator();
        final Lease lease = first.acquire(ip("198.18.0.1"), Optional.empty());
        final long firstLeaseId = get(subnetKey(lease.key())).lease();
        first.close();
        // close() keeps the key and its lease
        assertThat(get(subnetKey(lease.key())).lease()).isEqualTo(firstLeaseId);
        assertThat(leaseTtl(etcd, firstLeaseId)[1]).isPositive();

        try (LogCapture log = new LogCapture()) {
            final EtcdSubnetAllocator second = allocator();
            // the restart names its subnet in subnet.env: the evidence that the live lease is its own
            final Lease again = second.acquire(ip("198.18.0.1"), Optional.of(lease.subnet()));
            assertThat(again.subnet()).isEqualTo(lease.subnet());
            assertThat(log.messages()).anyMatch(m -> m.startsWith("Found lease " + subnetKey(lease.key())
                + " for current IP 198.18.0.1, reusing"));
        }
        final KeyState k = get(subnetKey(lease.key()));
        assertThat(k.text()).isEqualTo(UDP_VALUE_1);
        assertThat(leaseTtl(etcd, k.lease())[0]).isEqualTo(86400);
    }

    /** Several allocators race for the last free subnets: all distinct, the rest a clear OutOfSubnetsException. */
    @Test
    void concurrentAcquisitionsGetDistinctSubnetsOrAClearError() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\",\"SubnetMin\":\"100.64.10.0\",\"SubnetMax\":\"100.64.14.0\"}");
        final int hosts = 8;
        final List<EtcdSubnetAllocator> allocators = new ArrayList<>();
        for (int i = 0; i < hosts; i++) {
            final EtcdSubnetAllocator a = allocator();
            a.awaitNetworkConfig();
            allocators.add(a);
        }
        final ExecutorService pool = Executors.newFixedThreadPool(hosts);
        try {
            final CountDownLatch go = new CountDownLatch(1);
            final List<Future<Lease>> results = new ArrayList<>();
            for (int i = 0; i < hosts; i++) {
                final EtcdSubnetAllocator a = allocators.get(i);
                final int n = i + 1;
                results.add(pool.submit((Callable<Lease>) () -> {
                    go.await();
                    return a.acquire(ip("198.18.1." + n), Optional.empty());
                }));
            }
            go.countDown();
            final Set<Ipv4Prefix> subnets = new HashSet<>();
            int outOf = 0;
            for (Future<Lease> f : results) {
                try {
                    assertThat(subnets.add(f.get(60, TimeUnit.SECONDS).subnet())).isTrue();
                } catch (java.util.concurrent.ExecutionException e) {
                    assertThat(e.getCause()).isInstanceOf(OutOfSubnetsException.class)
                        .hasMessageContaining("no free /24 in 100.64.10.0-100.64.14.0");
                    outOf++;
                }
            }
            assertThat(subnets).hasSize(5);
            assertThat(outOf).isEqualTo(3);
            assertThat(etcd.etcdctl("get", prefix + "/subnets", "--prefix", "--keys-only").strip().split("\n+"))
                .hasSize(5);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Reusing our key does not revoke its previous etcd lease while other keys still hang on it. */
    @Test
    void reuseLeavesAPreviousEtcdLeaseOtherKeysStillUse() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final String key = subnetKey("100.64.78.0-24");
        final String other = prefix + "/other/kept";
        final String old = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        etcd.etcdctl("put", "--lease=" + old, key, UDP_VALUE_1);
        etcd.etcdctl("put", "--lease=" + old, other, "x");
        final Lease lease = allocator().acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.78.0/24")));
        assertThat(lease.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.78.0/24"));
        assertThat(get(key).lease()).isNotEqualTo(Long.parseLong(old, 16));
        assertThat(get(other)).as("the other key on the previous lease").isNotNull();
        assertThat(leaseTtl(etcd, Long.parseLong(old, 16))[1]).isPositive();

        // Alone on its lease, the previous etcd lease is revoked.
        final String key2 = subnetKey("100.64.79.0-24");
        final String alone = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        etcd.etcdctl("put", "--lease=" + alone, key2, "{\"PublicIP\":\"198.18.0.2\"}");
        allocator().acquire(ip("198.18.0.2"), Optional.of(Ipv4Prefix.parse("100.64.79.0/24")));
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(20))
            .until(() -> leaseTtl(etcd, Long.parseLong(alone, 16))[1] == -1);
    }

    /** The listing is read in pages at one revision; every key comes back once, in key order. */
    @Test
    void listingIsPagedAtOneRevision() {
        final List<String> keys = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            final String k = subnetKey("100.64." + (100 + i) + ".0-24");
            etcd.etcdctl("put", k, "{\"PublicIP\":\"198.18.1." + i + "\"}");
            keys.add(k);
        }
        etcd.etcdctl("put", prefix + "/subnetsX", "outside the prefix");
        final long rev = revision(etcd);
        try (GatewayRegistry registry = new GatewayRegistry(settings().build(), 5)) {
            final SubnetListing l = registry.list(prefix + "/subnets/");
            assertThat(l.entries()).extracting(SubnetListing.Entry::key).containsExactlyElementsOf(keys);
            assertThat(l.entries()).allMatch(SubnetListing.Entry::valid);
            assertThat(l.revision()).isEqualTo(rev);
        }
    }

    /**
     * flanneld's default endpoints name port 4001, where usually nothing listens any more; a dead endpoint
     * listed first does not keep the allocator from working through the live one.
     */
    @Test
    void aDeadEndpointListedFirstIsTolerated() throws Exception {
        final int dead;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            dead = s.getLocalPort();
        }
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(settings().endpoints("http://127.0.0.1:" + dead, etcd.endpoint())
            .build());
        Optional<Ipv4Prefix> previous = Optional.empty();
        for (int i = 1; i <= 5; i++) {
            final Lease lease = a.acquire(ip("198.18.0.1"), previous);
            assertThat(get(subnetKey(lease.key())).text()).isEqualTo(UDP_VALUE_1);
            previous = Optional.of(lease.subnet());
        }
    }
}
