package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.testing.LogCapture;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The network config changed with etcdctl while an allocator runs on a real etcd: flanneld never notices; here a
 * change only a restart applies is an ERROR naming old and new values and a listener event (which makes the facade
 * not ready), a range change that still holds the subnet is applied, a deletion or an invalid config is an ERROR.
 */
class NetworkConfigWatchTest extends EtcdTestSupport {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String CONFIG = "{\"Network\":\"100.64.0.0/16\",\"SubnetLen\":24}";
    private final RecordingListener events = new RecordingListener();
    private EtcdSubnetAllocator a;

    @BeforeEach
    void running() throws Exception {
        putConfig(CONFIG);
        a = allocator();
        final Lease own = a.acquire(ip("198.18.0.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        a.start(own, events);
        sentinel(events, "100.64.250.0-24");
    }

    @Test
    void aChangedNetworkOrSubnetLenIsAnErrorAndAnEventUntilChangedBack() {
        try (LogCapture log = new LogCapture()) {
            putConfig("{\"Network\":\"100.65.0.0/16\",\"SubnetLen\":26}");
            await().atMost(WAIT).until(() -> !events.matching("config ").isEmpty());
            assertThat(events.matching("config ")).containsExactly("config 100.65.0.0/16 26 restart "
                + "[Network 100.64.0.0/16 -> 100.65.0.0/16, SubnetLen 24 -> 26]");
            assertThat(log.errors()).anyMatch(m -> m.startsWith("Network config " + prefix + "/config changed while "
                + "running: Network 100.64.0.0/16 -> 100.65.0.0/16, SubnetLen 24 -> 26") && m.contains("restarted")
                && m.contains("not ready"));

            putConfig(CONFIG);
            await().atMost(WAIT).until(() -> events.matching("config ").size() == 2);
            assertThat(events.matching("config ").get(1)).isEqualTo("config 100.64.0.0/16 24 restart []");
            assertThat(log.messages()).anyMatch(m -> m.contains("is again the one this host runs with"));
        }
    }

    @Test
    void aNewRangeThatStillHoldsTheSubnetIsApplied() {
        try (LogCapture log = new LogCapture()) {
            putConfig("{\"Network\":\"100.64.0.0/16\",\"SubnetLen\":24,\"SubnetMax\":\"100.64.9.0\"}");
            await().atMost(WAIT).until(() -> !events.matching("config ").isEmpty());
            assertThat(events.matching("config ")).containsExactly("config 100.64.0.0/16 24 restart []");
            assertThat(log.warnings()).anyMatch(m -> m.contains("SubnetMax 100.64.255.0 -> 100.64.9.0; applied"));
            // a range without this host's subnet needs a restart
            putConfig("{\"Network\":\"100.64.0.0/16\",\"SubnetLen\":24,\"SubnetMin\":\"100.64.5.0\"}");
            await().atMost(WAIT).until(() -> events.matching("config ").size() == 2);
            assertThat(events.matching("config ").get(1)).contains("this host's subnet 100.64.1.0/24 is outside");
        }
    }

    @Test
    void aDeletedOrInvalidConfigIsAnErrorAndNoEvent() {
        try (LogCapture log = new LogCapture()) {
            etcd.etcdctl("del", prefix + "/config");
            await().atMost(WAIT).until(() -> log.errors().stream().anyMatch(m -> m.contains("was deleted")));
            putConfig("{\"Network\":\"nonsense\"}");
            await().atMost(WAIT).until(() -> log.errors().stream().anyMatch(m -> m.contains("is now invalid")));
            sentinel(events, "100.64.251.0-24");
            assertThat(events.matching("config ")).isEmpty();
        }
        // A key next to it with a longer name is not the config.
        etcd.etcdctl("put", prefix + "/config-old", "{\"Network\":\"100.99.0.0/16\"}");
        putConfig(CONFIG);
        sentinel(events, "100.64.252.0-24");
        assertThat(events.matching("config ")).isEmpty();
    }

    /**
     * The config written between the watch's read of the absent key and the opening of the watch (here right after
     * the read, while the watch reopens after a break) is seen: the watch starts at the read's revision + 1.
     */
    @Test
    void aConfigWrittenBetweenTheReadAndTheWatchIsSeen() throws Exception {
        final EtcdSettings s = settings().build();
        final FaultyRegistry faults = new FaultyRegistry(new GatewayRegistry(s), true);
        final EtcdSubnetAllocator b = allocator(s, faults);
        final RecordingListener eb = new RecordingListener();
        b.start(b.acquire(ip("198.18.0.2"), Optional.empty()), eb);
        sentinel(eb, "100.64.253.0-24");
        try (LogCapture log = new LogCapture()) {
            etcd.etcdctl("del", prefix + "/config");
            await().atMost(WAIT).until(() -> log.errors().stream().filter(m -> m.contains("was deleted")).count() == 2);
            faults.interleaveAfter(FaultyRegistry.Op.GET,
                () -> putConfig("{\"Network\":\"100.65.0.0/16\",\"SubnetLen\":24}"));
            faults.breakWatches(new IllegalStateException("injected: connection reset"));
            await().atMost(WAIT).until(() -> !eb.matching("config ").isEmpty());
            assertThat(eb.matching("config ")).containsExactly("config 100.65.0.0/16 24 restart "
                + "[Network 100.64.0.0/16 -> 100.65.0.0/16]");
        }
    }

    @Test
    void differencesNameEveryField() {
        final NetworkConfig x = NetworkConfig.parse(CONFIG);
        final NetworkConfig y = NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\",\"SubnetLen\":24,"
            + "\"Backend\":{\"Type\":\"udp\",\"Port\":8286}}");
        assertThat(NetworkConfigWatch.differences(x, y)).containsExactly("Backend.Port 8285 -> 8286");
        assertThat(NetworkConfigWatch.differences(x, x)).isEmpty();
    }
}
