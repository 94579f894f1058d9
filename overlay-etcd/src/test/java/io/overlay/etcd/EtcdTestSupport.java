package io.overlay.etcd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.overlay.core.net.Ipv4;
import io.overlay.testing.EtcdServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/**
 * One real etcd per test class, a fresh key prefix per test, allocators closed after each test, and etcdctl helpers
 * that read keys and leases byte for byte.
 */
abstract class EtcdTestSupport {
    private static final AtomicInteger PREFIXES = new AtomicInteger();
    private static final ObjectMapper JSON = new ObjectMapper();
    static EtcdServer etcd;

    String prefix;
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeAll
    static void startEtcd() throws IOException {
        etcd = EtcdServer.launch();
    }

    @AfterAll
    static void stopEtcd() {
        if (etcd != null) {
            etcd.close();
        }
    }

    @BeforeEach
    void freshPrefix() {
        prefix = "/t" + PREFIXES.incrementAndGet() + "-" + System.nanoTime() + "/coreos.com/network";
    }

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
        toClose.clear();
    }

    EtcdSettings.Builder settings() {
        return EtcdSettings.builder().endpoints(etcd.endpoint()).prefix(prefix)
            .backoff(Duration.ofMillis(50), Duration.ofMillis(500)).requestTimeout(Duration.ofSeconds(3));
    }

    EtcdSubnetAllocator allocator(final EtcdSettings s) {
        final EtcdSubnetAllocator a = new EtcdSubnetAllocator(s);
        toClose.add(a);
        return a;
    }

    /** An allocator on real etcd through {@code registry} (a {@link FaultyRegistry} around a {@link GatewayRegistry}). */
    EtcdSubnetAllocator allocator(final EtcdSettings s, final SubnetRegistry registry) {
        final EtcdSubnetAllocator a = new EtcdSubnetAllocator(s, registry);
        toClose.add(a);
        return a;
    }

    EtcdSubnetAllocator allocator() {
        return allocator(settings().build());
    }

    void putConfig(final String json) {
        etcd.etcdctl("put", prefix + "/config", json);
    }

    String subnetKey(final String key) {
        return prefix + "/subnets/" + key;
    }

    /**
     * Writes a peer key for {@code subnetKey} (e.g. {@code 100.64.250.0-24}) after everything the test did so far and
     * waits until {@code events} saw it as {@code added}: events are delivered in etcd revision order, so every event
     * caused before has arrived by then, and "nothing else arrived" can be asserted without a fixed sleep.
     */
    void sentinel(final RecordingListener events, final String subnetKey) {
        etcd.etcdctl("put", subnetKey(subnetKey), "{\"PublicIP\":\"198.18.0.250\"}");
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30))
            .until(() -> events.events.stream().anyMatch(e -> e.startsWith("added " + subnetKey + " ")));
    }

    static int ip(final String dotted) {
        return Ipv4.parse(dotted);
    }

    /** The key as etcdctl reports it, or null: value bytes, lease id, revisions. */
    record KeyState(byte[] value, long lease, long modRevision, long createRevision) {
        String text() {
            return new String(value, StandardCharsets.UTF_8);
        }
    }

    static KeyState get(final EtcdServer server, final String key) {
        try {
            final JsonNode root = JSON.readTree(server.etcdctl("get", key, "-w", "json"));
            final JsonNode kvs = root.get("kvs");
            if (kvs == null || kvs.isEmpty()) {
                return null;
            }
            final JsonNode kv = kvs.get(0);
            return new KeyState(kv.has("value") ? Base64.getDecoder().decode(kv.get("value").asText()) : new byte[0],
                kv.has("lease") ? kv.get("lease").asLong() : 0, kv.get("mod_revision").asLong(),
                kv.get("create_revision").asLong());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    KeyState get(final String key) {
        return get(etcd, key);
    }

    static long revision(final EtcdServer server) {
        try {
            return JSON.readTree(server.etcdctl("get", "/", "-w", "json")).get("header").get("revision").asLong();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static final Pattern TTL = Pattern.compile("remaining\\((-?\\d+)s\\)");
    private static final Pattern GRANTED = Pattern.compile("granted with TTL\\((\\d+)s\\)");

    /** Returns {granted, remaining} seconds per {@code etcdctl lease timetolive}; remaining -1 when gone. */
    static long[] leaseTtl(final EtcdServer server, final long leaseId) {
        final String out = server.etcdctl("lease", "timetolive", Long.toHexString(leaseId));
        final Matcher g = GRANTED.matcher(out);
        final Matcher r = TTL.matcher(out);
        if (!g.find() || !r.find()) {
            return new long[] {0, -1};
        }
        return new long[] {Long.parseLong(g.group(1)), Long.parseLong(r.group(1))};
    }
}
