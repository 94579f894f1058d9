package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.LogCapture;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Keeping the own lease on a real etcd: B10 (lost and re-acquired; renewal by keep-alive, real expiry), B13
 * (reservations), an adopted etcd lease, close(). The policy (ticker, gone lease, reservations given a lease,
 * unexpected errors) is tested on the in-memory registry in {@link LeaseKeepingPolicyTest} and
 * {@link LeaseKeeperTest}.
 */
class LeaseKeepingTest extends EtcdTestSupport {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String A_VALUE = "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}";

    /** B10 scenario 1: the own key is deleted: leaseLost, then leaseReacquired with the same subnet. */
    @Test
    void b10OwnKeyDeletedIsReportedAndReacquired() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator();
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final long firstLease = get(key).lease();

        etcd.etcdctl("del", key);
        await().atMost(WAIT).until(() -> events.reacquired.size() == 1);
        assertThat(events.events).containsExactly("lost " + lease.subnet(),
            "reacquired " + lease.subnet() + " -> " + lease.subnet());
        final KeyState k = get(key);
        assertThat(k.text()).isEqualTo(A_VALUE);
        assertThat(k.lease()).isNotZero().isNotEqualTo(firstLease);

        // Its etcd lease revoked (as expiry would): lost again, reacquired again.
        etcd.etcdctl("lease", "revoke", Long.toHexString(k.lease()));
        await().atMost(WAIT).until(() -> events.reacquired.size() == 2);
        assertThat(events.reacquired.get(1).subnet()).isEqualTo(lease.subnet());
        assertThat(get(key).text()).isEqualTo(A_VALUE);
        assertThat(events.matching("added")).isEmpty();
    }

    /** B10 scenario 2: a short TTL and margin; the etcd lease is refreshed before expiry, the value unchanged. */
    @Test
    void b10RenewalBeforeExpiryKeepsKeyValueAndLease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(settings().leaseTtl(Duration.ofSeconds(6))
            .renewMargin(Duration.ofSeconds(4)).renewRetryInterval(Duration.ofSeconds(1)).build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final KeyState before = get(key);
        assertThat(leaseTtl(etcd, before.lease())[0]).isEqualTo(6);

        // Renewal every ~2 s (expiry minus margin). Causality, not timing windows: the key outlives its 6 s TTL on
        // the same etcd lease only because that lease was renewed; load can only make renewals later, never more.
        final long t0 = System.nanoTime();
        await().atMost(Duration.ofSeconds(60)).until(() -> a.renewals() >= 4
            && System.nanoTime() - t0 > Duration.ofSeconds(8).toNanos());
        final long elapsed = System.nanoTime() - t0;
        final long renewals = a.renewals();
        assertThat(leaseTtl(etcd, before.lease())[1]).as("the original etcd lease is still alive").isPositive();
        // each renewal starts at least TTL - margin = 2 s after the one before (the first one 2 s after the grant)
        assertThat(renewals).as("not renewed more often than every TTL - margin")
            .isLessThanOrEqualTo(elapsed / Duration.ofSeconds(2).toNanos() + 1);
        await().atMost(WAIT).until(() -> events.matching("renewed").size() >= renewals);
        assertThat(events.matching("lost")).isEmpty();
        final KeyState after = get(key);
        assertThat(after.value()).isEqualTo(before.value());
        assertThat(after.lease()).isEqualTo(before.lease());
        assertThat(after.modRevision()).as("renewal writes nothing").isEqualTo(before.modRevision());
    }

    /** Real etcd lease expiry: a ticker that never advances keeps the renewal from ever being due. */
    @Test
    void b10ExpiredEtcdLeaseIsReportedAndReacquired() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(settings().leaseTtl(Duration.ofSeconds(3))
            .renewMargin(Duration.ofSeconds(1)).ticker(() -> 0L).build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final long first = get(subnetKey(lease.key())).lease();
        await().atMost(WAIT).until(() -> events.reacquired.size() == 1);
        assertThat(events.events.subList(0, 2)).containsExactly("lost " + lease.subnet(),
            "reacquired " + lease.subnet() + " -> " + lease.subnet());
        assertThat(a.renewals()).isZero();
        assertThat(leaseTtl(etcd, first)[1]).isEqualTo(-1);
    }

    /** B13: a reservation is used by its host without ever getting a lease; no other host takes it. */
    @Test
    void b13ReservationIsHonouredAndNeverGetsALease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\",\"SubnetMin\":\"100.64.42.0\",\"SubnetMax\":\"100.64.43.0\"}");
        final String key = subnetKey("100.64.42.0-24");
        etcd.etcdctl("put", key, "{\"PublicIP\":\"198.18.0.42\"}");

        final EtcdSubnetAllocator a = allocator(settings().leaseTtl(Duration.ofSeconds(6))
            .renewMargin(Duration.ofSeconds(4)).build());
        final Lease lease = a.acquire(ip("198.18.0.42"), Optional.empty());
        assertThat(lease.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.42.0/24"));
        assertThat(lease.reservation()).isTrue();
        assertThat(lease.ttl()).isEqualTo(Duration.ZERO);
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        sentinel(events, "100.64.43.0-24");
        assertThat(get(key).lease()).isZero();
        // attributes equal: the operator's bytes stay as written
        assertThat(get(key).text()).isEqualTo("{\"PublicIP\":\"198.18.0.42\"}");
        assertThat(a.renewals()).isZero();
        assertThat(events.events).hasSize(1);
        etcd.etcdctl("del", subnetKey("100.64.43.0-24"));

        final Lease other = allocator().acquire(ip("198.18.0.43"), Optional.of(Ipv4Prefix.parse("100.64.42.0/24")));
        assertThat(other.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.43.0/24"));
        assertThatThrownBy(() -> allocator().acquire(ip("198.18.0.44"), Optional.empty()))
            .isInstanceOf(OutOfSubnetsException.class);
        assertThat(get(key).lease()).isZero();
        assertThat(get(key).text()).isEqualTo("{\"PublicIP\":\"198.18.0.42\"}");
    }

    /** A reservation whose attributes differ from ours is rewritten, still without a lease. */
    @Test
    void reservationWithOtherAttributesIsRewrittenWithoutLease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final String key = subnetKey("100.64.42.0-24");
        etcd.etcdctl("put", key, "{\"PublicIP\":\"198.18.0.42\",\"BackendType\":\"vxlan\"}");
        final Lease lease = allocator().acquire(ip("198.18.0.42"), Optional.empty());
        assertThat(lease.reservation()).isTrue();
        assertThat(get(key).text()).isEqualTo("{\"PublicIP\":\"198.18.0.42\",\"PublicIPv6\":null}");
        assertThat(get(key).lease()).isZero();
    }

    /**
     * Our key re-put on a much shorter etcd lease by someone else (an operator, a flannel-style renewal):
     * the adopted lease's expiry comes from etcd, so it is renewed in time (at half its TTL, the margin being longer)
     * instead of expiring unrenewed.
     */
    @Test
    void adoptedShortEtcdLeaseIsRenewedBeforeItExpires() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(settings().leaseTtl(Duration.ofSeconds(3600))
            .renewMargin(Duration.ofSeconds(60)).build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final long adopted = Long.parseLong(etcd.etcdctl("lease", "grant", "6").split(" ")[1], 16);
        etcd.etcdctl("put", "--lease=" + Long.toHexString(adopted), key, get(key).text());
        final long t0 = System.nanoTime();
        // Outliving the 6 s TTL on the same etcd lease takes renewals of that lease.
        await().atMost(Duration.ofSeconds(60)).until(() -> a.renewals() >= 3
            && System.nanoTime() - t0 > Duration.ofSeconds(8).toNanos());
        assertThat(events.matching("lost")).isEmpty();
        assertThat(get(key).lease()).isEqualTo(adopted);
        assertThat(get(key).text()).isEqualTo(A_VALUE);
        assertThat(leaseTtl(etcd, adopted)[1]).isPositive();
    }

    @Test
    void closeKeepsTheLease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator();
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        a.start(lease, new RecordingListener());
        final KeyState before = get(subnetKey(lease.key()));
        a.close();
        a.close();
        final KeyState after = get(subnetKey(lease.key()));
        assertThat(after.text()).isEqualTo(before.text());
        assertThat(after.lease()).isEqualTo(before.lease());
        assertThat(after.modRevision()).isEqualTo(before.modRevision());
        assertThat(leaseTtl(etcd, after.lease())[1]).isGreaterThan(86000);
    }

    /**
     * The own key re-put with this host's PublicIP but another value (another BackendData, e.g. a PublicKey) on its
     * own etcd lease: peers would use attributes this host does not have. WARN, and this host's value is put back on
     * the same etcd lease; no lease event.
     */
    @Test
    void ownKeyRePutWithAnotherValueIsPutBack() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator();
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final long etcdLease = get(key).lease();
        try (LogCapture log = new LogCapture()) {
            etcd.etcdctl("put", "--lease=" + Long.toHexString(etcdLease), key, "{\"PublicIP\":\"198.18.0.1\","
                + "\"PublicIPv6\":null,\"BackendType\":\"udp\",\"BackendData\":{\"PublicKey\":\"AAAA\"}}");
            await().atMost(WAIT).until(() -> A_VALUE.equals(get(key).text()));
            assertThat(log.warnings()).anyMatch(m -> m.startsWith("Own key " + key + " was re-put with another value")
                && m.contains("PublicKey"));
        }
        assertThat(get(key).lease()).isEqualTo(etcdLease);
        sentinel(events, "100.64.250.0-24");
        assertThat(events.events).containsExactly("added 100.64.250.0-24 {\"PublicIP\":\"198.18.0.250\","
            + "\"PublicIPv6\":null}");
    }

    /**
     * The host's underlay address changed: its PublicIP is rewritten in place (same key, same etcd lease, flannel's
     * value), the host itself sees no loss, a peer sees the lease change to the new PublicIP, and a peer lease that
     * names the new PublicIP is this host's own from then on. A lease re-acquired afterwards carries the new PublicIP.
     */
    @Test
    void aChangedPublicIpIsRewrittenInPlaceOnTheSameEtcdLease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator();
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final EtcdSubnetAllocator b = allocator();
        final Lease peerLease = b.acquire(ip("198.18.0.2"), Optional.empty());
        final RecordingListener peer = new RecordingListener();
        b.start(peerLease, peer);
        final String key = subnetKey(lease.key());
        await().atMost(WAIT).until(() -> peer.matching("added " + lease.key()).size() == 1);
        final KeyState before = get(key);

        final Lease written = a.changePublicIp(ip("198.18.0.11")).get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(written.subnet()).isEqualTo(lease.subnet());
        assertThat(written.attrs().publicIp()).isEqualTo(ip("198.18.0.11"));
        final KeyState after = get(key);
        assertThat(after.text()).isEqualTo("{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}");
        assertThat(after.lease()).as("the same etcd lease").isEqualTo(before.lease());
        assertThat(after.createRevision()).as("the same key, not deleted and created").isEqualTo(before.createRevision());
        await().atMost(WAIT).until(() -> peer.matching("changed " + lease.key()).size() == 1);
        assertThat(peer.matching("changed " + lease.key()).get(0)).contains("198.18.0.11");

        // the key deleted: re-acquired (the same subnet) with the new PublicIP, the only loss reported
        etcd.etcdctl("del", key);
        await().atMost(WAIT).until(() -> events.reacquired.size() == 1);
        assertThat(events.reacquired.get(0).subnet()).isEqualTo(lease.subnet());
        assertThat(get(key).text()).isEqualTo("{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}");
        assertThat(events.matching("lost")).hasSize(1);

        // a stray key naming the new PublicIP is this host's own, not a peer; the old one is an ordinary peer again
        etcd.etcdctl("put", subnetKey("100.64.250.0-24"), "{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}");
        etcd.etcdctl("put", subnetKey("100.64.251.0-24"), "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
        await().atMost(WAIT).until(() -> events.matching("added 100.64.251.0-24").size() == 1);
        assertThat(events.matching("added 100.64.250.0-24")).isEmpty();
    }

    /**
     * The compare-and-swap of a PublicIP change was applied by etcd but its reply was lost (a timeout, a broken
     * connection): the change is reported as failed, and then the watch brings the own key with the new PublicIP. That
     * is this host's own write, not another host's: no "overwritten" error, no loss, no re-acquisition; the retry
     * the caller makes completes with the key as it is, without writing it again.
     */
    @Test
    void aPublicIpChangeAppliedDespiteAnErrorIsNotTakenForAnotherHostsWrite() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = settings().build();
        final FaultyRegistry faulty = new FaultyRegistry(new GatewayRegistry(s), true);
        final EtcdSubnetAllocator a = allocator(s, faulty);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final KeyState before = get(key);
        final String moved = "{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}";

        try (LogCapture log = new LogCapture()) {
            faulty.failAfterApplying(FaultyRegistry.Op.PUT_IF_UNCHANGED,
                new EtcdUnavailableException("injected: reply lost", null));
            assertThatThrownBy(() -> a.changePublicIp(ip("198.18.0.11")).get(10, java.util.concurrent.TimeUnit.SECONDS))
                .hasCauseInstanceOf(EtcdUnavailableException.class);
            final KeyState applied = get(key);
            assertThat(applied.text()).as("etcd applied the swap").isEqualTo(moved);
            // a later write: once the watch delivered it, it delivered the own key's put before it
            etcd.etcdctl("put", subnetKey("100.64.250.0-24"), "{\"PublicIP\":\"198.18.0.250\"}");
            await().atMost(WAIT).until(() -> events.matching("added 100.64.250.0-24").size() == 1);
            assertThat(events.matching("lost")).as("events: %s", events.events).isEmpty();
            assertThat(log.errors()).as("no \"overwritten\" error: %s", log.errors()).isEmpty();

            final Lease written = a.changePublicIp(ip("198.18.0.11")).get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(written).isNotNull();
            assertThat(written.attrs().publicIp()).isEqualTo(ip("198.18.0.11"));
            final KeyState after = get(key);
            assertThat(after.text()).isEqualTo(moved);
            assertThat(after.lease()).as("the same etcd lease").isEqualTo(before.lease());
            assertThat(after.modRevision()).as("not written again").isEqualTo(applied.modRevision());
            Thread.sleep(500);
            assertThat(events.matching("lost")).as("events: %s", events.events).isEmpty();
            assertThat(events.reacquired).isEmpty();
        }
    }

    /**
     * The address changes twice while etcd is slow: the swap to the first new address times out but etcd applies it
     * (an unknown outcome), and a newer address supersedes it. The key then names the superseded address on this
     * agent's own etcd lease: this host's own late write, not another host's. The newer address is written into the
     * same key on the same etcd lease; the lease is never counted as lost, the subnet never changes.
     */
    @Test
    void aSupersededChangeEtcdAppliedLateIsThisHostsOwnWriteNotATakeover() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = settings().backoff(Duration.ofMillis(200), Duration.ofSeconds(1)).build();
        final FaultyRegistry faulty = new FaultyRegistry(new GatewayRegistry(s), true);
        final EtcdSubnetAllocator a = allocator(s, faulty);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final KeyState before = get(key);

        try (LogCapture log = new LogCapture()) {
            // the watch is slow too: its event of the late write comes after the newer change's attempt
            faulty.pauseWatches();
            faulty.failAfterApplying(FaultyRegistry.Op.PUT_IF_UNCHANGED,
                new EtcdUnavailableException("injected: no answer", new java.util.concurrent.TimeoutException("x")));
            assertThatThrownBy(() -> a.changePublicIp(ip("198.18.0.11")).get(10, java.util.concurrent.TimeUnit.SECONDS))
                .hasCauseInstanceOf(EtcdUnavailableException.class);
            assertThat(get(key).text()).as("etcd applied the swap after all")
                .isEqualTo("{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}");
            final java.util.concurrent.CompletableFuture<Lease> newer = a.changePublicIp(ip("198.18.0.21"));
            try {
                newer.get(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                assertThat(e).as("only etcd's failures may fail it").hasCauseInstanceOf(EtcdUnavailableException.class);
            }
            faulty.resumeWatches();
            Lease written = null;
            for (int i = 0; i < 50 && written == null; i++) { // as the watch does: ask again until written
                try {
                    written = a.changePublicIp(ip("198.18.0.21")).get(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    assertThat(e).as("only etcd's failures are retried").hasCauseInstanceOf(EtcdUnavailableException.class);
                    Thread.sleep(100);
                }
            }
            assertThat(written).as("this host's lease: %s", events.events).isNotNull();
            assertThat(written.subnet()).isEqualTo(lease.subnet());
            assertThat(written.attrs().publicIp()).isEqualTo(ip("198.18.0.21"));
            etcd.etcdctl("put", subnetKey("100.64.250.0-24"), "{\"PublicIP\":\"198.18.0.250\"}");
            await().atMost(WAIT).until(() -> events.matching("added 100.64.250.0-24").size() == 1);
            final KeyState after = get(key);
            assertThat(after.text()).isEqualTo("{\"PublicIP\":\"198.18.0.21\",\"PublicIPv6\":null}");
            assertThat(after.lease()).as("the same etcd lease").isEqualTo(before.lease());
            assertThat(events.matching("lost")).as("events: %s", events.events).isEmpty();
            assertThat(events.reacquired).isEmpty();
            assertThat(log.errors()).as("no \"overwritten\" error: %s", log.errors()).isEmpty();
        }
    }

    /**
     * etcd does not answer the PublicIP change (each attempt holds the control thread for its request timeout) while
     * the caller keeps asking: the allocator makes one attempt at a time with capped backoff, not one per call, logs
     * one WARN for the outage, delivers a peer's lease event meanwhile without waiting behind a queue of attempts, and
     * a newer address supersedes the pending one: only it is written once etcd answers.
     */
    @Test
    void aPublicIpChangeEtcdDoesNotAnswerIsRetriedWithBackoffAndANewerOneSupersedesIt() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = settings().backoff(Duration.ofMillis(200), Duration.ofSeconds(1)).build();
        final FaultyRegistry faulty = new FaultyRegistry(new GatewayRegistry(s), true);
        final EtcdSubnetAllocator a = allocator(s, faulty);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final java.util.concurrent.atomic.AtomicInteger swaps = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicBoolean down = new java.util.concurrent.atomic.AtomicBoolean(true);
        faulty.interleave(FaultyRegistry.Op.PUT_IF_UNCHANGED, 1000, () -> {
            swaps.incrementAndGet();
            if (down.get()) {
                try {
                    Thread.sleep(500); // the request's deadline, shortened
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new EtcdUnavailableException("injected: no answer",
                    new java.util.concurrent.TimeoutException("deadline"));
            }
        });

        try (LogCapture log = new LogCapture()) {
            final java.util.List<java.util.concurrent.CompletableFuture<Lease>> first = new java.util.ArrayList<>();
            for (int i = 0; i < 30; i++) { // 3 s of a caller asking every 100 ms
                first.add(a.changePublicIp(ip("198.18.0.11")));
                Thread.sleep(100);
            }
            final long t0 = System.nanoTime();
            etcd.etcdctl("put", subnetKey("100.64.250.0-24"), "{\"PublicIP\":\"198.18.0.250\"}");
            await().atMost(WAIT).until(() -> events.matching("added 100.64.250.0-24").size() == 1);
            final long peerMillis = (System.nanoTime() - t0) / 1_000_000;
            assertThat(peerMillis).as("a peer's event waits for at most one attempt, not a queue of them")
                .isLessThan(2_000);
            // attempts at 0, +0.2, +0.4, +0.8, +1 s (each 0.5 s long) within ~4 s: never one per call
            assertThat(swaps.get()).as("attempts while 30 calls came").isBetween(2, 7);
            assertThat(log.warnings().stream().filter(w -> w.contains("Cannot write PublicIP 198.18.0.11")))
                .as("one WARN per kind of failure: %s", log.warnings()).hasSize(1);

            final java.util.concurrent.CompletableFuture<Lease> pending = a.changePublicIp(ip("198.18.0.11"));
            final java.util.concurrent.CompletableFuture<Lease> newer = a.changePublicIp(ip("198.18.0.21"));
            assertThatThrownBy(() -> pending.get(20, java.util.concurrent.TimeUnit.SECONDS))
                .hasMessageContaining("superseded by a change of the PublicIP to 198.18.0.21");
            down.set(false);
            Lease written = null;
            for (int i = 0; i < 100 && written == null; i++) { // as the watch does: ask again until written
                try {
                    written = (i == 0 ? newer : a.changePublicIp(ip("198.18.0.21")))
                        .get(20, java.util.concurrent.TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    assertThat(e).hasMessageContaining("injected: no answer"); // an attempt begun before
                    Thread.sleep(100);
                }
            }
            assertThat(written).isNotNull();
            assertThat(written.attrs().publicIp()).isEqualTo(ip("198.18.0.21"));
            assertThat(get(key).text()).isEqualTo("{\"PublicIP\":\"198.18.0.21\",\"PublicIPv6\":null}");
            final int after = swaps.get();
            Thread.sleep(1_500);
            assertThat(swaps.get()).as("nothing pending once written").isEqualTo(after);
            assertThat(events.matching("lost")).isEmpty();
        }
    }

    /**
     * Renumbered: while this host's PublicIP change is under way, the host now given its old address starts and, as
     * flanneld does, reuses the key naming that address, on an etcd lease of its own. The swap must not write this
     * host's new address onto that host's etcd lease: the key is left as the other host wrote it, and this host
     * counts its lease as lost and re-acquires one with its new address.
     */
    @Test
    void aPublicIpChangeNeverRewritesTheKeyOnAnotherHostsEtcdLease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = settings().build();
        final FaultyRegistry faulty = new FaultyRegistry(new GatewayRegistry(s), true);
        final EtcdSubnetAllocator a = allocator(s, faulty);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final long theirs = Long.parseLong(etcd.etcdctl("lease", "grant", "600").split(" ")[1], 16);
        faulty.interleave(FaultyRegistry.Op.PUT_IF_UNCHANGED, 1, () -> etcd.etcdctl("put", key, A_VALUE,
            "--lease=" + Long.toHexString(theirs)));

        final Lease written = a.changePublicIp(ip("198.18.0.11")).get(20, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(written).as("no lease held: the re-acquisition writes the new PublicIP").isNull();
        final KeyState k = get(key);
        assertThat(k.lease()).as("still on the other host's etcd lease").isEqualTo(theirs);
        assertThat(k.text()).as("as the other host wrote it").isEqualTo(A_VALUE);
        await().atMost(WAIT).until(() -> events.reacquired.size() == 1);
        final Lease again = events.reacquired.get(0);
        assertThat(again.subnet()).as("the old subnet is the other host's").isNotEqualTo(lease.subnet());
        assertThat(get(subnetKey(again.key())).text())
            .isEqualTo("{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}");
        Thread.sleep(500);
        assertThat(get(key).lease()).isEqualTo(theirs);
        assertThat(get(key).text()).isEqualTo(A_VALUE);
    }

    /**
     * The same takeover seen by the watch while the change waits for etcd: the re-put of the old address on another
     * etcd lease is not adopted, so the retried swap cannot write onto it either.
     */
    @Test
    void aPendingPublicIpChangeDoesNotAdoptTheOldAddressReputOnAnotherEtcdLease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = settings().backoff(Duration.ofMillis(500), Duration.ofSeconds(1)).build();
        final FaultyRegistry faulty = new FaultyRegistry(new GatewayRegistry(s), true);
        final EtcdSubnetAllocator a = allocator(s, faulty);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        faulty.failNext(FaultyRegistry.Op.PUT_IF_UNCHANGED, 1, new EtcdUnavailableException("injected: down", null));
        assertThatThrownBy(() -> a.changePublicIp(ip("198.18.0.11")).get(10, java.util.concurrent.TimeUnit.SECONDS))
            .hasMessageContaining("injected: down");
        final long theirs = Long.parseLong(etcd.etcdctl("lease", "grant", "600").split(" ")[1], 16);
        etcd.etcdctl("put", key, A_VALUE, "--lease=" + Long.toHexString(theirs));

        await().atMost(WAIT).until(() -> events.reacquired.size() == 1);
        Thread.sleep(1_500); // the pending change's next attempt, had it stayed
        final KeyState k = get(key);
        assertThat(k.lease()).isEqualTo(theirs);
        assertThat(k.text()).isEqualTo(A_VALUE);
        assertThat(events.reacquired.get(0).subnet()).isNotEqualTo(lease.subnet());
    }

    /**
     * The own key is an operator's reservation (no etcd lease) naming the old address: a PublicIP change does not
     * rewrite it, and fails naming the reservation and both addresses; once the operator moves the reservation to the
     * new address, the change completes without writing, the reservation still without an etcd lease.
     */
    @Test
    void aReservationIsNotRewrittenByAPublicIpChangeButFollowedWhenTheOperatorMovesIt() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\",\"SubnetMin\":\"100.64.42.0\",\"SubnetMax\":\"100.64.43.0\"}");
        final String key = subnetKey("100.64.42.0-24");
        etcd.etcdctl("put", key, "{\"PublicIP\":\"198.18.0.42\"}");
        final EtcdSubnetAllocator a = allocator();
        final Lease lease = a.acquire(ip("198.18.0.42"), Optional.empty());
        assertThat(lease.reservation()).isTrue();
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final long written = get(key).modRevision();

        try (LogCapture log = new LogCapture()) {
            for (int i = 0; i < 3; i++) { // the watch asks at every check
                assertThatThrownBy(() -> a.changePublicIp(ip("198.18.0.52")).get(10,
                    java.util.concurrent.TimeUnit.SECONDS))
                    .hasMessageContaining("subnet 100.64.42.0/24 is reserved for PublicIP 198.18.0.42")
                    .hasMessageContaining("update the reservation to name 198.18.0.52");
            }
            assertThat(log.warnings().stream().filter(w -> w.contains("Not changing the PublicIP of reservation")))
                .as("logged once: %s", log.warnings()).hasSize(1);
        }
        assertThat(get(key).text()).as("the operator's value").isEqualTo("{\"PublicIP\":\"198.18.0.42\"}");
        assertThat(get(key).modRevision()).isEqualTo(written);

        etcd.etcdctl("put", key, "{\"PublicIP\":\"198.18.0.52\"}");
        final long moved = get(key).modRevision();
        await().atMost(WAIT).until(() -> {
            try {
                final Lease l = a.changePublicIp(ip("198.18.0.52")).get(10, java.util.concurrent.TimeUnit.SECONDS);
                return l != null && l.attrs().publicIp() == ip("198.18.0.52") && l.reservation();
            } catch (java.util.concurrent.ExecutionException e) {
                return false;
            }
        });
        final KeyState k = get(key);
        assertThat(k.text()).isEqualTo("{\"PublicIP\":\"198.18.0.52\"}");
        assertThat(k.lease()).as("still a reservation").isZero();
        assertThat(k.modRevision()).as("not written by the agent").isEqualTo(moved);
        assertThat(events.matching("lost")).isEmpty();
    }

    /** Starts A on a real etcd whose PublicIP swaps fail from now on, the next attempt 30 s away. */
    private EtcdSubnetAllocator startWithSwapsFailing(final RecordingListener events) throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSettings s = settings().backoff(Duration.ofSeconds(30), Duration.ofSeconds(30)).build();
        final FaultyRegistry faulty = new FaultyRegistry(new GatewayRegistry(s), true);
        final EtcdSubnetAllocator a = allocator(s, faulty);
        a.start(a.acquire(ip("198.18.0.1"), Optional.empty()), events);
        faulty.failNext(FaultyRegistry.Op.PUT_IF_UNCHANGED, 1000,
            new EtcdUnavailableException("injected: etcd does not answer", null));
        assertThatThrownBy(() -> a.changePublicIp(ip("198.18.0.11")).get(10, java.util.concurrent.TimeUnit.SECONDS))
            .hasCauseInstanceOf(EtcdUnavailableException.class);
        return a;
    }

    /** A PublicIP change still pending when the allocator closes completes exceptionally: its caller never hangs. */
    @Test
    void aPendingPublicIpChangeFailsWhenTheAllocatorCloses() throws Exception {
        final EtcdSubnetAllocator a = startWithSwapsFailing(new RecordingListener());
        final java.util.concurrent.CompletableFuture<Lease> pending = a.changePublicIp(ip("198.18.0.11"));
        Thread.sleep(300);
        assertThat(pending).as("joined the pending change; its next attempt is 30 s away").isNotDone();
        a.close();
        assertThatThrownBy(() -> pending.get(5, java.util.concurrent.TimeUnit.SECONDS))
            .isInstanceOf(java.util.concurrent.ExecutionException.class)
            .hasMessageContaining("the etcd subnet allocator is closed");
    }

    /**
     * The own key is lost while a PublicIP change waits for its next attempt: the re-acquisition writes the new
     * PublicIP, and that finishes the change at once (not at the next attempt, up to backoffMax later).
     */
    @Test
    void aReacquisitionWithThePendingPublicIpFinishesTheChange() throws Exception {
        final RecordingListener events = new RecordingListener();
        final EtcdSubnetAllocator a = startWithSwapsFailing(events);
        final java.util.concurrent.CompletableFuture<Lease> pending = a.changePublicIp(ip("198.18.0.11"));
        Thread.sleep(300);
        assertThat(pending).isNotDone();
        etcd.etcdctl("del", "--prefix", subnetKey("")); // the own key, the only one
        final Lease written = pending.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(written).as("events: %s", events.events).isNotNull();
        assertThat(written.attrs().publicIp()).isEqualTo(ip("198.18.0.11"));
        assertThat(events.reacquired).hasSize(1);
        assertThat(get(subnetKey(written.key())).text())
            .isEqualTo("{\"PublicIP\":\"198.18.0.11\",\"PublicIPv6\":null}");
    }
}
