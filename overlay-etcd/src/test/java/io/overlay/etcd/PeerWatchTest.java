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

/** Peer events from a real etcd: snapshot, incremental changes, B3 malformed events, B1 compaction. */
class PeerWatchTest extends EtcdTestSupport {
    private static final Duration WAIT = Duration.ofSeconds(15);
    private static final String B = "{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}";
    private static final String C = "{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null}";

    private EtcdSubnetAllocator a;
    private Lease own;
    private final RecordingListener events = new RecordingListener();

    @BeforeEach
    void peersBAndC() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), B);
        etcd.etcdctl("put", subnetKey("100.64.3.0-24"), C);
        a = allocator();
        own = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        assertThat(own.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.1.0/24"));
        a.start(own, events);
        await().atMost(WAIT).until(() -> events.peers.size() == 2);
    }

    @Test
    void currentPeersComeAsAddedWithoutTheOwnSubnet() {
        assertThat(events.events).containsExactlyInAnyOrder("added 100.64.2.0-24 " + B, "added 100.64.3.0-24 " + C);
        assertThat(events.threads).containsOnly("overlay-etcd-events");
    }

    @Test
    void incrementalAddChangeRemove() {
        etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.22\",\"PublicIPv6\":null}");
        etcd.etcdctl("del", subnetKey("100.64.3.0-24"));
        await().atMost(WAIT).until(() -> events.events.size() == 5);
        assertThat(events.events.subList(2, 5)).containsExactly(
            "added 100.64.4.0-24 {\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}",
            "changed 100.64.2.0-24 {\"PublicIP\":\"198.18.0.22\",\"PublicIPv6\":null}",
            "removed 100.64.3.0-24");
        // Re-putting the same attributes (a flannel-style renewal) is no event.
        etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}");
        etcd.etcdctl("put", subnetKey("100.64.5.0-24"), "{\"PublicIP\":\"198.18.0.5\"}");
        await().atMost(WAIT).until(() -> events.events.size() == 6);
        assertThat(events.events.get(5)).startsWith("added 100.64.5.0-24");
    }

    /** B3: malformed values and keys are logged with their key, counted and skipped; B and C stay; D arrives. */
    @Test
    void b3MalformedEventsAreSkippedAndCounted() {
        try (LogCapture log = new LogCapture()) {
            etcd.etcdctl("put", subnetKey("100.64.9.0-24"), "not-json");
            etcd.etcdctl("put", subnetKey("100.64.10.0-24"), "");
            etcd.etcdctl("put", subnetKey("garbage"), "{}");
            etcd.etcdctl("put", subnetKey("100.64.11.0-24"), "{\"PublicIP\":\"198.18.0.11\"}");
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
    void b1CompactionWhileTheWatchWasAwayLeadsToOneRelist() throws Exception {
        a.pauseWatch();
        etcd.etcdctl("del", subnetKey("100.64.3.0-24"));
        etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.22\"}");
        etcd.etcdctl("put", subnetKey("100.64.9.0-24"), "not-json");
        etcd.etcdctl("compact", Long.toString(revision(etcd)));
        final long restarts = a.watchRestarts();
        a.resumeWatch();

        await().atMost(WAIT).until(() -> events.events.size() == 5);
        assertThat(events.events.subList(2, 5)).containsExactlyInAnyOrder(
            "removed 100.64.3.0-24",
            "added 100.64.4.0-24 {\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}",
            "changed 100.64.2.0-24 {\"PublicIP\":\"198.18.0.22\",\"PublicIPv6\":null}");
        assertThat(events.peers.keySet()).containsExactlyInAnyOrder(Ipv4Prefix.parse("100.64.2.0/24"),
            Ipv4Prefix.parse("100.64.4.0/24"));
        assertThat(a.resyncs()).isEqualTo(1);
        assertThat(a.watchRestarts()).isEqualTo(restarts);

        // The watch goes on after the re-list.
        etcd.etcdctl("put", subnetKey("100.64.5.0-24"), "{\"PublicIP\":\"198.18.0.5\"}");
        await().atMost(WAIT).until(() -> events.peers.containsKey(Ipv4Prefix.parse("100.64.5.0/24")));
        sentinel(events, "100.64.250.0-24");
        assertThat(a.resyncs()).isEqualTo(1);
        assertThat(events.events).hasSize(7);
    }

    /** The periodic re-list catches up with a watch that went quiet without any error. */
    @Test
    void periodicRelistCatchesUpWithAStalledWatch() throws Exception {
        final EtcdSubnetAllocator b = allocator(settings().resyncInterval(Duration.ofSeconds(1)).build());
        final Lease lb = b.acquire(ip("198.18.0.7"), Optional.empty());
        final RecordingListener eb = new RecordingListener();
        b.start(lb, eb);
        await().atMost(WAIT).until(() -> eb.peers.size() == 3);
        b.stallWatch();
        etcd.etcdctl("del", subnetKey("100.64.3.0-24"));
        etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        await().atMost(WAIT).until(() -> eb.peers.containsKey(Ipv4Prefix.parse("100.64.4.0/24"))
            && !eb.peers.containsKey(Ipv4Prefix.parse("100.64.3.0/24")));
        assertThat(eb.matching("removed")).containsExactly("removed 100.64.3.0-24");
    }

    /** Review M1: an unexpected exception in a periodic re-list is logged at ERROR and the re-lists go on. */
    @Test
    void unexpectedErrorInAPeriodicRelistIsLoggedAndRelistsGoOn() throws Exception {
        final EtcdSubnetAllocator b = allocator(settings().resyncInterval(Duration.ofSeconds(1)).build());
        final Lease lb = b.acquire(ip("198.18.0.7"), Optional.empty());
        final RecordingListener eb = new RecordingListener();
        b.start(lb, eb);
        await().atMost(WAIT).until(() -> eb.peers.size() == 3);
        try (LogCapture log = new LogCapture()) {
            b.stallWatch();
            b.injectFailure("list ", new IllegalStateException("injected surprise"), false);
            await().atMost(WAIT).until(() -> log.errors().stream().anyMatch(m -> m.contains("injected surprise")));
            etcd.etcdctl("del", subnetKey("100.64.3.0-24"));
            etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
            await().atMost(WAIT).until(() -> eb.peers.containsKey(Ipv4Prefix.parse("100.64.4.0/24"))
                && !eb.peers.containsKey(Ipv4Prefix.parse("100.64.3.0/24")));
            assertThat(log.errors()).anyMatch(m -> m.contains("re-list") && m.contains("injected surprise"));
        }
    }

    /**
     * Review L4: a lease whose PublicIP is not unicast (0.0.0.0 of an IPv6-only vxlan node, multicast) is skipped,
     * counted and named in a WARN; vxlan leases are routed like flanneld does, with one mixed-cluster WARN.
     */
    @Test
    void nonUnicastPublicIpsAreSkippedAndOtherBackendsRoutedWithOneWarning() {
        try (LogCapture log = new LogCapture()) {
            etcd.etcdctl("put", subnetKey("100.64.6.0-24"),
                "{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fc00::6\",\"BackendType\":\"vxlan\"}");
            etcd.etcdctl("put", subnetKey("100.64.7.0-24"), "{\"PublicIP\":\"224.0.0.7\"}");
            etcd.etcdctl("put", subnetKey("100.64.8.0-24"), "{\"PublicIP\":\"198.18.0.8\",\"BackendType\":\"vxlan\"}");
            etcd.etcdctl("put", subnetKey("100.64.9.0-24"), "{\"PublicIP\":\"198.18.0.9\",\"BackendType\":\"vxlan\"}");
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
            etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"0.0.0.0\"}");
            sentinel(events, "100.64.251.0-24");
            assertThat(events.matching("removed")).containsExactly("removed 100.64.2.0-24");
            assertThat(a.unroutablePeerLeases()).isEqualTo(3);
        }
    }

    /** A flannel-style renewal by someone else (new etcd lease, same value) is adopted, not treated as a loss. */
    @Test
    void ownKeyReputWithAnotherEtcdLeaseIsAdopted() throws Exception {
        final String key = subnetKey(own.key());
        final String leaseId = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        etcd.etcdctl("put", "--lease=" + leaseId, key, get(key).text());
        await().atMost(WAIT).until(() -> a.ownLeaseId() == Long.parseLong(leaseId, 16));
        a.renewNow();
        assertThat(a.renewals()).isEqualTo(1);
        assertThat(leaseTtl(etcd, Long.parseLong(leaseId, 16))[0]).isEqualTo(600);
        assertThat(events.matching("lost")).isEmpty();
    }

    /** Every value shape flanneld has written is a peer: pre-0.15 udp, vxlan with BackendData, a dual-stack key. */
    @Test
    void flannelValueShapesAndDualStackKeysArePeers() {
        etcd.etcdctl("put", subnetKey("100.64.6.0-24"), "{\"PublicIP\":\"198.18.0.6\"}");
        etcd.etcdctl("put", subnetKey("100.64.7.0-24"), "{\"PublicIP\":\"198.18.0.7\",\"PublicIPv6\":null,"
            + "\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"c6:d2:32:6f:8f:44\"}}");
        etcd.etcdctl("put", subnetKey("100.64.8.0-24&fc00:0:0:8::-64"),
            "{\"PublicIP\":\"198.18.0.8\",\"PublicIPv6\":\"fc00::8\"}");
        await().atMost(WAIT).until(() -> events.peers.size() == 5);
        assertThat(events.peers.get(Ipv4Prefix.parse("100.64.7.0/24")).attrs().backendType()).isEqualTo("vxlan");
        assertThat(events.peers.get(Ipv4Prefix.parse("100.64.8.0/24")).attrs().publicIpv6()).isEqualTo("fc00::8");
        assertThat(a.malformedLeaseEvents()).isZero();
        etcd.etcdctl("del", subnetKey("100.64.8.0-24&fc00:0:0:8::-64"));
        await().atMost(WAIT).until(() -> events.peers.size() == 4);
    }
}
