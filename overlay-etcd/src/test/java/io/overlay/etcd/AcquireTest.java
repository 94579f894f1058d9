package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.flannel.Lease;
import io.overlay.core.OutOfSubnetsException;
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

/** Acquisition against a real etcd: keys and values byte for byte, TTL, reuse, B3, B5, B7, races. */
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
            final Lease again = second.acquire(ip("198.18.0.1"), Optional.empty());
            assertThat(again.subnet()).isEqualTo(lease.subnet());
            assertThat(log.messages()).anyMatch(m -> m.startsWith("Found lease " + subnetKey(lease.key())
                + " for current IP 198.18.0.1, reusing"));
        }
        final KeyState k = get(subnetKey(lease.key()));
        assertThat(k.text()).isEqualTo(UDP_VALUE_1);
        assertThat(leaseTtl(etcd, k.lease())[0]).isEqualTo(86400);
    }

    @Test
    void previousSubnetIsReusedWhenFree() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final Lease lease = allocator().acquire(ip("198.18.0.1"),
            Optional.of(Ipv4Prefix.parse("100.64.200.0/24")));
        assertThat(lease.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.200.0/24"));
    }

    /** B5: subnet.env names a subnet another host now holds: untouched, another subnet is chosen, logged. */
    @Test
    void b5PreviousSubnetHeldByAnotherHostIsNotTouched() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final Lease b = allocator().acquire(ip("198.18.0.2"), Optional.of(Ipv4Prefix.parse("100.64.5.0/24")));
        assertThat(b.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.5.0/24"));
        final KeyState before = get(subnetKey("100.64.5.0-24"));

        try (LogCapture log = new LogCapture()) {
            final Lease a = allocator().acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.5.0/24")));
            assertThat(a.subnet()).isNotEqualTo(b.subnet());
            assertThat(log.warnings()).anyMatch(m -> m.contains("Previous subnet 100.64.5.0/24")
                && m.contains("held by key " + subnetKey("100.64.5.0-24")) && m.contains("198.18.0.2"));
        }
        final KeyState after = get(subnetKey("100.64.5.0-24"));
        assertThat(after.text()).isEqualTo("{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}");
        assertThat(after.lease()).isEqualTo(before.lease());
        assertThat(after.modRevision()).isEqualTo(before.modRevision());
    }

    /** B7: /24 network gives three /26; the fourth host fails naming range and count, then succeeds after a delete. */
    @Test
    void b7OutOfSubnetsNamesRangeAndCountThenRecovers() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/24\"}");
        final Set<Ipv4Prefix> got = new HashSet<>();
        for (int i = 1; i <= 3; i++) {
            got.add(allocator().acquire(ip("198.18.0." + i), Optional.empty()).subnet());
        }
        assertThat(got).containsExactlyInAnyOrder(Ipv4Prefix.parse("100.64.0.64/26"),
            Ipv4Prefix.parse("100.64.0.128/26"), Ipv4Prefix.parse("100.64.0.192/26"));

        final EtcdSubnetAllocator fourth = allocator();
        assertThatThrownBy(() -> fourth.acquire(ip("198.18.0.4"), Optional.empty()))
            .isInstanceOf(OutOfSubnetsException.class)
            .hasMessageStartingWith("no free /26 in 100.64.0.64-100.64.0.192 of 100.64.0.0/24: 3 of 3 in use");

        etcd.etcdctl("del", subnetKey("100.64.0.128-26"));
        assertThat(fourth.acquire(ip("198.18.0.4"), Optional.empty()).subnet())
            .isEqualTo(Ipv4Prefix.parse("100.64.0.128/26"));
    }

    /** B3 (allocation side): a key whose name parses but whose value does not still occupies its subnet. */
    @Test
    void b3KeysWithMalformedValuesStillCountAsOccupied() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/24\"}");
        etcd.etcdctl("put", subnetKey("100.64.0.64-26"), "not-json");
        etcd.etcdctl("put", subnetKey("100.64.0.128-26"), "");
        etcd.etcdctl("put", subnetKey("garbage"), "{}");
        assertThat(allocator().acquire(ip("198.18.0.1"), Optional.empty()).subnet())
            .isEqualTo(Ipv4Prefix.parse("100.64.0.192/26"));
        assertThatThrownBy(() -> allocator().acquire(ip("198.18.0.2"), Optional.empty()))
            .isInstanceOf(OutOfSubnetsException.class).hasMessageContaining("3 of 3 in use");
        assertThat(get(subnetKey("100.64.0.64-26")).text()).isEqualTo("not-json");
    }

    /** Overlap, not equality: a foreign-sized key blocks every candidate it covers. */
    @Test
    void aLargerForeignKeyBlocksEveryCandidateItCovers() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/24\"}");
        etcd.etcdctl("put", subnetKey("100.64.0.0-25"), "{\"PublicIP\":\"198.18.0.9\"}");
        assertThat(allocator().acquire(ip("198.18.0.1"), Optional.empty()).subnet().address() & 0xff)
            .isGreaterThanOrEqualTo(128);
        assertThat(allocator().acquire(ip("198.18.0.2"), Optional.empty()).subnet().address() & 0xff)
            .isGreaterThanOrEqualTo(128);
        assertThatThrownBy(() -> allocator().acquire(ip("198.18.0.3"), Optional.empty()))
            .isInstanceOf(OutOfSubnetsException.class);
    }

    @Test
    void incompatibleLeaseOfOurIpIsDeletedAndReplaced() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final String lease = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        // 100.64.0.0/24 is below SubnetMin 100.64.1.0
        etcd.etcdctl("put", "--lease=" + lease, subnetKey("100.64.0.0-24"),
            "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
        try (LogCapture log = new LogCapture()) {
            final Lease got = allocator().acquire(ip("198.18.0.1"), Optional.empty());
            assertThat(got.subnet()).isNotEqualTo(Ipv4Prefix.parse("100.64.0.0/24"));
            assertThat(log.warnings()).anyMatch(m -> m.startsWith("DELETING lease " + subnetKey("100.64.0.0-24")));
        }
        assertThat(get(subnetKey("100.64.0.0-24"))).isNull();
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

    /**
     * Review L3: the put that moves our key to a fresh etcd lease reports an error after etcd applied it (a reply lost
     * on the way back): the key is read back and kept, not deleted by revoking the fresh lease.
     */
    @Test
    void reusePutAppliedDespiteAnErrorKeepsTheKey() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final String key = subnetKey("100.64.77.0-24");
        final String old = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        etcd.etcdctl("put", "--lease=" + old, key, UDP_VALUE_1);
        final EtcdSubnetAllocator a = allocator();
        a.injectFailure("update " + key, new EtcdUnavailableException("injected: reply lost", null), true);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        assertThat(lease.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.77.0/24"));
        final KeyState k = get(key);
        assertThat(k).as("our key survived").isNotNull();
        assertThat(k.text()).isEqualTo(UDP_VALUE_1);
        assertThat(k.lease()).isNotZero().isNotEqualTo(Long.parseLong(old, 16));
        assertThat(leaseTtl(etcd, k.lease())[1]).isPositive();
        a.start(lease, new RecordingListener());
        assertThat(a.ownLeaseId()).isEqualTo(k.lease());
    }

    /** Review L3: reusing our key does not revoke its previous etcd lease while other keys still hang on it. */
    @Test
    void reuseLeavesAPreviousEtcdLeaseOtherKeysStillUse() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final String key = subnetKey("100.64.78.0-24");
        final String other = prefix + "/other/kept";
        final String old = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        etcd.etcdctl("put", "--lease=" + old, key, UDP_VALUE_1);
        etcd.etcdctl("put", "--lease=" + old, other, "x");
        final Lease lease = allocator().acquire(ip("198.18.0.1"), Optional.empty());
        assertThat(lease.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.78.0/24"));
        assertThat(get(key).lease()).isNotEqualTo(Long.parseLong(old, 16));
        assertThat(get(other)).as("the other key on the previous lease").isNotNull();
        assertThat(leaseTtl(etcd, Long.parseLong(old, 16))[1]).isPositive();

        // Alone on its lease, the previous etcd lease is revoked.
        final String key2 = subnetKey("100.64.79.0-24");
        final String alone = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        etcd.etcdctl("put", "--lease=" + alone, key2, "{\"PublicIP\":\"198.18.0.2\"}");
        allocator().acquire(ip("198.18.0.2"), Optional.empty());
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(20))
            .until(() -> leaseTtl(etcd, Long.parseLong(alone, 16))[1] == -1);
    }

    /** Review L5: the listing is read in pages at one revision; every key comes back once, in key order. */
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
        try (EtcdOps ops = new EtcdOps(settings().build())) {
            ops.listPageSize = 5;
            final SubnetListing l = ops.list(prefix + "/subnets/");
            assertThat(l.entries()).extracting(SubnetListing.Entry::key).containsExactlyElementsOf(keys);
            assertThat(l.entries()).allMatch(SubnetListing.Entry::valid);
            assertThat(l.revision()).isEqualTo(rev);
        }
    }

    /**
     * Review L10: flanneld's default endpoints name port 4001, where usually nothing listens any more; a dead endpoint
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
        for (int i = 1; i <= 5; i++) {
            final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
            assertThat(get(subnetKey(lease.key())).text()).isEqualTo(UDP_VALUE_1);
        }
    }
}
