package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.PeerChange;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Peer changes in batches on the in-memory registry (which delivers each write's watch event on the writing thread):
 * the listing is one batch followed by {@code peersListed}; watch responses that arrive while the listener applies a
 * batch are delivered together as the next one; an event of the own key cuts a batch so the order stays etcd's.
 */
class PeerBatchPolicyTest extends FakeRegistrySupport {
    private static final Duration WAIT = Duration.ofSeconds(10);

    private final BlockingListener events = new BlockingListener();

    /** A recording listener whose next peersChanged call can be made to wait, as a slow route table would. */
    private static final class BlockingListener extends RecordingListener {
        volatile CountDownLatch entered;
        volatile CountDownLatch release;

        @Override
        public void peersChanged(final List<PeerChange> changes) {
            final CountDownLatch in = entered;
            final CountDownLatch out = release;
            entered = null;
            release = null;
            if (in != null) {
                in.countDown();
                try {
                    out.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            super.peersChanged(changes);
        }
    }

    private CountDownLatch release;

    @BeforeEach
    void peersBAndC() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        store.put(subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.2\"}");
        store.put(subnetKey("100.64.3.0-24"), "{\"PublicIP\":\"198.18.0.3\"}");
        final EtcdSubnetAllocator a = allocator(settings().build(), faults());
        final Lease own = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        a.start(own, events);
        await().atMost(WAIT).until(() -> events.listed.size() == 1);
    }

    @AfterEach
    void releaseAll() {
        if (release != null) {
            release.countDown();
        }
    }

    /** Makes the next batch wait in the listener until {@link #release} counts down; returns the "entered" latch. */
    private CountDownLatch blockNextBatch() {
        final CountDownLatch in = new CountDownLatch(1);
        release = new CountDownLatch(1);
        events.release = release;
        events.entered = in;
        return in;
    }

    @Test
    void theListingIsOneBatchAndPeersListedFollowsIt() {
        assertThat(events.batches).containsExactly(2);
        assertThat(events.listed).as("peers known when peersListed came").containsExactly(2);
        assertThat(events.threads).containsOnly("overlay-etcd-control");
    }

    @Test
    void responsesArrivingWhileABatchIsAppliedComeAsTheNextBatch() throws Exception {
        final CountDownLatch entered = blockNextBatch();
        store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
        store.put(subnetKey("100.64.5.0-24"), "{\"PublicIP\":\"198.18.0.5\"}");
        store.put(subnetKey("100.64.6.0-24"), "{\"PublicIP\":\"198.18.0.6\"}");
        store.put(subnetKey("100.64.5.0-24"), "{\"PublicIP\":\"198.18.0.55\"}");
        store.delete(subnetKey("100.64.2.0-24"));
        release.countDown();
        await().atMost(WAIT).until(() -> events.events.size() == 2 + 5);
        assertThat(events.batches).as("listing, the blocked one, then the four queued meanwhile")
            .containsExactly(2, 1, 4);
        assertThat(events.events.subList(2, 7)).containsExactly(
            "added 100.64.4.0-24 {\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}",
            "added 100.64.5.0-24 {\"PublicIP\":\"198.18.0.5\",\"PublicIPv6\":null}",
            "added 100.64.6.0-24 {\"PublicIP\":\"198.18.0.6\",\"PublicIPv6\":null}",
            "changed 100.64.5.0-24 {\"PublicIP\":\"198.18.0.55\",\"PublicIPv6\":null}",
            "removed 100.64.2.0-24");
        assertThat(events.peers.keySet()).containsExactlyInAnyOrder(Ipv4Prefix.parse("100.64.3.0/24"),
            Ipv4Prefix.parse("100.64.4.0/24"), Ipv4Prefix.parse("100.64.5.0/24"), Ipv4Prefix.parse("100.64.6.0/24"));
    }

    @Test
    void anEventOfTheOwnKeyCutsTheBatchSoTheOrderIsEtcds() throws Exception {
        final CountDownLatch entered = blockNextBatch();
        store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
        store.put(subnetKey("100.64.5.0-24"), "{\"PublicIP\":\"198.18.0.5\"}");
        store.delete(subnetKey("100.64.1.0-24"));
        store.put(subnetKey("100.64.6.0-24"), "{\"PublicIP\":\"198.18.0.6\"}");
        release.countDown();
        await().atMost(WAIT).until(() -> events.events.contains("reacquired 100.64.1.0/24 -> 100.64.1.0/24")
            && events.peers.containsKey(Ipv4Prefix.parse("100.64.6.0/24")));
        assertThat(events.events).containsSubsequence("added 100.64.5.0-24 {\"PublicIP\":\"198.18.0.5\","
            + "\"PublicIPv6\":null}", "lost 100.64.1.0/24", "added 100.64.6.0-24 {\"PublicIP\":\"198.18.0.6\","
            + "\"PublicIPv6\":null}");
        assertThat(events.batches).startsWith(2, 1, 1, 1);
    }
}
