package io.overlay.etcd;

import io.overlay.core.net.Ipv4;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;

/**
 * Allocators on one in-memory etcd ({@link FakeRegistry}), each through its own {@link FaultyRegistry}; closed after
 * each test. The policy tests run on it in seconds; wire compatibility stays with {@link EtcdTestSupport}.
 */
abstract class FakeRegistrySupport {
    static final String PREFIX = EtcdSettings.DEFAULT_PREFIX;
    final FakeRegistry store = new FakeRegistry();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
        toClose.clear();
    }

    EtcdSettings.Builder settings() {
        return EtcdSettings.builder().endpoints("http://127.0.0.1:2379").prefix(PREFIX)
            .backoff(Duration.ofMillis(50), Duration.ofMillis(500)).requestTimeout(Duration.ofSeconds(3));
    }

    /** An allocator on {@link #store}, reached through {@code faults}. */
    EtcdSubnetAllocator allocator(final EtcdSettings s, final FaultyRegistry faults) {
        final EtcdSubnetAllocator a = new EtcdSubnetAllocator(s, faults);
        toClose.add(a);
        return a;
    }

    EtcdSubnetAllocator allocator(final EtcdSettings s) {
        return allocator(s, faults());
    }

    EtcdSubnetAllocator allocator() {
        return allocator(settings().build());
    }

    /** A fresh fault wrapper around {@link #store}. */
    FaultyRegistry faults() {
        return new FaultyRegistry(store, false);
    }

    void putConfig(final String json) {
        store.put(PREFIX + "/config", json);
    }

    static String subnetKey(final String key) {
        return PREFIX + "/subnets/" + key;
    }

    /**
     * Writes a peer key after everything the test did so far and waits until {@code events} saw it as added: events
     * are delivered in revision order, so "nothing else arrived" can then be asserted without a fixed sleep.
     */
    void sentinel(final RecordingListener events, final String subnetKey) {
        store.put(subnetKey(subnetKey), "{\"PublicIP\":\"198.18.0.250\"}");
        Awaitility.await().atMost(Duration.ofSeconds(10))
            .until(() -> events.events.stream().anyMatch(e -> e.startsWith("added " + subnetKey + " ")));
    }

    static int ip(final String dotted) {
        return Ipv4.parse(dotted);
    }
}
