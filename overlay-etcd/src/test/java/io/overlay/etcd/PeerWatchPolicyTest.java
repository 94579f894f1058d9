package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.LogCapture;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Peer events on the in-memory registry: snapshot, incremental changes, B3 malformed events, B1 compaction, a stalled
 * and a broken watch, unexpected errors, unroutable PublicIPs.
 */
class PeerWatchPolicyTest extends FakeRegistrySupport {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String B = "{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}";
    private static final String C = "{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null}";

    private final FaultyRegistry faults = faults();
    private EtcdSubnetAllocator a;
    private final RecordingListener events = new RecordingListener();

    @BeforeEach
    void peersBAndC() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        store.put(subnetKey("100.64.2.0-24"), B);
        store.put(subnetKey("100.64.3.0-24"), C);
        a = allocator(settings().build(), faults);
        final Lease own = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        assertThat(own.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.1.0/24"));
        a.start(own, events);
        await().atMost(WAIT).until(() -> events.peers.size() == 2);
    }

    @Test
    void currentPeersComeAsAddedWithoutTheOwnSubnet() {
        assertThat(events.events).containsExactlyInAnyOrder("added 100.64.2.0-24 " + B, "added 100.64.3.0-24 " + C);
        assertThat(events.threads).containsOnly("overlay-etcd-control");
    }

    @Test
    void incrementalAddChangeRemove() {
        store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        store.put(subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.22\",\"PublicIPv6\":null}");
        store.delete(subnetKey("100.64.3.0-24"));
        await().atMost(WAIT).until(() -> events.events.size() == 5);
        assertThat(events.events.subList(2, 5)).containsExactly(
            "added 100.64.4.0-24 {\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}",
            "changed 100.64.2.0-24 {\"PublicIP\":\"198.18.0.22\",\"PublicIPv6\":null}",
            "removed 100.64.3.0-24");
        // Re-putting the same attributes (a flannel-style renewal) is no event.
        store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}");
        sentinel(events, "100.64.250.0-24");
        assertThat(events.events).hasSize(6);
    }

    /** B3: malformed values and keys are logged with their key, counted and skipped; B and C stay; D arrives. */
    @Test
    void b3MalformedEventsAreSkippedAndCounted() {
        try (LogCapture log = new LogCapture()) {
            store.put(subnetKey("100.64.9.0-24"), "not-json");
            store.put(subnetKey("100.64.10.0-24"), "");
            store.put(subnetKey("garbage"), "{}");
            store.put(subnetKey("100.64.11.0-24"), "{\"PublicIP\":\"198.18.0.11\"}");
            await().atMost(WAIT).until(() -> events.peers.containsKey(Ipv4Prefix.parse("100.64.11.0/24")));
            assertThat(a.malformedLeaseEvents()).isEqualTo(3);
            assertThat(events.matching("removed")).isEmpty();
            assertThat(events.matching("changed")).isEmpty();
            assertThat(events.peers.keySet()).containsExactlyInAnyOrder(Ipv4Prefix.parse("100.64.2.0/24"),
                Ipv4Prefix.parse("100.64.3.0/24"), Ipv4Prefix.parse("100.64.11.0/24"));
            assertThat(a.resyncs()).isZero();
            final List<String> w = log.warnings();
            assertThat(w).anyMatch(m -> m.contains(subnetKey("100.64.9.0-24")) && m.contains("not-json"));
            assertThat(w).anyMatch(m -> m.contains(subnetKey("100.64.10.0-24")));
            assertThat(w).anyMatch(m -> m.contains(subnetKey("garbage")) && m.contains("not a subnet key"));
        }
    }

    /** B1: while the watch is away, C goes, D comes, B changes, and etcd compacts: one re-list, exact result. */
    @Test
    void b1CompactionWhileTheWatchWasAwayLeadsToOneRelist() {
        faults.pauseWatches();
        store.delete(subnetKey("100.64.3.0-24"));
        store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        store.put(subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.22\"}");
        store.put(subnetKey("100.64.9.0-24"), "not-json");
        store.compact();
        final long restarts = a.watchRestarts();
        faults.resumeWatches();

        await().atMost(WAIT).until(() -> events.events.size() == 5);
        assertThat(events.events.subList(2, 5)).containsExactlyInAnyOrder(
            "removed 100.64.3.0-24",
            "added 100.64.4.0-24 {\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}",
            "changed 100.64.2.0-24 {\"PublicIP\":\"198.18.0.22\",\"PublicIPv6\":null}");
        assertThat(a.resyncs()).isEqualTo(1);
        assertThat(a.watchRestarts()).isEqualTo(restarts);
        store.put(subnetKey("100.64.5.0-24"), "{\"PublicIP\":\"198.18.0.5\"}");
        sentinel(events, "100.64.250.0-24");
        assertThat(a.resyncs()).isEqualTo(1);
        assertThat(events.events).hasSize(7);
    }

    /**
     * A store that looks behind is listed again at once, but a member that keeps answering behind (one lagging the
     * member the listing came from) is listed again only after a capped backoff, never in a loop.
     */
    @Test
    void aStoreThatStaysBehindIsListedAgainWithBackoff() {
        final java.util.concurrent.atomic.AtomicInteger lists = new java.util.concurrent.atomic.AtomicInteger();
        faults.interleave(FaultyRegistry.Op.LIST, 100, lists::incrementAndGet);
        faults.storeBehindOnNextWatches(settings().build().subnetsPrefix(), 3, 1);
        final long start = System.nanoTime();
        faults.breakWatches(new IllegalStateException("injected: connection reset"));

        await().atMost(WAIT).until(() -> a.resyncs() == 3 && lists.get() == 3);
        // the first re-list at once, then after 50 and 100 ms (backoff 50 ms doubling, FakeRegistrySupport)
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(150));
        store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        sentinel(events, "100.64.250.0-24");
        assertThat(events.peers).containsKeys(Ipv4Prefix.parse("100.64.2.0/24"), Ipv4Prefix.parse("100.64.3.0/24"),
            Ipv4Prefix.parse("100.64.4.0/24"));
        assertThat(a.resyncs()).isEqualTo(3);
        assertThat(lists.get()).isEqualTo(3);
    }

    /**
     * The network config watch on a member that keeps answering behind (one lagging the member the read came from)
     * re-reads the config with a capped backoff, not in a loop of reads and watches.
     */
    @Test
    void aConfigWatchOnAStoreThatStaysBehindReadsAgainWithBackoff() throws Exception {
        final java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        faults.interleave(FaultyRegistry.Op.GET, 1_000_000, reads::incrementAndGet);
        faults.storeBehindOnNextWatches(settings().build().configKey(), 1_000_000, 1);
        faults.breakWatches(new IllegalStateException("injected: connection reset"));
        Thread.sleep(1000);
        // backoff 50 ms doubling to 500 ms (FakeRegistrySupport): a handful of reads in a second, not thousands
        assertThat(reads.get()).isBetween(1, 10);
    }

    /** A broken watch is reopened from the last seen revision: nothing missed, nothing removed, one restart. */
    @Test
    void aBrokenWatchIsReopenedFromTheLastSeenRevision() {
        try (LogCapture log = new LogCapture()) {
            faults.pauseWatches();
            store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
            faults.resumeWatches();
            faults.breakWatches(new IllegalStateException("injected: connection reset"));
            store.delete(subnetKey("100.64.3.0-24"));
            sentinel(events, "100.64.250.0-24");
            assertThat(events.events.subList(2, 5)).containsExactly(
                "added 100.64.4.0-24 {\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}",
                "removed 100.64.3.0-24",
                "added 100.64.250.0-24 {\"PublicIP\":\"198.18.0.250\",\"PublicIPv6\":null}");
            assertThat(a.watchRestarts()).isEqualTo(1);
            assertThat(a.resyncs()).isZero();
            assertThat(log.warnings()).anyMatch(m -> m.startsWith("Lease watch broke (error: injected: connection "
                + "reset); reopening from revision") && m.contains("keeping the last known peers"));
        }
    }

    /** The periodic re-list catches up with a watch that went quiet without any error. */
    @Test
    void periodicRelistCatchesUpWithAStalledWatch() throws Exception {
        final FaultyRegistry fb = faults();
        final EtcdSubnetAllocator b = allocator(settings().resyncInterval(Duration.ofMillis(200)).build(), fb);
        final Lease lb = b.acquire(ip("198.18.0.7"), Optional.empty());
        final RecordingListener eb = new RecordingListener();
        b.start(lb, eb);
        await().atMost(WAIT).until(() -> eb.peers.size() == 3);
        fb.stallWatches();
        store.delete(subnetKey("100.64.3.0-24"));
        store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        await().atMost(WAIT).until(() -> eb.peers.containsKey(Ipv4Prefix.parse("100.64.4.0/24"))
            && !eb.peers.containsKey(Ipv4Prefix.parse("100.64.3.0/24")));
        assertThat(eb.matching("removed")).containsExactly("removed 100.64.3.0-24");
    }

    /** An unexpected exception in a periodic re-list is logged at ERROR and the re-lists go on. */
    @Test
    void unexpectedErrorInAPeriodicRelistIsLoggedAndRelistsGoOn() throws Exception {
        final FaultyRegistry fb = faults();
        final EtcdSubnetAllocator b = allocator(settings().resyncInterval(Duration.ofMillis(200)).build(), fb);
        final Lease lb = b.acquire(ip("198.18.0.7"), Optional.empty());
        final RecordingListener eb = new RecordingListener();
        b.start(lb, eb);
        await().atMost(WAIT).until(() -> eb.peers.size() == 3);
        try (LogCapture log = new LogCapture()) {
            fb.stallWatches();
            fb.failNext(FaultyRegistry.Op.LIST, 1, new IllegalStateException("injected surprise"));
            await().atMost(WAIT).until(() -> log.errors().stream().anyMatch(m -> m.contains("injected surprise")));
            store.delete(subnetKey("100.64.3.0-24"));
            store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
            await().atMost(WAIT).until(() -> eb.peers.containsKey(Ipv4Prefix.parse("100.64.4.0/24"))
                && !eb.peers.containsKey(Ipv4Prefix.parse("100.64.3.0/24")));
            assertThat(log.errors()).anyMatch(m -> m.contains("re-list") && m.contains("injected surprise"));
        }
    }

    /** A re-list that cannot reach etcd is retried with backoff; the peers stay meanwhile. */
    @Test
    void aFailingRelistIsRetriedAndKeepsThePeers() throws Exception {
        final FaultyRegistry fb = faults();
        final EtcdSubnetAllocator b = allocator(settings().resyncInterval(Duration.ofMillis(200)).build(), fb);
        final Lease lb = b.acquire(ip("198.18.0.7"), Optional.empty());
        final RecordingListener eb = new RecordingListener();
        b.start(lb, eb);
        await().atMost(WAIT).until(() -> eb.peers.size() == 3);
        try (LogCapture log = new LogCapture()) {
            fb.stallWatches();
            fb.failNext(FaultyRegistry.Op.LIST, 3, new EtcdUnavailableException("injected: unreachable", null));
            store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
            await().atMost(WAIT).until(() -> eb.peers.containsKey(Ipv4Prefix.parse("100.64.4.0/24")));
            assertThat(log.warnings()).filteredOn(m -> m.startsWith("Cannot re-list leases: injected: unreachable"))
                .hasSize(3);
        }
        assertThat(eb.matching("removed")).isEmpty();
    }

    /**
     * A lease whose PublicIP is not unicast (0.0.0.0 of an IPv6-only vxlan node, multicast) is skipped, counted and
     * named in a WARN; vxlan leases are routed like flanneld does, with one mixed-cluster WARN.
     */
    @Test
    void nonUnicastPublicIpsAreSkippedAndOtherBackendsRoutedWithOneWarning() {
        try (LogCapture log = new LogCapture()) {
            store.put(subnetKey("100.64.6.0-24"),
                "{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fc00::6\",\"BackendType\":\"vxlan\"}");
            store.put(subnetKey("100.64.7.0-24"), "{\"PublicIP\":\"224.0.0.7\"}");
            store.put(subnetKey("100.64.8.0-24"), "{\"PublicIP\":\"198.18.0.8\",\"BackendType\":\"vxlan\"}");
            store.put(subnetKey("100.64.9.0-24"), "{\"PublicIP\":\"198.18.0.9\",\"BackendType\":\"vxlan\"}");
            sentinel(events, "100.64.250.0-24");
            assertThat(events.peers.keySet()).containsExactlyInAnyOrder(Ipv4Prefix.parse("100.64.2.0/24"),
                Ipv4Prefix.parse("100.64.3.0/24"), Ipv4Prefix.parse("100.64.8.0/24"),
                Ipv4Prefix.parse("100.64.9.0/24"), Ipv4Prefix.parse("100.64.250.0/24"));
            assertThat(a.unroutablePeerLeases()).isEqualTo(2);
            assertThat(a.malformedLeaseEvents()).isZero();
            final List<String> w = log.warnings();
            assertThat(w).anyMatch(m -> m.contains(subnetKey("100.64.6.0-24")) && m.contains("0.0.0.0")
                && m.contains("fc00::6"));
            assertThat(w).anyMatch(m -> m.contains(subnetKey("100.64.7.0-24")) && m.contains("224.0.0.7"));
            assertThat(w.stream().filter(m -> m.contains("mixed cluster"))).hasSize(1);

            // A known peer whose PublicIP turns unroutable is removed.
            store.put(subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"0.0.0.0\"}");
            sentinel(events, "100.64.251.0-24");
            assertThat(events.matching("removed")).containsExactly("removed 100.64.2.0-24");
            assertThat(a.unroutablePeerLeases()).isEqualTo(3);
        }
    }

    /** Another key naming the own subnet is ignored with a WARN; the own key's deletion is a loss, not a peer event. */
    @Test
    void aForeignKeyForTheOwnSubnetIsNoPeer() {
        try (LogCapture log = new LogCapture()) {
            store.put(subnetKey("100.64.1.0-24&fc00:0:0:1::-64"), "{\"PublicIP\":\"198.18.0.9\"}");
            sentinel(events, "100.64.250.0-24");
            assertThat(events.peers).doesNotContainKey(Ipv4Prefix.parse("100.64.1.0/24"));
            assertThat(log.warnings()).anyMatch(m -> m.contains("names this host's subnet 100.64.1.0/24 but is not "
                + "its key " + subnetKey("100.64.1.0-24")));
        }
    }

    /**
     * A surprise while a watch response is applied (here an event without a key after D's) must not lose the changes
     * already taken into the peer set: the re-list that follows diffs against that set, so D must come now.
     */
    @Test
    void aSurpriseWhileApplyingWatchEventsLosesNoChange() {
        try (LogCapture log = new LogCapture()) {
            faults.appendToNextResponse(new SubnetRegistry.Event(true, null, new byte[0], 0, 0, 0));
            store.put(subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
            await().atMost(WAIT).until(() -> !log.errors().isEmpty());
            sentinel(events, "100.64.250.0-24");
            assertThat(events.matching("added 100.64.4.0-24")).hasSize(1);
            assertThat(events.peers).containsKey(Ipv4Prefix.parse("100.64.4.0/24"));
        }
    }
}
