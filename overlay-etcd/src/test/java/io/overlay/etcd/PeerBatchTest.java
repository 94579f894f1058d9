package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Peers in batches from a real etcd: 2,000 pre-filled leases come as one batch before {@code peersListed}; a burst of
 * 1,000 additions and 500 deletions written as fast as etcd takes them is delivered completely, each key once, in
 * etcd's order.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PeerBatchTest extends EtcdTestSupport {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int PREFILLED = 2000;

    private Client client;
    private KV kv;
    private final RecordingListener events = new RecordingListener();

    /** The key of the i-th /24 of 100.64.0.0/16 (i ≥ 2; 100.64.1.0/24 is the own subnet). */
    private static String key(final int i) {
        return "100." + (64 + i / 256) + "." + (i % 256) + ".0-24";
    }

    private static Ipv4Prefix subnet(final int i) {
        return Ipv4Prefix.parse("100." + (64 + i / 256) + "." + (i % 256) + ".0/24");
    }

    private CompletableFuture<?> put(final int i) {
        return kv.put(bytes(subnetKey(key(i))), bytes("{\"PublicIP\":\"198.18." + (i / 250) + "." + (i % 250 + 1)
            + "\",\"PublicIPv6\":null}"));
    }

    private static ByteSequence bytes(final String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    private void all(final List<CompletableFuture<?>> writes) {
        CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).orTimeout(60, TimeUnit.SECONDS).join();
    }

    @BeforeEach
    void prefill() throws Exception {
        client = Client.builder().endpoints(etcd.endpoint()).build();
        kv = client.getKVClient();
        putConfig("{\"Network\":\"100.64.0.0/10\"}");
        final List<CompletableFuture<?>> writes = new ArrayList<>();
        for (int i = 2; i < 2 + PREFILLED; i++) {
            writes.add(put(i));
        }
        all(writes);
    }

    @AfterEach
    void closeClient() {
        client.close();
    }

    @Test
    void theListingComesAsOneBatchThenABurstArrivesWholeAndInOrder() throws Exception {
        final EtcdSubnetAllocator a = allocator();
        final Lease own = a.acquire(ip("198.18.255.1"), Optional.of(Ipv4Prefix.parse("100.64.1.0/24")));
        assertThat(own.subnet()).isEqualTo(Ipv4Prefix.parse("100.64.1.0/24"));
        a.start(own, events);
        await().atMost(WAIT).until(() -> events.listed.size() == 1);
        assertThat(events.batches).as("the listing").containsExactly(PREFILLED);
        assertThat(events.listed).as("every listed peer known before peersListed").containsExactly(PREFILLED);

        final int first = 2 + PREFILLED;
        final List<CompletableFuture<?>> adds = new ArrayList<>();
        for (int i = first; i < first + 1000; i++) {
            adds.add(put(i));
        }
        all(adds);
        final List<CompletableFuture<?>> deletes = new ArrayList<>();
        for (int i = first; i < first + 1000; i += 2) {
            deletes.add(kv.delete(bytes(subnetKey(key(i)))));
        }
        all(deletes);

        final Set<Ipv4Prefix> expected = new HashSet<>();
        for (int i = 2; i < first + 1000; i++) {
            if (i < first || (i - first) % 2 == 1) {
                expected.add(subnet(i));
            }
        }
        await().atMost(WAIT).until(() -> events.peers.keySet().equals(expected));
        sentinel(events, "100.127.250.0-24");
        final List<String> burst = events.events.subList(PREFILLED, events.events.size() - 1);
        assertThat(burst).hasSize(1500);
        final Map<String, List<String>> byKey = burst.stream().collect(Collectors.groupingBy(e -> e.split(" ")[1]));
        assertThat(byKey).hasSize(1000);
        for (int i = first; i < first + 1000; i++) {
            final List<String> seen = byKey.get(key(i)).stream().map(e -> e.split(" ")[0]).toList();
            assertThat(seen).as(key(i)).isEqualTo((i - first) % 2 == 0 ? List.of("added", "removed")
                : List.of("added"));
        }
        assertThat(events.matching("changed")).isEmpty();
        assertThat(events.threads).containsOnly("overlay-etcd-control");
        System.out.printf("PeerBatchTest: %d events after the listing came in %d batches%n", burst.size() + 1,
            events.batches.size() - 1);
    }
}
