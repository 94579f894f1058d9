package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.LogCapture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Keys a careless operator or an attacker writes under {@code <prefix>/subnets} of a real etcd with etcdctl (or, for
 * the flood, with a jetcd client): keys outside the subnets directory, unaligned keys, a second key for a peer's
 * subnet, peers whose PublicIP is loopback or this host's own, and 10,000 junk keys. Host A (100.64.1.0/24, PublicIP
 * 198.18.0.1) watches; B (100.64.2.0/24, 198.18.0.2) is the real peer.
 */
class HostileKeysTest extends EtcdTestSupport {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String B = "{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}";
    private static final String EVIL = "{\"PublicIP\":\"198.18.0.66\",\"PublicIPv6\":null}";
    private static final Ipv4Prefix B_SUBNET = Ipv4Prefix.parse("100.64.2.0/24");

    private EtcdSubnetAllocator a;
    private final RecordingListener events = new RecordingListener();

    @BeforeEach
    void peerB() {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), B);
    }

    private void startA() throws Exception {
        a = allocator();
        final Lease own = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        assertThat(own.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.1.0/24"));
        a.start(own, events);
        await().atMost(WAIT).until(() -> events.peers.containsKey(B_SUBNET));
    }

    private String viaB() {
        return io.overlay.core.net.Ipv4.format(events.peers.get(B_SUBNET).attrs().publicIp());
    }

    /** Only a key whose whole name after {@code <prefix>/subnets/} is a subnet key is a lease. */
    @Test
    void keysOutsideTheSubnetsDirectoryOrUnalignedAreNotLeases() throws Exception {
        etcd.etcdctl("put", prefix + "/subnets/../../etc/100.64.59.0-24", EVIL);
        startA();
        etcd.etcdctl("put", prefix + "/subnets/../../etc/100.64.60.0-24", EVIL);
        etcd.etcdctl("put", prefix + "/subnets/x/100.64.2.0-24", EVIL);
        etcd.etcdctl("put", prefix + "/subnets/x/100.64.61.0-24", EVIL);
        etcd.etcdctl("put", prefix + "/subnets/100.64.2.7-24", EVIL);
        etcd.etcdctl("put", prefix + "/subnets/100.64.62.0-024", EVIL);
        etcd.etcdctl("put", prefix + "/subnetsX/100.64.63.0-24", EVIL);
        sentinel(events, "100.64.250.0-24");
        assertThat(events.peers.keySet()).containsExactlyInAnyOrder(B_SUBNET, Ipv4Prefix.parse("100.64.250.0/24"));
        assertThat(viaB()).isEqualTo("198.18.0.2");
        assertThat(a.malformedLeaseEvents()).isEqualTo(7);

        // Deleting the stray keys removes nothing.
        etcd.etcdctl("del", prefix + "/subnets/x/100.64.2.0-24");
        etcd.etcdctl("del", prefix + "/subnets/100.64.2.7-24");
        etcd.etcdctl("del", subnetKey("100.64.250.0-24"));
        sentinel(events, "100.64.251.0-24");
        assertThat(events.peers).containsKey(B_SUBNET);
        assertThat(events.matching("removed")).containsExactly("removed 100.64.250.0-24");
    }

    /**
     * A second, valid key for B's subnet (the dual-stack spelling) neither redirects B's traffic nor, when deleted,
     * removes B's route; it is named at WARN. Only when B's own key goes does the other claim take over.
     */
    @Test
    void aSecondKeyForAPeersSubnetNeitherRedirectsNorRemovesIt() throws Exception {
        startA();
        final String junk = subnetKey("100.64.2.0-24&fc00:0:0:66::-64");
        try (LogCapture log = new LogCapture()) {
            etcd.etcdctl("put", junk, EVIL);
            sentinel(events, "100.64.250.0-24");
            assertThat(viaB()).isEqualTo("198.18.0.2");
            assertThat(log.warnings()).anyMatch(m -> m.contains("claim subnet 100.64.2.0/24")
                && m.contains(subnetKey("100.64.2.0-24")) && m.contains(junk) && m.contains("198.18.0.66"));
        }
        etcd.etcdctl("del", junk);
        sentinel(events, "100.64.251.0-24");
        assertThat(events.peers).containsKey(B_SUBNET);
        assertThat(viaB()).isEqualTo("198.18.0.2");
        assertThat(events.matching("changed")).isEmpty();
        assertThat(events.matching("removed")).isEmpty();

        // B's key changes: followed. B's key goes while another claim remains: the other claim takes over.
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.22\"}");
        etcd.etcdctl("put", junk, EVIL);
        sentinel(events, "100.64.252.0-24");
        assertThat(viaB()).isEqualTo("198.18.0.22");
        etcd.etcdctl("del", subnetKey("100.64.2.0-24"));
        sentinel(events, "100.64.253.0-24");
        assertThat(viaB()).isEqualTo("198.18.0.66");
        etcd.etcdctl("del", junk);
        await().atMost(WAIT).until(() -> !events.peers.containsKey(B_SUBNET));
    }

    /** A peer lease whose PublicIP is loopback or this host's own is skipped like 0.0.0.0 and counted. */
    @Test
    void loopbackAndTheOwnPublicIpAreNotRouted() throws Exception {
        startA();
        try (LogCapture log = new LogCapture()) {
            etcd.etcdctl("put", subnetKey("100.64.70.0-24"), "{\"PublicIP\":\"127.0.0.1\"}");
            etcd.etcdctl("put", subnetKey("100.64.71.0-24"), "{\"PublicIP\":\"127.1.2.3\"}");
            etcd.etcdctl("put", subnetKey("100.64.72.0-24"), "{\"PublicIP\":\"198.18.0.1\"}");
            sentinel(events, "100.64.250.0-24");
            assertThat(events.peers.keySet()).containsExactlyInAnyOrder(B_SUBNET,
                Ipv4Prefix.parse("100.64.250.0/24"));
            assertThat(a.unroutablePeerLeases()).isEqualTo(3);
            assertThat(log.warnings()).anyMatch(m -> m.contains(subnetKey("100.64.70.0-24"))
                && m.contains("127.0.0.1") && m.contains("loopback"));
            assertThat(log.warnings()).anyMatch(m -> m.contains(subnetKey("100.64.72.0-24"))
                && m.contains("198.18.0.1") && m.contains("this host's own"));
        }
        // B turning to loopback loses its route; back to a real address gets it again.
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"127.0.0.1\"}");
        await().atMost(WAIT).until(() -> !events.peers.containsKey(B_SUBNET));
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), B);
        await().atMost(WAIT).until(() -> events.peers.containsKey(B_SUBNET));
    }

    /** 10,000 junk keys, half listed at start and half watched, give a bounded number of log lines. */
    @Test
    void tenThousandJunkKeysGiveABoundedNumberOfLogLines() throws Exception {
        try (Client client = Client.builder().endpoints(etcd.endpoint()).build();
             LogCapture log = new LogCapture()) {
            putJunk(client, 0, 5_000);
            startA();
            putJunk(client, 5_000, 10_000);
            await().atMost(Duration.ofSeconds(60)).until(() -> a.malformedLeaseEvents() >= 10_000);
            sentinel(events, "100.64.250.0-24");
            assertThat(a.malformedLeaseEvents()).isEqualTo(10_000);
            assertThat(events.peers.keySet()).containsExactlyInAnyOrder(B_SUBNET,
                Ipv4Prefix.parse("100.64.250.0/24"));
            final long lines = log.warnings().size();
            assertThat(lines).as("WARN lines for 10,000 junk keys: %s", log.warnings().subList(0,
                (int) Math.min(lines, 5))).isLessThanOrEqualTo(30);
        }
    }

    /** Writes junk keys {@code <prefix>/subnets/junk-<n>} for n in [from, to), 500 requests in flight at most. */
    private void putJunk(final Client client, final int from, final int to) {
        final ByteSequence value = ByteSequence.from(EVIL, StandardCharsets.UTF_8);
        for (int start = from; start < to; start += 500) {
            final List<CompletableFuture<?>> batch = new ArrayList<>();
            for (int n = start; n < Math.min(to, start + 500); n++) {
                batch.add(client.getKVClient().put(ByteSequence.from(prefix + "/subnets/junk-" + n,
                    StandardCharsets.UTF_8), value));
            }
            CompletableFuture.allOf(batch.toArray(new CompletableFuture<?>[0])).orTimeout(30,
                java.util.concurrent.TimeUnit.SECONDS).join();
        }
    }
}
