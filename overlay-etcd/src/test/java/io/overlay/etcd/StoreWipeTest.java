package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.LogCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * etcd's store is wiped (or restored from an older snapshot) and etcd restarted: revisions go back below what the
 * agent saw, its key and etcd lease are gone. A watch reopened from the old revision would wait silently for a revision
 * the new store reaches only much later (peers added meanwhile unseen until the periodic re-list, 10 min by default),
 * so the agent must notice the store went back, list again, re-acquire its subnet and follow the new store.
 */
class StoreWipeTest extends EtcdTestSupport {
    private static final String OWN_VALUE = "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}";

    /** Renewal far away (default TTL 24 h): only the watch can notice the wipe in time. */
    private EtcdSettings wipeSettings() {
        return settings().requestTimeout(Duration.ofSeconds(2)).connectTimeout(Duration.ofSeconds(1))
            .backoff(Duration.ofMillis(100), Duration.ofSeconds(2)).build();
    }

    /** Writes enough keys that the old store's revision is far above anything the new store reaches in the test. */
    private void raiseRevision() {
        for (int i = 0; i < 20; i++) {
            etcd.etcdctl("put", prefix + "/padding", Integer.toString(i));
        }
    }

    /**
     * Writes the network config and peer B's lease (then, if {@code raise}, raises the revision), acquires 100.64.1.0/24
     * for 198.18.0.1 with {@code a} (not a random subnet: the tests write peers 100.64.2-5.0/24) and starts it, and
     * waits until B is routed.
     */
    private Lease startWithPeerB(final EtcdSubnetAllocator a, final RecordingListener events, final boolean raise)
        throws Exception {
        putConfig("{\"Network\":\"100.64.0.0/16\"}");
        etcd.etcdctl("put", subnetKey("100.64.2.0-24"), "{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}");
        if (raise) {
            raiseRevision();
        }
        final Lease lease = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        assertThat(lease.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.1.0/24"));
        a.start(lease, events);
        await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.containsKey(Ipv4Prefix.parse("100.64.2.0/24")));
        return lease;
    }

    @Test
    void wipedStoreIsNoticedAndFollowed() throws Exception {
        final EtcdSubnetAllocator a = allocator(wipeSettings());
        final RecordingListener events = new RecordingListener();
        final Lease lease = startWithPeerB(a, events, true);
        final long before = revision(etcd);

        try (LogCapture log = new LogCapture()) {
            final long t0 = System.nanoTime();
            etcd.wipe();
            // the operator writes the config again; a host registers after the wipe
            putConfig("{\"Network\":\"100.64.0.0/16\"}");
            etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}");
            assertThat(revision(etcd)).as("the new store is behind the old one").isLessThan(before);

            await().atMost(Duration.ofSeconds(15))
                .until(() -> events.peers.containsKey(Ipv4Prefix.parse("100.64.4.0/24")));
            await().atMost(Duration.ofSeconds(15)).until(() -> get(subnetKey(lease.key())) != null);
            System.out.printf("wipe: new peer seen and own key back %d ms after the wipe began%n",
                (System.nanoTime() - t0) / 1_000_000);

            assertThat(events.matching("lost")).containsExactly("lost " + lease.subnet());
            assertThat(events.matching("reacquired"))
                .as("the same subnet, still free in the new store")
                .containsExactly("reacquired " + lease.subnet() + " -> " + lease.subnet());
            final KeyState k = get(subnetKey(lease.key()));
            assertThat(k.text()).isEqualTo(OWN_VALUE);
            assertThat(leaseTtl(etcd, k.lease())[1]).as("on a live etcd lease of the new store").isPositive();
            assertThat(events.peers).as("the route table follows the new store")
                .containsOnlyKeys(Ipv4Prefix.parse("100.64.4.0/24"));
            assertThat(log.warnings()).anyMatch(m -> m.contains("went back"));
        }

        // and it keeps following it: a later peer arrives by the watch
        etcd.etcdctl("put", subnetKey("100.64.5.0-24"), "{\"PublicIP\":\"198.18.0.5\",\"PublicIPv6\":null}");
        await().atMost(Duration.ofSeconds(10)).until(() -> events.peers.containsKey(Ipv4Prefix.parse("100.64.5.0/24")));
    }

    @Test
    void wipedStoreWithoutConfigWaitsForItAsAtStartUp() throws Exception {
        final EtcdSubnetAllocator a = allocator(wipeSettings());
        final RecordingListener events = new RecordingListener();
        final Lease lease = startWithPeerB(a, events, true);

        try (LogCapture log = new LogCapture()) {
            final long t0 = System.nanoTime();
            etcd.wipe();
            etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}");
            await().atMost(Duration.ofSeconds(15))
                .until(() -> events.peers.containsKey(Ipv4Prefix.parse("100.64.4.0/24")));
            assertThat(events.matching("lost")).containsExactly("lost " + lease.subnet());
            // nothing is acquired without the config, as at start-up, and the log says what it waits for
            await().atMost(Duration.ofSeconds(15)).until(() -> log.warnings().stream()
                .anyMatch(m -> m.contains(prefix + "/config") && m.contains("missing") && m.contains("waiting")));
            assertThat(get(subnetKey(lease.key()))).isNull();
            assertThat(events.matching("reacquired")).isEmpty();

            putConfig("{\"Network\":\"100.64.0.0/16\"}");
            final long written = System.nanoTime();
            await().atMost(Duration.ofSeconds(15)).until(() -> get(subnetKey(lease.key())) != null);
            System.out.printf("wipe without config: waited %d ms, own key back %d ms after the config was written%n",
                (written - t0) / 1_000_000, (System.nanoTime() - written) / 1_000_000);
            await().atMost(Duration.ofSeconds(5)).until(() -> !events.matching("reacquired").isEmpty());
            assertThat(events.matching("reacquired"))
                .containsExactly("reacquired " + lease.subnet() + " -> " + lease.subnet());
            assertThat(get(subnetKey(lease.key())).text()).isEqualTo(OWN_VALUE);
            assertThat(events.peers).containsOnlyKeys(Ipv4Prefix.parse("100.64.4.0/24"));
        }
    }

    @Test
    void storeRestoredFromAnOlderSnapshotIsFollowed() throws Exception {
        final EtcdSubnetAllocator a = allocator(wipeSettings());
        final RecordingListener events = new RecordingListener();
        final Lease lease = startWithPeerB(a, events, false);
        final KeyState own = get(subnetKey(lease.key()));
        final Path dir = Files.createTempDirectory("etcd-snapshot-");
        try {
            final Path snapshot = dir.resolve("backup.db");
            etcd.etcdctl("snapshot", "save", snapshot.toString());
            // after the backup a peer joins and writes its key again and again (the watch sees revisions the backup
            // does not have; had it seen none, the backup would hold all it knew and a watch from there miss nothing)
            for (int i = 0; i < 20; i++) {
                etcd.etcdctl("put", subnetKey("100.64.3.0-24"), "{\"PublicIP\":\"198.18.0.3\",\"PublicIPv6\":null}");
            }
            await().atMost(Duration.ofSeconds(10))
                .until(() -> events.peers.containsKey(Ipv4Prefix.parse("100.64.3.0/24")));

            final long t0 = System.nanoTime();
            etcd.restore(snapshot);
            etcd.etcdctl("put", subnetKey("100.64.4.0-24"), "{\"PublicIP\":\"198.18.0.4\",\"PublicIPv6\":null}");
            await().atMost(Duration.ofSeconds(15))
                .until(() -> events.peers.containsKey(Ipv4Prefix.parse("100.64.4.0/24")));
            System.out.printf("restore: new peer seen %d ms after the restore began%n",
                (System.nanoTime() - t0) / 1_000_000);
            assertThat(events.peers).as("the route table follows the restored store")
                .containsOnlyKeys(Ipv4Prefix.parse("100.64.2.0/24"), Ipv4Prefix.parse("100.64.4.0/24"));
            assertThat(events.matching("lost")).as("the own key and its etcd lease are in the backup").isEmpty();
            final KeyState k = get(subnetKey(lease.key()));
            assertThat(k.lease()).isEqualTo(own.lease());
            assertThat(leaseTtl(etcd, k.lease())[1]).isPositive();
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(f);
                }
            }
        }
    }
}
