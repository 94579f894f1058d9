package io.overlay.core.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class RouteTableTest {
    private static Ipv4Prefix p(final String text) {
        return Ipv4Prefix.parse(text);
    }

    private static int ip(final String text) {
        return Ipv4.parse(text);
    }

    private static Peer peer(final String text) {
        return new Peer(Ipv4.parse(text), 8285);
    }

    @Test
    void emptyTableMatchesNothing() {
        final RouteTable t = new RouteTable();
        assertThat(t.lookup(ip("100.64.0.1"))).isEqualTo(-1);
        assertThat(t.size()).isZero();
        assertThat(t.routes()).isEmpty();
        assertThat(t.hasPeer(ip("198.18.0.1"))).isFalse();
    }

    @Test
    void appendixPeerRoute() {
        final RouteTable t = new RouteTable();
        assertThat(t.put(p("10.10.32.0/24"), peer("192.168.1.20"))).isNull();
        final long hit = t.lookup(ip("10.10.32.5"));
        assertThat(Peer.unpack(hit)).isEqualTo(peer("192.168.1.20"));
        assertThat(Ipv4.format(Peer.ipOf(hit))).isEqualTo("192.168.1.20");
        assertThat(Peer.portOf(hit)).isEqualTo(8285);
        assertThat(t.lookup(ip("10.10.32.0"))).isEqualTo(hit);
        assertThat(t.lookup(ip("10.10.32.255"))).isEqualTo(hit);
        assertThat(t.lookup(ip("10.10.33.0"))).isEqualTo(-1);
        assertThat(t.lookup(ip("10.10.31.255"))).isEqualTo(-1);
        assertThat(t.lookup(ip("10.10.16.2"))).as("own subnet is never in the table").isEqualTo(-1);
        assertThat(t.hasPeer(ip("192.168.1.20"))).isTrue();
        assertThat(t.hasPeer(ip("192.168.1.21"))).isFalse();
    }

    @Test
    void putReplacesAndReturnsThePreviousPeer() {
        final RouteTable t = new RouteTable();
        t.put(p("100.64.5.0/24"), peer("198.18.0.5"));
        assertThat(t.put(p("100.64.5.0/24"), peer("198.18.0.6"))).isEqualTo(peer("198.18.0.5"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.5.9")))).isEqualTo(peer("198.18.0.6"));
        assertThat(t.size()).isEqualTo(1);
        assertThat(t.hasPeer(ip("198.18.0.5"))).isFalse();
        assertThat(t.hasPeer(ip("198.18.0.6"))).isTrue();
    }

    @Test
    void removeExactlyThatSubnet() {
        final RouteTable t = new RouteTable();
        t.put(p("100.64.5.0/24"), peer("198.18.0.5"));
        t.put(p("100.64.6.0/24"), peer("198.18.0.6"));
        assertThat(t.remove(p("100.64.5.0/25"))).isNull();
        assertThat(t.remove(p("100.64.7.0/24"))).isNull();
        assertThat(t.remove(p("100.64.5.0/24"))).isEqualTo(peer("198.18.0.5"));
        assertThat(t.remove(p("100.64.5.0/24"))).isNull();
        assertThat(t.lookup(ip("100.64.5.1"))).isEqualTo(-1);
        assertThat(Peer.unpack(t.lookup(ip("100.64.6.1")))).isEqualTo(peer("198.18.0.6"));
        assertThat(t.size()).isEqualTo(1);
        assertThat(t.routes()).containsOnlyKeys(p("100.64.6.0/24"));
    }

    @Test
    void longestPrefixWins() {
        final RouteTable t = new RouteTable();
        t.put(p("0.0.0.0/0"), peer("198.18.0.100"));
        t.put(p("100.64.0.0/16"), peer("198.18.0.16"));
        t.put(p("100.64.5.0/24"), peer("198.18.0.24"));
        t.put(p("100.64.5.192/26"), peer("198.18.0.26"));
        t.put(p("100.64.5.200/32"), peer("198.18.0.32"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.5.200")))).isEqualTo(peer("198.18.0.32"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.5.201")))).isEqualTo(peer("198.18.0.26"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.5.127")))).isEqualTo(peer("198.18.0.24"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.6.1")))).isEqualTo(peer("198.18.0.16"));
        assertThat(Peer.unpack(t.lookup(ip("100.65.0.1")))).isEqualTo(peer("198.18.0.100"));
        t.remove(p("100.64.5.192/26"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.5.201")))).isEqualTo(peer("198.18.0.24"));
        t.remove(p("100.64.5.0/24"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.5.201")))).isEqualTo(peer("198.18.0.16"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.5.200")))).isEqualTo(peer("198.18.0.32"));
        t.remove(p("0.0.0.0/0"));
        assertThat(t.lookup(ip("100.65.0.1"))).isEqualTo(-1);
    }

    @Test
    void differentPortsArePreserved() {
        final RouteTable t = new RouteTable();
        t.put(p("100.64.1.0/24"), new Peer(ip("198.18.0.1"), 1));
        t.put(p("100.64.2.0/24"), new Peer(ip("198.18.255.255"), 65535));
        assertThat(Peer.unpack(t.lookup(ip("100.64.1.1")))).isEqualTo(new Peer(ip("198.18.0.1"), 1));
        assertThat(Peer.unpack(t.lookup(ip("100.64.2.1")))).isEqualTo(new Peer(ip("198.18.255.255"), 65535));
    }

    /** 2^16 peers: every /26 of 100.64.0.0/10, peer i at 198.18.0.0 + i. */
    @Test
    void sixtyFiveThousandFiveHundredThirtySixPeers() {
        final int n = 65_536;
        final int base = ip("100.64.0.0");
        final int peerBase = ip("198.18.0.0");
        final Map<Ipv4Prefix, Peer> all = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            all.put(Ipv4Prefix.of(base + i * 64, 26), new Peer(peerBase + i, 8285));
        }
        final RouteTable t = new RouteTable();
        t.replaceAll(all);
        assertThat(t.size()).isEqualTo(n);
        assertThat(t.routes()).hasSize(n);
        final List<String> wrong = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            final long expected = new Peer(peerBase + i, 8285).packed();
            for (int offset : new int[] {0, 37, 63}) {
                if (t.lookup(base + i * 64 + offset) != expected) {
                    wrong.add(Ipv4.format(base + i * 64 + offset));
                }
            }
        }
        assertThat(wrong).isEmpty();
        assertThat(t.hasPeer(peerBase)).isTrue();
        assertThat(t.hasPeer(peerBase + n - 1)).isTrue();
        assertThat(t.hasPeer(peerBase + n)).isFalse();
        assertThat(t.lookup(ip("100.128.0.0"))).isEqualTo(-1);
        assertThat(t.lookup(ip("100.63.255.255"))).isEqualTo(-1);

        // remove every odd subnet one by one (each update rebuilds the snapshot), then check all again
        for (int i = 1; i < n; i += 2048) {
            t.remove(Ipv4Prefix.of(base + i * 64, 26));
        }
        final Map<Ipv4Prefix, Peer> even = new HashMap<>();
        for (int i = 0; i < n; i += 2) {
            even.put(Ipv4Prefix.of(base + i * 64, 26), new Peer(peerBase + i, 8285));
        }
        t.replaceAll(even);
        assertThat(t.size()).isEqualTo(n / 2);
        for (int i = 0; i < n; i++) {
            if (t.lookup(base + i * 64 + 1) != (i % 2 == 0 ? new Peer(peerBase + i, 8285).packed() : -1)) {
                wrong.add(Ipv4.format(base + i * 64 + 1));
            }
        }
        assertThat(wrong).isEmpty();
    }

    @Test
    void incrementalPutsAndRemovesMatchAReferenceModel() {
        final RouteTable t = new RouteTable();
        final Map<Ipv4Prefix, Peer> model = new HashMap<>();
        final java.util.Random random = new java.util.Random(42);
        final List<String> wrong = new ArrayList<>();
        for (int step = 0; step < 3000; step++) {
            final int len = 22 + random.nextInt(7); // mixed lengths 22..28
            final Ipv4Prefix subnet = Ipv4Prefix.containing(ip("100.64.0.0") + random.nextInt(1 << 16), len);
            if (random.nextInt(3) == 0) {
                assertThat(t.remove(subnet)).isEqualTo(model.remove(subnet));
            } else {
                final Peer peer = new Peer(ip("198.18.0.0") + random.nextInt(1 << 17), 8285);
                assertThat(t.put(subnet, peer)).isEqualTo(model.put(subnet, peer));
            }
            final int dst = ip("100.64.0.0") + random.nextInt(1 << 16);
            if (t.lookup(dst) != referenceLookup(model, dst)) {
                wrong.add("step " + step + ": " + Ipv4.format(dst));
            }
        }
        assertThat(wrong).isEmpty();
        assertThat(t.routes()).isEqualTo(model);
        assertThat(t.size()).isEqualTo(model.size());
        for (int dst = ip("100.64.0.0"); dst < ip("100.65.0.0"); dst += 61) {
            if (t.lookup(dst) != referenceLookup(model, dst)) {
                wrong.add(Ipv4.format(dst));
            }
        }
        assertThat(wrong).isEmpty();
    }

    private static long referenceLookup(final Map<Ipv4Prefix, Peer> model, final int dst) {
        Ipv4Prefix best = null;
        for (Ipv4Prefix p : model.keySet()) {
            if (p.contains(dst) && (best == null || p.length() > best.length())) {
                best = p;
            }
        }
        return best == null ? -1 : model.get(best).packed();
    }

    @Test
    void replaceAllDropsEverythingElse() {
        final RouteTable t = new RouteTable();
        t.put(p("100.64.1.0/24"), peer("198.18.0.1"));
        t.put(p("100.64.2.0/24"), peer("198.18.0.2"));
        final Map<Ipv4Prefix, Peer> next = new LinkedHashMap<>();
        next.put(p("100.64.3.0/24"), peer("198.18.0.3"));
        next.put(p("100.64.2.0/24"), peer("198.18.0.22"));
        t.replaceAll(next);
        next.clear(); // the table keeps its own copy
        assertThat(t.lookup(ip("100.64.1.1"))).isEqualTo(-1);
        assertThat(Peer.unpack(t.lookup(ip("100.64.2.1")))).isEqualTo(peer("198.18.0.22"));
        assertThat(Peer.unpack(t.lookup(ip("100.64.3.1")))).isEqualTo(peer("198.18.0.3"));
        assertThat(t.routes()).as("sorted by subnet").containsExactly(
            Map.entry(p("100.64.2.0/24"), peer("198.18.0.22")), Map.entry(p("100.64.3.0/24"), peer("198.18.0.3")));
        t.replaceAll(Map.of());
        assertThat(t.size()).isZero();
        assertThat(t.lookup(ip("100.64.3.1"))).isEqualTo(-1);
    }

    @Test
    void routesIsAnUnmodifiableCopy() {
        final RouteTable t = new RouteTable();
        t.put(p("100.64.1.0/24"), peer("198.18.0.1"));
        final Map<Ipv4Prefix, Peer> snapshot = t.routes();
        assertThatThrownBy(() -> snapshot.put(p("100.64.2.0/24"), peer("198.18.0.2")))
            .isInstanceOf(UnsupportedOperationException.class);
        t.put(p("100.64.2.0/24"), peer("198.18.0.2"));
        assertThat(snapshot).hasSize(1);
    }

    @Test
    void routesIsAnUnmodifiableViewOfItsSnapshot() {
        final RouteTable t = new RouteTable();
        t.put(p("100.64.1.0/24"), peer("198.18.0.1"));
        t.put(p("100.64.0.0/16"), peer("198.18.0.9"));
        final Map<Ipv4Prefix, Peer> routes = t.routes();
        t.remove(p("100.64.1.0/24"));
        t.put(p("100.64.2.0/24"), peer("198.18.0.2"));
        assertThat(routes.size()).isEqualTo(2);
        assertThat(routes.get(p("100.64.1.0/24"))).isEqualTo(peer("198.18.0.1"));
        assertThat(routes.get(p("100.64.0.0/16"))).isEqualTo(peer("198.18.0.9"));
        assertThat(routes.get(p("100.64.2.0/24"))).as("added after the snapshot").isNull();
        assertThat(routes.get(p("100.64.1.0/25"))).as("exact prefixes only, no longest match").isNull();
        assertThat(routes.get("100.64.1.0/24")).as("not a prefix").isNull();
        assertThatThrownBy(() -> routes.get(null)).isInstanceOf(NullPointerException.class);
        assertThat(routes.containsKey(p("100.64.1.0/24"))).isTrue();
        assertThat(routes.containsKey(p("100.64.2.0/24"))).isFalse();
        assertThat(routes).isEqualTo(Map.of(p("100.64.1.0/24"), peer("198.18.0.1"),
            p("100.64.0.0/16"), peer("198.18.0.9")));
        assertThat(routes.hashCode()).isEqualTo(Map.of(p("100.64.1.0/24"), peer("198.18.0.1"),
            p("100.64.0.0/16"), peer("198.18.0.9")).hashCode());
        assertThat(routes.keySet()).as("sorted by subnet").containsExactly(p("100.64.0.0/16"), p("100.64.1.0/24"));
        assertThatThrownBy(() -> routes.entrySet().iterator().next().setValue(peer("198.18.0.3")))
            .isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> routes.keySet().remove(p("100.64.0.0/16")))
            .isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(routes::clear).isInstanceOf(UnsupportedOperationException.class);
        final Ipv4Prefix absent = p("100.64.9.0/24");
        final Ipv4Prefix present = p("100.64.0.0/16");
        for (Runnable change : List.<Runnable>of(() -> routes.remove(absent), () -> routes.putAll(Map.of()),
            () -> routes.computeIfAbsent(present, k -> peer("198.18.0.3")), () -> routes.remove(absent, null),
            () -> routes.computeIfPresent(absent, (k, v) -> v), () -> routes.merge(absent, peer("198.18.0.3"),
                (a, b) -> a), () -> routes.putIfAbsent(present, peer("198.18.0.3")),
            () -> routes.replace(absent, peer("198.18.0.3")), () -> routes.replaceAll((k, v) -> v),
            () -> routes.compute(absent, (k, v) -> null), () -> routes.replace(absent, peer("198.18.0.3"),
                peer("198.18.0.4")), () -> new RouteTable().routes().replaceAll((k, v) -> v),
            () -> routes.keySet().remove(absent), () -> routes.keySet().removeIf(k -> false),
            () -> routes.keySet().retainAll(routes.keySet()), () -> routes.keySet().removeAll(List.of()),
            () -> routes.values().remove(peer("198.18.0.3")), () -> routes.values().removeIf(v -> false))) {
            assertThatThrownBy(change::run).as("even when nothing would change").isInstanceOf(
                UnsupportedOperationException.class);
        }
        assertThat(routes).hasSize(2);
        assertThat(t.routes()).containsOnlyKeys(p("100.64.0.0/16"), p("100.64.2.0/24"));
    }

    @Test
    void nullsAreRefused() {
        final RouteTable t = new RouteTable();
        assertThatThrownBy(() -> t.put(null, peer("198.18.0.1"))).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> t.put(p("100.64.1.0/24"), null)).isInstanceOf(NullPointerException.class);
        final Map<Ipv4Prefix, Peer> withNull = new HashMap<>();
        withNull.put(p("100.64.1.0/24"), null);
        assertThatThrownBy(() -> t.replaceAll(withNull)).isInstanceOf(NullPointerException.class);
        assertThat(t.size()).isZero();
    }

    @Test
    void peerPacking() {
        final Peer top = new Peer(ip("255.255.255.255"), 65535);
        assertThat(top.packed()).isEqualTo(0xffff_ffff_ffffL).isPositive();
        assertThat(Peer.unpack(top.packed())).isEqualTo(top);
        final Peer p = new Peer(ip("198.18.0.1"), 8285);
        assertThat(p.packed()).isEqualTo((0xc6120001L << 16) | 8285);
        assertThat(Peer.unpack(p.packed())).isEqualTo(p);
        assertThat(p).hasToString("198.18.0.1:8285");
        assertThatThrownBy(() -> new Peer(ip("198.18.0.1"), 0)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("0");
        assertThatThrownBy(() -> new Peer(ip("198.18.0.1"), 65536)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("65536");
    }

    /**
     * A reader thread looks up while a writer changes one route (A, B, removed), flips the table between a /16 and a
     * set of /24s that both cover the probe address, and keeps one route stable. Every lookup must return a value that
     * some published table held; the stable route must always be found. The writer runs until the reader has seen
     * every state (bounded by an update cap), so the test cannot pass without real interleaving.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void lookupsDuringUpdatesSeeOldOrNewNeverGarbage() throws Exception {
        final RouteTable t = new RouteTable();
        final Ipv4Prefix flipping = p("100.64.9.0/24");
        final Ipv4Prefix stable = p("100.65.1.0/24");
        final long a = peer("198.18.0.10").packed();
        final long b = peer("198.18.0.11").packed();
        final long wide = peer("198.18.0.16").packed();
        final long narrow = peer("198.18.0.24").packed();
        final long stablePeer = peer("198.18.0.99").packed();

        final Map<Ipv4Prefix, Peer> wideTable = new LinkedHashMap<>();
        wideTable.put(p("100.66.0.0/16"), Peer.unpack(wide));
        final Map<Ipv4Prefix, Peer> narrowTable = new LinkedHashMap<>();
        for (int i = 0; i < 256; i++) {
            narrowTable.put(Ipv4Prefix.of(ip("100.66.0.0") + i * 256, 24), Peer.unpack(narrow));
        }
        t.put(stable, Peer.unpack(stablePeer));
        t.put(flipping, Peer.unpack(a));
        t.replaceAll(withRoutes(t, wideTable, wideTable.keySet(), narrowTable.keySet()));

        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<String> failure = new AtomicReference<>();
        final AtomicLong lookups = new AtomicLong();
        final boolean[] seen = new boolean[5]; // a, b, miss, wide, narrow
        final Object seenLock = new Object();
        final int flipDst = ip("100.64.9.77");
        final int coverDst = ip("100.66.200.3");
        final int stableDst = ip("100.65.1.200");
        final Thread reader = new Thread(() -> {
            final boolean[] local = new boolean[5];
            long count = 0;
            while (!stop.get() && failure.get() == null) {
                for (int k = 0; k < 1000; k++) {
                    final long v = t.lookup(flipDst);
                    if (v == a) {
                        local[0] = true;
                    } else if (v == b) {
                        local[1] = true;
                    } else if (v == -1) {
                        local[2] = true;
                    } else {
                        failure.compareAndSet(null, "flipping route returned " + Long.toHexString(v));
                    }
                    final long w = t.lookup(coverDst);
                    if (w == wide) {
                        local[3] = true;
                    } else if (w == narrow) {
                        local[4] = true;
                    } else {
                        failure.compareAndSet(null, "covered address returned " + Long.toHexString(w));
                    }
                    final long s = t.lookup(stableDst);
                    if (s != stablePeer) {
                        failure.compareAndSet(null, "stable route returned " + Long.toHexString(s));
                    }
                    count += 3;
                }
                lookups.set(count);
                synchronized (seenLock) {
                    for (int i = 0; i < 5; i++) {
                        seen[i] |= local[i];
                    }
                }
            }
        }, "route-reader");
        reader.start();

        int updates = 0;
        boolean allSeen = false;
        while (!allSeen && updates < 200_000 && failure.get() == null) {
            switch (updates % 4) {
                case 0 -> t.put(flipping, Peer.unpack(b));
                case 1 -> t.remove(flipping);
                case 2 -> {
                    t.put(flipping, Peer.unpack(a));
                    t.replaceAll(withRoutes(t, narrowTable, wideTable.keySet(), narrowTable.keySet()));
                }
                default -> t.replaceAll(withRoutes(t, wideTable, wideTable.keySet(), narrowTable.keySet()));
            }
            updates++;
            if (updates % 64 == 0) {
                synchronized (seenLock) {
                    allSeen = seen[0] && seen[1] && seen[2] && seen[3] && seen[4];
                }
            }
        }
        stop.set(true);
        reader.join(10_000);
        assertThat(reader.isAlive()).isFalse();
        assertThat(failure.get()).isNull();
        assertThat(allSeen).as("reader saw every state within %d updates (%d lookups)", updates, lookups.get())
            .isTrue();
        assertThat(t.lookup(stableDst)).isEqualTo(stablePeer);
    }

    /** The current routes minus both cover tables, plus {@code cover}. */
    private static Map<Ipv4Prefix, Peer> withRoutes(final RouteTable t, final Map<Ipv4Prefix, Peer> cover,
                                                    final java.util.Set<Ipv4Prefix> wideKeys,
                                                    final java.util.Set<Ipv4Prefix> narrowKeys) {
        final Map<Ipv4Prefix, Peer> next = new LinkedHashMap<>(t.routes());
        next.keySet().removeAll(wideKeys);
        next.keySet().removeAll(narrowKeys);
        next.putAll(cover);
        return next;
    }

    @Test
    void sizeAndRoutesAgreeAfterManyUpdates() {
        final RouteTable t = new RouteTable();
        final List<Ipv4Prefix> added = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            final Ipv4Prefix s = Ipv4Prefix.of(ip("100.64.0.0") + i * 256, 24);
            t.put(s, new Peer(ip("198.18.0.0") + i, 8285));
            added.add(s);
        }
        assertThat(t.size()).isEqualTo(2000);
        assertThat(t.routes().keySet()).containsExactlyElementsOf(added);
    }
}
