package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.LogCapture;
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
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The acquisition policy on the in-memory registry: previous subnet, B3, B5, B7, overlap, races, lost replies. */
class AcquirePolicyTest extends FakeRegistrySupport {
    private static final String UDP_VALUE_1 = "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}";

    @Test
    void previousSubnetIsReusedWhenFree() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final Lease lease = allocator().acquire(ip("198.18.0.1"),
            Optional.of(Ipv4Prefix.parse("100.64.200.0/24")));
        assertThat(lease.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.200.0/24"));
        assertThat(store.text(subnetKey("100.64.200.0-24"))).isEqualTo(UDP_VALUE_1);
    }

    /** B5: subnet.env names a subnet another host now holds: untouched, another subnet is chosen, logged. */
    @Test
    void b5PreviousSubnetHeldByAnotherHostIsNotTouched() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final Lease b = allocator().acquire(ip("198.18.0.2"), Optional.of(Ipv4Prefix.parse("100.64.5.0/24")));
        assertThat(b.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.5.0/24"));
        final String key = subnetKey("100.64.5.0-24");
        final long leaseBefore = store.leaseOf(key);
        final long revBefore = store.modRevisionOf(key);

        try (LogCapture log = new LogCapture()) {
            final Lease a = allocator().acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.5.0/24")));
            assertThat(a.subnet()).isNotEqualTo(b.subnet());
            assertThat(log.warnings()).anyMatch(m -> m.contains("Previous subnet 100.64.5.0/24")
                && m.contains("held by key " + key) && m.contains("198.18.0.2"));
        }
        assertThat(store.text(key)).isEqualTo("{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}");
        assertThat(store.leaseOf(key)).isEqualTo(leaseBefore);
        assertThat(store.modRevisionOf(key)).isEqualTo(revBefore);
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

        store.delete(subnetKey("100.64.0.128-26"));
        assertThat(fourth.acquire(ip("198.18.0.4"), Optional.empty()).subnet())
            .isEqualTo(Ipv4Prefix.parse("100.64.0.128/26"));
    }

    /** B3 (allocation side): a key whose name parses but whose value does not still occupies its subnet. */
    @Test
    void b3KeysWithMalformedValuesStillCountAsOccupied() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/24\"}");
        store.put(subnetKey("100.64.0.64-26"), "not-json");
        store.put(subnetKey("100.64.0.128-26"), "");
        store.put(subnetKey("garbage"), "{}");
        assertThat(allocator().acquire(ip("198.18.0.1"), Optional.empty()).subnet())
            .isEqualTo(Ipv4Prefix.parse("100.64.0.192/26"));
        assertThatThrownBy(() -> allocator().acquire(ip("198.18.0.2"), Optional.empty()))
            .isInstanceOf(OutOfSubnetsException.class).hasMessageContaining("3 of 3 in use");
        assertThat(store.text(subnetKey("100.64.0.64-26"))).isEqualTo("not-json");
    }

    /** Overlap, not equality: a foreign-sized key blocks every candidate it covers. */
    @Test
    void aLargerForeignKeyBlocksEveryCandidateItCovers() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/24\"}");
        store.put(subnetKey("100.64.0.0-25"), "{\"PublicIP\":\"198.18.0.9\"}");
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
        // 100.64.0.0/24 is below SubnetMin 100.64.1.0
        store.put(subnetKey("100.64.0.0-24"), UDP_VALUE_1, store.lease(600));
        try (LogCapture log = new LogCapture()) {
            final Lease got = allocator().acquire(ip("198.18.0.1"), Optional.empty());
            assertThat(got.subnet()).isNotEqualTo(Ipv4Prefix.parse("100.64.0.0/24"));
            assertThat(log.warnings()).anyMatch(m -> m.startsWith("DELETING lease " + subnetKey("100.64.0.0-24")));
        }
        assertThat(store.text(subnetKey("100.64.0.0-24"))).isNull();
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
            assertThat(store.keysUnder(PREFIX + "/subnets")).hasSize(5);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Another host takes the chosen subnet between listing and writing: retried against a fresh listing. */
    @Test
    void aLostRaceIsRetriedWithAFreshListingAndItsLeaseRevoked() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/24\"}");
        store.put(subnetKey("100.64.0.64-26"), "{\"PublicIP\":\"198.18.2.1\"}");
        store.put(subnetKey("100.64.0.128-26"), "{\"PublicIP\":\"198.18.2.2\"}");
        final FaultyRegistry faults = faults();
        final AtomicInteger other = new AtomicInteger();
        // The one free /26 is taken by another host just before our create: the fresh listing then has none free.
        faults.interleave(FaultyRegistry.Op.CREATE, 1, () -> {
            other.incrementAndGet();
            store.put(subnetKey("100.64.0.192-26"), "{\"PublicIP\":\"198.18.2.3\"}");
        });
        final EtcdSubnetAllocator a = allocator(settings().build(), faults);
        try (LogCapture log = new LogCapture()) {
            assertThatThrownBy(() -> a.acquire(ip("198.18.0.1"), Optional.empty()))
                .isInstanceOf(OutOfSubnetsException.class).hasMessageContaining("3 of 3 in use");
            assertThat(log.messages()).contains("Subnet 100.64.0.192/26 was taken by another host meanwhile; "
                + "retrying with a fresh listing");
        }
        assertThat(other.get()).isEqualTo(1);
        assertThat(store.text(subnetKey("100.64.0.192-26"))).isEqualTo("{\"PublicIP\":\"198.18.2.3\"}");
        assertThat(store.liveLeases()).as("the lost create's lease revoked").isZero();
        store.delete(subnetKey("100.64.0.128-26"));
        assertThat(a.acquire(ip("198.18.0.1"), Optional.empty()).subnet())
            .isEqualTo(Ipv4Prefix.parse("100.64.0.128/26"));
    }

    /** Losing every race gives up after RACE_RETRIES attempts, each attempt's fresh etcd lease revoked. */
    @Test
    void tenLostRacesInARowGiveUpWithAClearError() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/24\"}");
        final String a = subnetKey("100.64.0.128-26");
        final String b = subnetKey("100.64.0.192-26");
        store.put(subnetKey("100.64.0.64-26"), "{\"PublicIP\":\"198.18.2.1\"}");
        store.put(a, "{\"PublicIP\":\"198.18.2.2\"}");
        final FaultyRegistry faults = faults();
        final AtomicInteger races = new AtomicInteger();
        // Just before each create, another host takes the one free subnet and a third one frees the other.
        faults.interleave(FaultyRegistry.Op.CREATE, LeaseAcquirer.RACE_RETRIES, () -> {
            races.incrementAndGet();
            final boolean bFree = store.text(b) == null;
            store.put(bFree ? b : a, "{\"PublicIP\":\"198.18.2.3\"}");
            store.delete(bFree ? a : b);
        });
        final EtcdSubnetAllocator alloc = allocator(settings().build(), faults);
        assertThatThrownBy(() -> alloc.acquire(ip("198.18.0.1"), Optional.empty()))
            .isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("after " + LeaseAcquirer.RACE_RETRIES + " attempts");
        assertThat(races.get()).isEqualTo(LeaseAcquirer.RACE_RETRIES);
        assertThat(store.liveLeases()).as("every attempt's lease revoked").isZero();
    }

    /**
     * The put that moves our key to a fresh etcd lease reports an error after etcd applied it (a reply lost on the
     * way back): the key is read back and kept, not deleted by revoking the fresh lease.
     */
    @Test
    void reusePutAppliedDespiteAnErrorKeepsTheKey() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final String key = subnetKey("100.64.77.0-24");
        final long old = store.lease(600);
        store.put(key, UDP_VALUE_1, old);
        final FaultyRegistry faults = faults();
        faults.failAfterApplying(FaultyRegistry.Op.PUT_IF_UNCHANGED,
            new EtcdUnavailableException("injected: reply lost", null));
        final EtcdSubnetAllocator a = allocator(settings().leaseTtl(java.time.Duration.ofSeconds(1))
            .renewMargin(java.time.Duration.ofMillis(900)).build(), faults);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.77.0/24")));
        assertThat(lease.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.77.0/24"));
        assertThat(store.text(key)).as("our key survived").isEqualTo(UDP_VALUE_1);
        final long now = store.leaseOf(key);
        assertThat(now).isNotZero().isNotEqualTo(old);
        assertThat(store.alive(now)).isTrue();
        // the allocator holds the key's lease: its first renewal (100 ms after the grant) refreshes that one
        a.start(lease, new RecordingListener());
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
            .until(() -> !store.keepAlives.isEmpty());
        assertThat(store.keepAlives.get(0)).isEqualTo(now);
    }

    /** A put whose outcome is unknown and that etcd did not apply: the fresh lease is revoked, the error retried. */
    @Test
    void createThatFailedIsRetriedAndItsLeaseRevoked() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final FaultyRegistry faults = faults();
        faults.failNext(FaultyRegistry.Op.CREATE, 2, new EtcdUnavailableException("injected: timed out", null));
        try (LogCapture log = new LogCapture()) {
            final Lease lease = allocator(settings().build(), faults).acquire(ip("198.18.0.1"), Optional.empty());
            assertThat(store.text(subnetKey(lease.key()))).isEqualTo(UDP_VALUE_1);
            assertThat(log.warnings()).filteredOn(m -> m.startsWith("Cannot acquire a lease yet")).hasSize(1);
        }
        assertThat(store.liveLeases()).as("the failed creates' leases revoked").isEqualTo(1);
    }

    /**
     * A create whose outcome is unknown (it failed, and so did the read-back) that etcd applied after all: the next
     * attempt lists a key with this host's PublicIP on a live etcd lease. That lease is the one this agent granted for
     * the create, so the key is its own: reused, not refused as another host's (which would lock the host out until
     * the TTL ran out), and the orphaned lease revoked.
     */
    @Test
    void createAppliedDespiteAnUnreadableOutcomeIsTakenAsOwn() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final FaultyRegistry faults = faults();
        final EtcdSubnetAllocator a = allocator(settings().build(), faults);
        a.awaitNetworkConfig();
        faults.failAfterApplying(FaultyRegistry.Op.CREATE, new EtcdUnavailableException("injected: timed out", null));
        faults.failNext(FaultyRegistry.Op.GET, 1, new EtcdUnavailableException("injected: timed out", null));
        try (LogCapture log = new LogCapture()) {
            final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
            assertThat(log.messages()).anyMatch(m -> m.contains("which this agent granted for a write that timed out"));
            assertThat(store.text(subnetKey(lease.key()))).isEqualTo(UDP_VALUE_1);
        }
        assertThat(store.liveLeases()).as("only the lease the key hangs on").isEqualTo(1);
    }
}
