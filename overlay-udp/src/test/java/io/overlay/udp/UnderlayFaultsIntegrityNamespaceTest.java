package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.LogCapture;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Bytes carried through the offload path arrive unchanged while the underlay loses, duplicates, reorders and truncates
 * datagrams. Two engines in namespaces ({@link TwoHostUnderlay}, offloads on: TUN TSO super-packets cut by
 * {@code GsoSegmenter}, UDP GSO sends, UDP GRO receives, {@code TcpCoalescer} runs written with NEEDS_CSUM); nftables
 * rules in the receiving host B's namespace, on its underlay interface, drop, duplicate ({@code dup to} B's own
 * address, which loops the copy back in), reorder (the copy goes on, the original is dropped) and truncate (a smaller
 * UDP length: the kernel trims the datagram and delivers the rest) a random 1.5 % of A's datagrams each, in phases.
 * Bulk TCP transfers (32 MiB in one flow, in four, in twelve, more than the coalescer's eight runs, then two flows
 * each way at once) carry seeded pseudo-random bytes, checked end to end ({@link CheckedTcpTransfer}): a coalescer
 * that merged the wrong segments gives them a fresh partial checksum that TCP accepts, so only the content shows it
 * (with the sequence check taken out of {@code TcpCoalescer.canAppend} every test here fails on its first transfer).
 *
 * <p>Each phase runs twice: with A's underlay link limited to one segment per packet ({@code gso_max_segs 1}) A's
 * kernel cuts every UDP GSO send before the wire, so the rules see (and count) single datagrams and the engines'
 * counters must account for each one; with the default link a GSO send crosses the veth whole, the rules hit a burst
 * of up to 64 datagrams at once and B's socket receives it as one UDP GRO buffer that the engine splits. Then: no
 * loop stopped, no TUN write failed, nothing logged at ERROR. With one loop per side, two (the receiver steers each
 * sending loop's port to its own loop) and sealed (every copy a replay, every truncation a failed tag).
 */
@Privileged
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class UnderlayFaultsIntegrityNamespaceTest {
    private static final int MTU = 1472;
    private static final long FLOW_BYTES = 32L << 20;
    /** Bound of one set of transfers. */
    private static final long TRANSFER_MILLIS = 30_000;
    /** Per mille of A's datagrams (or GSO bursts) each fault hits. */
    private static final int PER_MILLE = 15;
    /** The UDP length a truncated single datagram is given: its payload, the inner packet, loses all but 592 bytes. */
    private static final int SINGLE_UDP_LENGTH = 600;
    /** The UDP length a truncated GSO burst is given: 8 + 2 × 1472 + 48 (two whole datagrams, 48 bytes of a third). */
    private static final int BURST_UDP_LENGTH = 3000;
    private static final String MATCH = "iifname \"ul0\" ip saddr " + TwoHostUnderlay.UNDERLAY_A + " udp dport "
        + EngineHost.PORT;
    private static final Pattern COUNTER = Pattern.compile("counter packets (\\d+) bytes (\\d+)");

    /**
     * What the rules do to a datagram (or GSO burst) of A's. One random draw per datagram picks at most one fault
     * ({@code numgen ... vmap}), so each is counted once: a copy is never also truncated or dropped.
     */
    private enum Fault {
        LOSS,
        DUPLICATION,
        /**
         * The copy goes on (to the tail of the input backlog, behind the datagrams already queued from the veth) and
         * the original is dropped: the datagram arrives after some of its successors (a GSO burst seldom does: the
         * backlog is mostly empty then).
         */
        REORDERING,
        TRUNCATION;

        /** The fault's chain. */
        String chain() {
            return name().toLowerCase(Locale.ROOT);
        }

        /**
         * The chain's rule. A single datagram is cut to {@code SINGLE_UDP_LENGTH}; a GSO burst to
         * {@code BURST_UDP_LENGTH}: two whole datagrams and the head of a third, which B's GRO buffer then ends with.
         */
        String rule(final boolean single) {
            final int udpLength = single ? SINGLE_UDP_LENGTH : BURST_UDP_LENGTH;
            return switch (this) {
                case LOSS -> "counter drop";
                case DUPLICATION -> "counter dup to " + TwoHostUnderlay.UNDERLAY_B;
                case REORDERING -> "counter dup to " + TwoHostUnderlay.UNDERLAY_B + " drop";
                case TRUNCATION -> "udp length > " + udpLength + " counter udp length set " + udpLength;
            };
        }
    }

    private static final List<Set<Fault>> PHASES = List.of(EnumSet.of(Fault.LOSS), EnumSet.of(Fault.DUPLICATION),
        EnumSet.of(Fault.LOSS, Fault.DUPLICATION), EnumSet.of(Fault.REORDERING), EnumSet.of(Fault.TRUNCATION),
        EnumSet.allOf(Fault.class));

    private int port = 6000;

    @Test
    void oneLoopEachSideDeliversEveryByteUnchangedThroughLossDuplicationReorderingAndTruncation() throws Exception {
        try (LogCapture log = new LogCapture(); LogCapture netty = new LogCapture("io.netty");
             TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            final EngineHost a = hosts.startA(MTU, 1, true, true, Map.of());
            final EngineHost b = hosts.startB(MTU, 1, true, true);
            runPhases(hosts, a, b, PHASES, false);
            assertHealthy(a, b, 1, log, netty);
        }
    }

    @Test
    void twoLoopsEachSideDeliverEveryByteUnchangedThroughAllFaults() throws Exception {
        try (LogCapture log = new LogCapture(); LogCapture netty = new LogCapture("io.netty");
             TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            final EngineHost a = hosts.startA(MTU, 2, true, true, Map.of());
            final EngineHost b = hosts.startB(MTU, 2, true, true);
            runPhases(hosts, a, b, List.of(EnumSet.allOf(Fault.class)), false);
            assertHealthy(a, b, 2, log, netty);
        }
    }

    @Test
    void sealedDeliversEveryByteUnchangedAndCountsEachCopyAsAReplayAndEachTruncationAsTampered() throws Exception {
        try (LogCapture log = new LogCapture(); LogCapture netty = new LogCapture("io.netty");
             TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            final int mtu = MTU - EngineEncryption.OVERHEAD;
            final EngineHost a = hosts.startA(mtu, 1, true, required());
            final EngineHost b = hosts.startB(mtu, 1, true, required());
            a.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_B), key(b));
            b.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_A), key(a));
            runPhases(hosts, a, b, List.of(EnumSet.allOf(Fault.class)), true);
            assertHealthy(a, b, 1, log, netty);
        }
    }

    /** Runs each phase with single datagrams on the wire, then with whole GSO bursts, and checks every transfer. */
    private void runPhases(final TwoHostUnderlay hosts, final EngineHost a, final EngineHost b,
                           final List<Set<Fault>> phases, final boolean sealed) throws Exception {
        final StringBuilder chains = new StringBuilder("add table ip ovfault; add chain ip ovfault pre { type filter "
            + "hook prerouting priority raw; }; add chain ip ovfault faults");
        for (Fault f : Fault.values()) {
            chains.append("; add chain ip ovfault ").append(f.chain());
        }
        hosts.nsB.exec("nft", chains.toString());
        final TrafficCounters b0 = b.engine.counters();
        final TrafficCounters a0 = a.engine.counters();
        for (boolean single : new boolean[] {true, false}) {
            hosts.nsA.exec("ip", "link", "set", "ul0", "gso_max_segs", single ? "1" : "65535");
            for (Set<Fault> phase : phases) {
                runPhase(hosts, a, b, phase, single, sealed);
            }
        }
        final TrafficCounters a1 = a.engine.counters();
        final TrafficCounters b1 = b.engine.counters();
        assertThat(a1.get(Counter.TUN_SUPER_PACKETS) - a0.get(Counter.TUN_SUPER_PACKETS))
            .as("A read TSO super-packets and cut them").isPositive();
        assertThat(b1.get(Counter.TUN_COALESCED_FRAMES) - b0.get(Counter.TUN_COALESCED_FRAMES))
            .as("B coalesced segments into super-packets").isPositive();
    }

    private void runPhase(final TwoHostUnderlay hosts, final EngineHost a, final EngineHost b, final Set<Fault> phase,
                          final boolean single, final boolean sealed) throws Exception {
        final String name = phase + (single ? ", single datagrams" : ", GSO bursts") + (sealed ? ", sealed" : "");
        // every datagram from A passes the counting rule; a random draw sends PER_MILLE of them to each fault's chain
        final StringBuilder rules = new StringBuilder("flush table ip ovfault; add rule ip ovfault pre " + MATCH
            + " counter jump faults");
        final StringBuilder map = new StringBuilder();
        int from = 0;
        for (Fault f : phase) {
            rules.append("; add rule ip ovfault ").append(f.chain()).append(' ').append(f.rule(single));
            map.append(map.isEmpty() ? "" : ", ").append(from).append('-').append(from + PER_MILLE - 1)
                .append(" : goto ").append(f.chain());
            from += PER_MILLE;
        }
        rules.append("; add rule ip ovfault faults numgen random mod 1000 vmap { ").append(map).append(" }");
        hosts.nsB.exec("nft", rules.toString());
        final TrafficCounters a0 = a.engine.counters();
        final TrafficCounters b0 = b.engine.counters();
        final long kernel0 = kernelDrops(hosts);
        final long t0 = System.nanoTime();
        // one flow; four; more than the coalescer's runs (8), so runs are evicted; two each way at once, so B's
        // coalescer also sees A's data carry changing acknowledgements and A's acknowledgements hit by the faults
        for (int flows : new int[] {1, 4, 12}) {
            check(name + ", " + flows + " flow(s) A -> B", CheckedTcpTransfer.run(hosts.nsA, a.tunAddress(),
                hosts.nsB, b.tunAddress(), port, flows, FLOW_BYTES / flows, port, TRANSFER_MILLIS));
            port += flows;
        }
        final int backPort = port + 2;
        final CompletableFuture<List<CheckedTcpTransfer.Flow>> back = CompletableFuture.supplyAsync(() -> {
            try {
                return CheckedTcpTransfer.run(hosts.nsB, b.tunAddress(), hosts.nsA, a.tunAddress(), backPort, 2,
                    FLOW_BYTES / 2, backPort, TRANSFER_MILLIS);
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        });
        final List<CheckedTcpTransfer.Flow> forth;
        try {
            forth = CheckedTcpTransfer.run(hosts.nsA, a.tunAddress(), hosts.nsB, b.tunAddress(), port, 2,
                FLOW_BYTES / 2, port, TRANSFER_MILLIS);
        } finally {
            // the reverse flows end within their own bound: wait for them before anything is asserted, so that none
            // outlives the phase, still moving data while the next test runs
            back.handle((flows, e) -> flows).get(TRANSFER_MILLIS + 10_000, TimeUnit.MILLISECONDS);
        }
        check(name + ", 2 flows A -> B while 2 go B -> A", forth);
        check(name + ", 2 flows B -> A while 2 go A -> B", back.get(TRANSFER_MILLIS + 10_000, TimeUnit.MILLISECONDS));
        port += 4;
        final TrafficCounters a1 = settled(a, c -> c.get(Counter.TUN_TO_UDP_PACKETS));
        final TrafficCounters b1 = settled(b, c -> c.udpToTunPackets() + c.totalDrops());
        final long kernel = kernelDrops(hosts) - kernel0;
        final String chain = hosts.nsB.exec("nft", "list table ip ovfault");
        final long seen = counted(chain, "pre")[0];
        final long dropped = counter(chain, phase, Fault.LOSS);
        final long duplicated = counter(chain, phase, Fault.DUPLICATION);
        final long reordered = counter(chain, phase, Fault.REORDERING);
        final long truncated = counter(chain, phase, Fault.TRUNCATION);
        final long sent = a1.get(Counter.TUN_TO_UDP_PACKETS) - a0.get(Counter.TUN_TO_UDP_PACKETS);
        final long arrived = b1.udpToTunPackets() - b0.udpToTunPackets() + b1.totalDrops() - b0.totalDrops();
        final long bytesSeen = counted(chain, "pre")[1];
        System.out.printf("%s: %d ms; A sent %d datagrams; B's rules saw %d packets (%d bytes each on average), "
                + "dropped %d, duplicated %d, reordered %d, truncated %d; B's engine took %d; kernel drops %d%n",
            name, (System.nanoTime() - t0) / 1_000_000, sent, seen, seen == 0 ? 0 : bytesSeen / seen, dropped,
            duplicated, reordered, truncated, arrived, kernel);
        final Map<Fault, Long> hits = Map.of(Fault.LOSS, dropped, Fault.DUPLICATION, duplicated, Fault.REORDERING,
            reordered, Fault.TRUNCATION, truncated);
        for (Fault f : phase) {
            assertThat(hits.get(f)).as(name + ": the rule of " + f + " hit").isPositive();
        }
        final long badLength = b1.drops(DropReason.BAD_TOTAL_LENGTH) - b0.drops(DropReason.BAD_TOTAL_LENGTH);
        final long tampered = b1.drops(DropReason.TAMPERED) - b0.drops(DropReason.TAMPERED);
        final long replayed = b1.drops(DropReason.REPLAYED) - b0.drops(DropReason.REPLAYED);
        // a truncated datagram (or GSO burst: one short datagram is what is left of it) is dropped, never delivered
        final long truncationDrops = sealed ? tampered : badLength;
        assertThat(truncationDrops).as(name + ": truncated datagrams dropped").isBetween(truncated - kernel, truncated);
        assertThat(sealed ? badLength : tampered).as(name + ": no other length or tag failure").isZero();
        assertThat(b1.totalDrops() - b0.totalDrops()).as(name + ": B drops nothing but what the faults made: " + b1)
            .isEqualTo(badLength + tampered + replayed);
        assertThat(a1.totalDrops() - a0.totalDrops()).as(name + ": A drops nothing: " + a1).isZero();
        if (single) {
            assertThat(bytesSeen / Math.max(1, seen)).as(name + ": one datagram per packet on B's link")
                .isLessThanOrEqualTo(MTU + 28);
            // every datagram A's kernel took, less what the rules dropped, plus their copies, reached B's engine
            // (a reordered one once), but for what the kernels dropped on the way (counted by them)
            final long expected = sent - dropped + duplicated;
            assertThat(arrived).as(name + ": datagrams B's engine took, of " + expected + " (kernel drops " + kernel
                + ")").isBetween(expected - kernel, expected);
            if (sealed) {
                // and a late datagram is not taken for a replay: the window reaches back far enough
                assertThat(replayed).as(name + ": copies refused as replays").isBetween(duplicated - kernel,
                    duplicated);
            }
        } else {
            assertThat(bytesSeen / Math.max(1, seen)).as(name + ": GSO bursts crossed B's link whole")
                .isGreaterThan(MTU + 28);
            if (sealed) {
                assertThat(replayed).as(name + ": each copied burst refused as replays").isGreaterThanOrEqualTo(
                    duplicated - kernel);
            }
        }
        if (!sealed) {
            assertThat(replayed).isZero();
        }
    }

    /** Asserts that every flow of a set of transfers delivered every byte unchanged in time. */
    private static void check(final String what, final List<CheckedTcpTransfer.Flow> flows) {
        System.out.println(what + ": " + flows.stream().map(f -> f.intact() ? f.millis() + " ms" : f.toString())
            .toList());
        assertThat(flows).as(what + ": every byte arrives unchanged within " + TRANSFER_MILLIS + " ms")
            .allMatch(CheckedTcpTransfer.Flow::intact);
    }

    /** The loops still run tasks, nothing failed on either side, nothing was logged at ERROR. */
    private static void assertHealthy(final EngineHost a, final EngineHost b, final int loops, final LogCapture log,
                                      final LogCapture netty) throws Exception {
        for (EngineHost h : List.of(a, b)) {
            final TrafficCounters c = h.engine.counters();
            for (int i = 0; i < loops; i++) {
                final String thread = h.engine.executor(i).submit(() -> Thread.currentThread().getName())
                    .get(5, TimeUnit.SECONDS);
                assertThat(thread).as("loop %d answers", i).startsWith("overlay-udp");
            }
            assertThat(c.drops(DropReason.TUN_WRITE_FAILED)).as("TUN write failures: " + c).isZero();
            assertThat(c.drops(DropReason.BAD_VNET_HEADER)).as("malformed TUN frames: " + c).isZero();
            assertThat(c.get(Counter.COALESCER_BAD_CHECKSUMS)).as("segments with a bad checksum: " + c).isZero();
            assertThat(c.drops(DropReason.SEND_FAILED)).as("send failures: " + c).isZero();
            assertThat(c.drops(DropReason.UNKNOWN_SENDER) + c.drops(DropReason.UNKNOWN_KEY)
                + c.drops(DropReason.CLEAR_TEXT_REFUSED) + c.drops(DropReason.OVERSIZED)).as(c.toString()).isZero();
        }
        assertThat(log.errors()).as("errors logged").isEmpty();
        assertThat(netty.warnings()).as("Netty's loop warnings (an exception out of a handler)").isEmpty();
    }

    /** {@code h}'s counters once {@code value} has not moved for 300 ms (at most 10 s). */
    private static TrafficCounters settled(final EngineHost h,
                                           final ToLongFunction<TrafficCounters> value)
        throws InterruptedException {
        TrafficCounters last = h.engine.counters();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            Thread.sleep(300);
            final TrafficCounters now = h.engine.counters();
            if (value.applyAsLong(now) == value.applyAsLong(last)) {
                return now;
            }
            last = now;
        }
        return last;
    }

    /** Packets {@code fault}'s chain counted, 0 if the phase does not have it. */
    private static long counter(final String table, final Set<Fault> phase, final Fault fault) {
        return phase.contains(fault) ? counted(table, fault.chain())[0] : 0;
    }

    /** {packets, bytes} of the one counter in chain {@code chain} of {@code nft list table}'s output. */
    private static long[] counted(final String table, final String chain) {
        final Matcher m = COUNTER.matcher(table);
        final int at = table.indexOf("chain " + chain + " {");
        if (at < 0 || !m.find(at)) {
            throw new AssertionError("no chain " + chain + " with a counter in " + table);
        }
        return new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))};
    }

    /**
     * Datagrams the kernels may have lost where no rule counts them (a GSO burst counts once): B's UDP receive errors
     * (socket buffer full), every drop counted on A's and B's links, and the machine's input backlog drops
     * ({@code /proc/net/softnet_stat}, shared by all namespaces, so an over-estimate).
     */
    private static long kernelDrops(final TwoHostUnderlay hosts) throws Exception {
        long n = udpInErrors(hosts.nsB) + linkDrops(hosts.nsA) + linkDrops(hosts.nsB);
        for (String line : Files.readAllLines(Path.of("/proc/net/softnet_stat"))) {
            n += Long.parseLong(line.trim().split("\\s+")[1], 16);
        }
        return n;
    }

    private static long udpInErrors(final Netns ns) throws Exception {
        final String[] lines = ns.exec("cat", "/proc/net/snmp").lines().filter(l -> l.startsWith("Udp: "))
            .toArray(String[]::new);
        final List<String> names = List.of(lines[0].split(" "));
        return Long.parseLong(lines[1].split(" ")[names.indexOf("InErrors")]);
    }

    private static long linkDrops(final Netns ns) throws Exception {
        long n = 0;
        final Matcher m = Pattern.compile("\"(?:rx|tx)\":\\{[^}]*\"dropped\":(\\d+)")
            .matcher(ns.exec("ip", "-s", "-j", "link", "show"));
        while (m.find()) {
            n += Long.parseLong(m.group(1));
        }
        return n;
    }

    private static EngineEncryption required() {
        return EngineEncryption.create(Encryption.REQUIRED, new byte[0]);
    }

    private static byte[] key(final EngineHost h) {
        return Base64.getDecoder().decode(h.engine.encryption().publicKey());
    }
}
