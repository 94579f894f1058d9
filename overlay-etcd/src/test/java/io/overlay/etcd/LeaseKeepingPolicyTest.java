package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.testing.LogCapture;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Keeping the own lease on the in-memory registry: loss and re-acquisition, renewal on the injected ticker, a gone
 * lease found by a renewal, adoption of a re-put key, and an unexpected error in a renewal.
 *
 * <p>Most tests use a lease TTL of 1 s, a margin of 900 ms and a ticker that stands still: the renewal timer fires
 * every 100 ms of real time but finds the renewal due only once the test moves the ticker, so {@link #renewSoon()}
 * stands for "the renewal is due now".
 */
class LeaseKeepingPolicyTest extends FakeRegistrySupport {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String A_VALUE = "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}";
    private final AtomicLong ticker = new AtomicLong();

    private EtcdSettings.Builder tickerSettings() {
        return settings().leaseTtl(Duration.ofSeconds(1)).renewMargin(Duration.ofMillis(900))
            .renewRetryInterval(Duration.ofMillis(100)).ticker(ticker::get);
    }

    /** Moves the ticker an hour on: whatever was scheduled is due at the timer's next check (within 100 ms). */
    private void renewSoon() {
        ticker.addAndGet(Duration.ofHours(1).toNanos());
    }

    /** Makes the renewal due and waits for the keep-alive; returns the etcd lease it refreshed. */
    private long nextKeepAlive() {
        final int before = store.keepAlives.size();
        renewSoon();
        await().atMost(WAIT).until(() -> store.keepAlives.size() > before);
        return store.keepAlives.get(before);
    }

    /** B10 scenario 1: the own key is deleted, then its etcd lease revoked: each time lost and re-acquired. */
    @Test
    void b10OwnKeyDeletedIsReportedAndReacquired() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(tickerSettings().build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        final long firstLease = store.leaseOf(key);

        store.delete(key);
        await().atMost(WAIT).until(() -> events.reacquired.size() == 1);
        assertThat(events.events).containsExactly("lost " + lease.subnet(),
            "reacquired " + lease.subnet() + " -> " + lease.subnet());
        assertThat(store.text(key)).isEqualTo(A_VALUE);
        final long second = store.leaseOf(key);
        assertThat(second).isNotZero().isNotEqualTo(firstLease);
        assertThat(nextKeepAlive()).as("the allocator now holds the new etcd lease").isEqualTo(second);

        store.expire(second);
        await().atMost(WAIT).until(() -> events.reacquired.size() == 2);
        assertThat(events.reacquired.get(1).subnet()).isEqualTo(lease.subnet());
        assertThat(store.text(key)).isEqualTo(A_VALUE);
        assertThat(events.matching("added")).isEmpty();
    }

    /** A renewal that finds its etcd lease gone (the watch did not tell yet) reports the loss and re-acquires. */
    @Test
    void renewalOfAGoneLeaseLeadsToReacquisition() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final FaultyRegistry faults = faults();
        final EtcdSubnetAllocator a = allocator(tickerSettings().build(), faults);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        final String key = subnetKey(lease.key());
        sentinel(events, "100.64.249.0-24");
        faults.pauseWatches();
        store.expire(store.leaseOf(key));
        assertThat(store.text(key)).isNull();
        renewSoon();
        await().atMost(WAIT).until(() -> events.reacquired.size() == 1);
        assertThat(events.events.subList(1, 3)).containsExactly("lost " + lease.subnet(),
            "reacquired " + lease.subnet() + " -> " + lease.subnet());
        assertThat(store.text(key)).isEqualTo(A_VALUE);
        faults.resumeWatches();
        // the watch replays the expiry's DELETE (older than the new key) and the new PUT: no second loss
        sentinel(events, "100.64.250.0-24");
        assertThat(events.events).hasSize(4);
        assertThat(events.events.get(3)).startsWith("added 100.64.250.0-24 ");
        assertThat(nextKeepAlive()).isEqualTo(store.leaseOf(key));
    }

    /** Renewal is scheduled on the injected monotonic ticker, not on wall time. */
    @Test
    void renewalFollowsTheInjectedTicker() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(settings().leaseTtl(Duration.ofSeconds(3600))
            .renewMargin(Duration.ofSeconds(60)).ticker(ticker::get).build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        // 100 ms before expiry minus margin on the ticker: the timer fires after 100 ms of real time, finds the
        // renewal not yet due by the ticker and waits again, every 100 ms.
        ticker.set(Duration.ofSeconds(3600 - 60).minusMillis(100).toNanos());
        a.start(lease, new RecordingListener());
        Thread.sleep(600);
        assertThat(a.renewals()).isZero();
        // Expiry minus margin on the ticker: the timer, on its next check, renews.
        ticker.set(Duration.ofSeconds(3600 - 60).toNanos());
        await().atMost(WAIT).until(() -> a.renewals() == 1);
        assertThat(store.keepAlives).containsExactly(store.leaseOf(subnetKey(lease.key())));
        // Renewed at ticker 3540 s with TTL 3600 s: the next one is due at ticker 7080 s, an hour of real time away.
        Thread.sleep(600);
        assertThat(a.renewals()).isEqualTo(1);
    }

    /** An unexpected exception in a renewal is logged at ERROR and the renewal chain goes on. */
    @Test
    void unexpectedErrorInARenewalIsLoggedAndRenewalGoesOn() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final FaultyRegistry faults = faults();
        final EtcdSubnetAllocator a = allocator(tickerSettings().build(), faults);
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        try (LogCapture log = new LogCapture()) {
            faults.failNext(FaultyRegistry.Op.KEEP_ALIVE, 1, new IllegalStateException("injected surprise"));
            a.start(lease, events);
            renewSoon();
            // the failed renewal is retried after renewRetryInterval (100 ms)
            await().atMost(WAIT).until(() -> a.renewals() == 1);
            assertThat(log.errors()).anyMatch(m -> m.contains("renewal") && m.contains("injected surprise"));
        }
        renewSoon();
        await().atMost(WAIT).until(() -> a.renewals() == 2);
        assertThat(events.matching("lost")).isEmpty();
        assertThat(store.keepAlives).containsOnly(store.leaseOf(subnetKey(lease.key())));
    }

    /** A flannel-style renewal by someone else (new etcd lease, same value) is adopted, not treated as a loss. */
    @Test
    void ownKeyReputWithAnotherEtcdLeaseIsAdopted() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(tickerSettings().build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        sentinel(events, "100.64.250.0-24");
        final String key = subnetKey(lease.key());
        // a short etcd lease, so its renewal is due (by the ticker) within 100 ms of real time
        final long other = store.lease(1);
        store.put(key, store.text(key), other);
        sentinel(events, "100.64.251.0-24");
        assertThat(nextKeepAlive()).isEqualTo(other);
        assertThat(a.renewals()).isEqualTo(1);
        assertThat(events.matching("lost")).isEmpty();
        assertThat(store.leaseOf(key)).isEqualTo(other);
    }

    /** A reservation the operator attaches to an etcd lease is renewed from then on, as that lease. */
    @Test
    void reservationAttachedToAnEtcdLeaseIsRenewedFromThenOn() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final String key = subnetKey("100.64.42.0-24");
        store.put(key, A_VALUE);
        final EtcdSubnetAllocator a = allocator(tickerSettings().build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        assertThat(lease.reservation()).isTrue();
        final RecordingListener events = new RecordingListener();
        a.start(lease, events);
        sentinel(events, "100.64.250.0-24");
        renewSoon();
        Thread.sleep(300);
        assertThat(store.keepAlives).as("a reservation is never renewed").isEmpty();
        final long attached = store.lease(1);
        store.put(key, A_VALUE, attached);
        sentinel(events, "100.64.251.0-24");
        assertThat(nextKeepAlive()).isEqualTo(attached);
        assertThat(nextKeepAlive()).isEqualTo(attached);
        assertThat(a.renewals()).isEqualTo(2);
        assertThat(events.matching("lost")).isEmpty();
        assertThat(store.leaseOf(key)).isEqualTo(attached);
    }

    /** Closing keeps the key and its etcd lease. */
    @Test
    void closeKeepsTheLease() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        final EtcdSubnetAllocator a = allocator(tickerSettings().build());
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.empty());
        a.start(lease, new RecordingListener());
        final String key = subnetKey(lease.key());
        final long rev = store.modRevisionOf(key);
        a.close();
        a.close();
        renewSoon();
        Thread.sleep(500);
        assertThat(store.keepAlives).as("no renewal after close").isEmpty();
        assertThat(store.modRevisionOf(key)).isEqualTo(rev);
        assertThat(store.alive(store.leaseOf(key))).isTrue();
    }
}
