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
 * Peer events from a real etcd: snapshot, incremental changes, B1 compaction, every value shape flanneld writes. The
 * policy (malformed and unroutable leases, stalled and broken watches, unexpected errors) is tested on the in-memory
 * registry in {@link PeerWatchPolicyTest} and {@link PeerSetTest}.
 */
class PeerWatchTest extends EtcdTestSupport {
    private static final Duration WAIT = Duration.ofSeconds(15);
    private static final String B = "{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}";
    private static final String C = "{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null}";

    private FaultyRegistry faults;
    private EtcdSubnetAllocator a;
    private Lease own;
    private final RecordingListener events = new RecordingListener();

    @BeforeEach
    void peersBAndC() throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), B);
        etcd.etcdctl("put", subnetKey("100.64.3.0-24"), C);
        final EtcdSettings s = settings().build();
        faults = new FaultyRegistry(new GatewayRegistry(s), true);
        a = allocator(s, faults);
        own = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
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

    /** B1: while the watch is away, C goes, D comes, B changes, and etcd compacts: one re-list, exact result. */
    @Test
    void b1CompactionWhileTheWatchWasAwayLeadsToOneRelist() throws Exception {
        faults.pauseWatches();
        etcd.etcdctl("del", subnetKey("100.64.3.0-24"));
        etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.22\"}");
        etcd.etcdctl("put", subnetKey("100.64.9.0-24"), "not-json");
        etcd.etcdctl("compact", Long.toString(revision(etcd)));
        final long restarts = a.watchRestarts();
        faults.resumeWatches();

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
