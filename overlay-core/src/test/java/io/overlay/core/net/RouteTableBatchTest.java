package io.overlay.core.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link RouteTable#apply}: one snapshot per batch, later changes win, coalescing, and what readers see meanwhile. */
class RouteTableBatchTest {
    private static final int BASE = Ipv4.parse("100.64.0.0");
    private static final int PEERS = Ipv4.parse("198.18.0.0");

    private static Ipv4Prefix p(final String text) {
        return Ipv4Prefix.parse(text);
    }

    private static Peer peer(final String text) {
        return new Peer(Ipv4.parse(text), 8285);
    }

    /** The i-th /24 of 100.64.0.0/10. */
    private static Ipv4Prefix subnet(final int i) {
        return Ipv4Prefix.of(BASE + (i << 8), 24);
    }

    @Test
    void aListingOf16383LeasesIsOneSnapshot() {
        final RouteTable t = new RouteTable();
        final RouteChanges listing = new RouteChanges(16_383);
        for (int i = 0; i < 16_383; i++) {
            listing.put(subnet(i), new Peer(PEERS + i, 8285));
        }
        t.apply(listing);
        assertThat(t.version()).isEqualTo(1);
        assertThat(t.size()).isEqualTo(16_383);
        final List<Integer> wrong = new ArrayList<>();
        for (int i = 0; i < 16_383; i++) {
            if (t.lookup(subnet(i).address() + 7) != new Peer(PEERS + i, 8285).packed() || !t.hasPeer(PEERS + i)) {
                wrong.add(i);
            }
        }
        assertThat(wrong).isEmpty();
        assertThat(t.lookup(subnet(16_383).address() + 7)).isEqualTo(RouteTable.NO_ROUTE);
        assertThat(t.hasPeer(PEERS + 16_383)).isFalse();
    }

    @Test
    void laterChangesOfTheSameSubnetWinAndAnEmptyOrIdleBatchPublishesNothing() {
        final RouteTable t = new RouteTable();
        t.apply(new RouteChanges()
            .put(p("100.64.1.0/24"), peer("198.18.0.1")).remove(p("100.64.1.0/24"))
            .remove(p("100.64.2.0/24")).put(p("100.64.2.0/24"), peer("198.18.0.2"))
            .put(p("100.64.3.0/24"), peer("198.18.0.3")).put(p("100.64.3.0/24"), peer("198.18.0.33")));
        assertThat(t.version()).isEqualTo(1);
        assertThat(t.routes()).containsOnly(Map.entry(p("100.64.2.0/24"), peer("198.18.0.2")),
            Map.entry(p("100.64.3.0/24"), peer("198.18.0.33")));
        assertThat(t.hasPeer(Ipv4.parse("198.18.0.1"))).isFalse();
        assertThat(t.hasPeer(Ipv4.parse("198.18.0.3"))).isFalse();
        assertThat(t.hasPeer(Ipv4.parse("198.18.0.33"))).isTrue();

        t.apply(new RouteChanges());
        t.apply(new RouteChanges().remove(p("100.64.9.0/24")).put(p("100.64.2.0/24"), peer("198.18.0.2")));
        assertThat(t.version()).as("nothing changed: no new snapshot").isEqualTo(1);
        assertThatThrownBy(() -> t.apply(null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> new RouteChanges().put(null, peer("198.18.0.1")))
            .isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> new RouteChanges().put(p("100.64.1.0/24"), null))
            .isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> new RouteChanges(-1)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("-1");
    }

    /**
     * Random batches of puts and removes (mixed prefix lengths, PublicIPs shared by several routes, so the table of
     * PublicIPs must count routes per PublicIP), growing to thousands of routes and shrinking back to a few, against a
     * plain map.
     */
    @Test
    void randomBatchesMatchAReferenceModel() {
        final RouteTable t = new RouteTable();
        final Map<Ipv4Prefix, Peer> model = new HashMap<>();
        final Random random = new Random(7);
        final List<String> wrong = new ArrayList<>();
        for (int round = 0; round < 300; round++) {
            final boolean shrinking = round % 100 >= 70;
            final RouteChanges batch = new RouteChanges();
            final int n = 1 + random.nextInt(round % 10 == 0 ? 2000 : 40);
            for (int k = 0; k < n; k++) {
                final int len = 22 + random.nextInt(5);
                final Ipv4Prefix s = Ipv4Prefix.containing(BASE + random.nextInt(1 << 18), len);
                if (shrinking || random.nextInt(4) == 0) {
                    batch.remove(s);
                    model.remove(s);
                    if (shrinking && !model.isEmpty()) {
                        final Ipv4Prefix any = model.keySet().iterator().next();
                        batch.remove(any);
                        model.remove(any);
                    }
                } else {
                    final Peer peer = new Peer(PEERS + random.nextInt(64), 8285 + random.nextInt(2));
                    batch.put(s, peer);
                    model.put(s, peer);
                }
            }
            t.apply(batch);
            assertThat(t.size()).isEqualTo(model.size());
            for (int q = 0; q < 200; q++) {
                final int dst = BASE + random.nextInt(1 << 18);
                if (t.lookup(dst) != reference(model, dst)) {
                    wrong.add("round " + round + ": " + Ipv4.format(dst));
                }
            }
            final Set<Integer> ips = new HashSet<>();
            model.values().forEach(v -> ips.add(v.publicIp()));
            for (int ip = PEERS; ip < PEERS + 64; ip++) {
                if (t.hasPeer(ip) != ips.contains(ip)) {
                    wrong.add("round " + round + ": hasPeer " + Ipv4.format(ip));
                }
            }
        }
        assertThat(wrong).isEmpty();
        assertThat(t.routes()).isEqualTo(model);
    }

    private static long reference(final Map<Ipv4Prefix, Peer> model, final int dst) {
        Ipv4Prefix best = null;
        for (Ipv4Prefix s : model.keySet()) {
            if (s.contains(dst) && (best == null || s.length() > best.length())) {
                best = s;
            }
        }
        return best == null ? RouteTable.NO_ROUTE : model.get(best).packed();
    }

    /**
     * Two batches passed in while a third is being applied wait for the lock and are then applied together: three
     * batches, at most two snapshots. Both waiting writers seen BLOCKED at once proves a writer held the lock after
     * both had queued their batch; a run where the first finished too early is repeated with a bigger batch.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void batchesQueuedWhileOneIsAppliedCoalesceIntoOneSnapshot() throws Exception {
        for (int size = 100_000; size <= 800_000; size *= 2) {
            final RouteTable t = new RouteTable();
            final RouteChanges big = new RouteChanges(size);
            for (int i = 0; i < size; i++) {
                big.put(Ipv4Prefix.of(BASE + i, 32), new Peer(PEERS + (i & 1023), 8285));
            }
            final Thread first = new Thread(() -> t.apply(big), "first-writer");
            final Thread second = new Thread(() -> t.apply(new RouteChanges()
                .put(p("101.0.1.0/24"), peer("198.19.0.1"))), "second-writer");
            final Thread third = new Thread(() -> t.apply(new RouteChanges()
                .put(p("101.0.2.0/24"), peer("198.19.0.2"))), "third-writer");
            first.start();
            second.start();
            third.start();
            boolean bothWaited = false;
            while (first.isAlive() && !bothWaited) {
                bothWaited = second.getState() == Thread.State.BLOCKED && third.getState() == Thread.State.BLOCKED;
            }
            first.join();
            second.join();
            third.join();
            if (!bothWaited) {
                continue;
            }
            assertThat(t.version()).as("the big batch, then both queued ones together").isBetween(1L, 2L);
            assertThat(t.size()).isEqualTo(size + 2);
            assertThat(t.lookup(Ipv4.parse("101.0.1.9"))).isEqualTo(peer("198.19.0.1").packed());
            assertThat(t.lookup(Ipv4.parse("101.0.2.9"))).isEqualTo(peer("198.19.0.2").packed());
            return;
        }
        throw new AssertionError("the first writer never held the lock long enough to see both others wait");
    }

    /**
     * A writer moves every one of 4,096 subnets between two peer sets in alternate batches, and removes and re-adds
     * a rotating tenth of them (backward-shift deletes moving entries around) while readers look up. A reader's
     * {@link RouteTable#routes()} copy must be all of one table; every lookup of a subnet that both tables hold must
     * hit one of its two peers, never miss; a stable peer's PublicIP stays known while the table of PublicIPs is
     * edited in every batch.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void lookupsDuringABatchSeeTheOldOrTheNewTableNeverAMix() throws Exception {
        final int n = 4096;
        final RouteTable t = new RouteTable();
        final RouteChanges initial = new RouteChanges(n);
        for (int i = 0; i < n; i++) {
            initial.put(subnet(i), new Peer(PEERS + i, 8285));
        }
        final Peer stablePeer = peer("198.20.0.1");
        initial.put(p("101.0.0.0/24"), stablePeer);
        t.apply(initial);
        final int other = Ipv4.parse("198.19.0.0");
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<String> failure = new AtomicReference<>();
        final AtomicLong copies = new AtomicLong();
        final Thread reader = new Thread(() -> {
            final Random random = new Random(1);
            while (!stop.get() && failure.get() == null) {
                for (int k = 0; k < 10_000; k++) {
                    final int i = random.nextInt(n);
                    final long v = t.lookup(subnet(i).address() + 1);
                    // subnets with i % 10 == 0 may be absent (the rotating tenth); all others always present
                    if (v == RouteTable.NO_ROUTE ? i % 10 != 0
                        : v != new Peer(PEERS + i, 8285).packed() && v != new Peer(other + i, 8285).packed()) {
                        failure.compareAndSet(null, "lookup of " + subnet(i) + " returned " + Long.toHexString(v));
                    }
                    if (!t.hasPeer(stablePeer.publicIp())) {
                        failure.compareAndSet(null, "the stable peer was not known");
                    }
                }
                final Map<Ipv4Prefix, Peer> copy = t.routes();
                final long fromFirst = copy.values().stream().filter(v -> (v.publicIp() & 0xffff0000) == PEERS)
                    .count();
                if (fromFirst != 0 && fromFirst != copy.size() - 1) {
                    failure.compareAndSet(null, "a mix: " + fromFirst + " of " + copy.size() + " from one table");
                }
                copies.incrementAndGet();
            }
        }, "route-reader");
        reader.start();
        int round = 0;
        while (copies.get() < 200 && round < 100_000 && failure.get() == null) {
            final int base = round % 2 == 0 ? other : PEERS;
            final RouteChanges batch = new RouteChanges(n + n / 10);
            for (int i = 0; i < n; i++) {
                if (i % 10 == 0 && (i / 10) % 7 == round % 7) {
                    batch.remove(subnet(i)); // stays out for this round
                } else {
                    batch.put(subnet(i), new Peer(base + i, 8285));
                }
            }
            t.apply(batch);
            round++;
        }
        stop.set(true);
        reader.join(10_000);
        assertThat(failure.get()).isNull();
        assertThat(copies.get()).as("reader copies taken during %d batches", round).isGreaterThanOrEqualTo(200);
        assertThat(t.version()).isEqualTo(round + 1);
    }
}
