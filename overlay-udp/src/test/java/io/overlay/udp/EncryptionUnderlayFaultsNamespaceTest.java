package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.Privileged;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Encryption under faults of the underlay and of the peers, on two engines in namespaces ({@link TwoHostUnderlay}),
 * keys handed over as the lease events would: a peer restarted again and again (a new key pair each time) while both
 * sides send, one of its new keys reaching the other side late; and two loops on each side (loop i of the sender
 * sends from port 8285 + i with counters of its own, the receiver's steering hands each port to its own loop, which
 * keeps a replay window per sender loop, however far one receiving loop lags the other) with and without datagrams
 * duplicated on the underlay by an nftables {@code dup} rule inside the sender's namespace; and a peer behind SNAT
 * next to a forged sender without a key, with {@code --accept-any-sender}.
 */
@Privileged
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class EncryptionUnderlayFaultsNamespaceTest {
    private static final int MTU = 1472 - EngineEncryption.OVERHEAD;
    /** Datagrams one socket buffer error may stand for: the kernel drops a UDP GRO packet whole. */
    private static final int GRO_SEGMENTS = 64;
    /** One datagram in this many sent may go missing uncounted (the check of what B opened). */
    private static final long TRACE = 10_000;
    /** With one datagram in four duplicated, one in this many originals may be lost in the kernel uncounted. */
    private static final long DUPLICATED_SLACK = 100;
    private static final Pattern REPLY = Pattern.compile("^\\[(\\d+\\.\\d+)\\] \\d+ bytes from");
    private static final Pattern SUM = Pattern.compile("\\[SUM\\].* ([\\d.]+) ([KMG])bits/sec.*receiver");

    @Test
    void aPeerRestartedRepeatedlyWhileBothSidesSendIsReachedWithinASecondOfEachNewKeyAndNothingStaleStays()
        throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            EngineHost a = hosts.startA(MTU, 1, true, required());
            final EngineHost b = hosts.startB(MTU, 1, true, required());
            exchangeKeys(a, b);
            // B pings A all along: its replies time when B → A → B works again after each restart of A
            final List<Double> replies = new CopyOnWriteArrayList<>();
            final Process ping = hosts.nsB.spawn(new ProcessBuilder("ping", "-D", "-n", "-i", "0.05", "-W", "1",
                "-w", "50", a.tunAddress()).redirectErrorStream(true));
            final Thread reader = replies(ping, replies);
            try {
                awaitTrue("B's first ping answered", 5000, () -> !replies.isEmpty());
                for (int restart = 1; restart <= 4; restart++) {
                    final String oldKey = a.engine.encryption().publicKey();
                    hosts.stopA();
                    a = hosts.startA(MTU, 1, true, required());
                    assertThat(a.engine.encryption().publicKey()).isNotEqualTo(oldKey);
                    // the restarted host reads B's lease (and key) at start
                    a.engine.peerKey(ip(TwoHostUnderlay.UNDERLAY_B), key(b));
                    if (restart == 2) {
                        // A's new lease reaches B late: meanwhile each side's datagrams carry a key id the other
                        // does not hold (B's still its old session's, A's its new one's): unknown_key both ways
                        final TrafficCounters before = b.engine.counters();
                        assertThat(a.shell("ping -c 2 -i 0.3 -W 1 " + b.tunAddress())).contains(" 0 received");
                        assertThat(b.awaitCounters(c -> c.drops(DropReason.UNKNOWN_KEY)
                            >= before.drops(DropReason.UNKNOWN_KEY) + 2).drops(DropReason.UNKNOWN_KEY))
                            .as("B refuses A's new key until its lease arrives")
                            .isGreaterThanOrEqualTo(before.drops(DropReason.UNKNOWN_KEY) + 2);
                        assertThat(a.awaitCounters(c -> c.drops(DropReason.UNKNOWN_KEY) > 0)
                            .drops(DropReason.UNKNOWN_KEY)).as("A refuses what B seals for A's old key")
                            .isPositive();
                    }
                    final double keyAt = System.currentTimeMillis() / 1000.0;
                    final long t0 = System.nanoTime();
                    b.engine.peerKey(ip(TwoHostUnderlay.UNDERLAY_A), key(a)); // A's new lease reaches B
                    final EngineHost current = a;
                    awaitTrue("A's ping answered after restart " + restart, 5000,
                        () -> current.shell("ping -c 1 -W 1 " + b.tunAddress()).contains("1 received"));
                    final long aToB = (System.nanoTime() - t0) / 1_000_000;
                    awaitTrue("B's ping answered after restart " + restart, 5000,
                        () -> replies.stream().anyMatch(t -> t > keyAt));
                    final long bToA = Math.round((replies.stream().filter(t -> t > keyAt).findFirst().orElseThrow()
                        - keyAt) * 1000);
                    System.out.printf("restart %d: A -> B answered %d ms, B -> A %d ms after the new key%n", restart,
                        aToB, bToA);
                    assertThat(aToB).as("ms to A's first answered ping, restart " + restart).isLessThan(1000);
                    assertThat(bToA).as("ms to B's first answered ping, restart " + restart).isLessThan(1000);
                }
                // settled: both directions flow for a while and nothing at all is dropped on either side
                final TrafficCounters a0 = a.engine.counters();
                final TrafficCounters b0 = b.engine.counters();
                assertThat(a.shell("ping -c 10 -i 0.1 -W 1 " + b.tunAddress())).contains("10 received");
                final TrafficCounters a1 = a.engine.counters();
                final TrafficCounters b1 = b.engine.counters();
                assertThat(a1.totalDrops() - a0.totalDrops()).as("A's drops once settled: " + a1).isZero();
                assertThat(b1.totalDrops() - b0.totalDrops()).as("B's drops once settled: " + b1).isZero();
                assertThat(b1.get(Counter.SEALED_RECEIVED) - b0.get(Counter.SEALED_RECEIVED))
                    .as("A's pings and B's own, sealed").isGreaterThanOrEqualTo(20);
                assertThat(b.engine.encryption().keylessPeers()).isEmpty();
                assertThat(b1.drops(DropReason.TAMPERED) + b1.drops(DropReason.REPLAYED)).isZero();
            } finally {
                ping.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                reader.join(5000);
            }
        }
    }

    @Test
    void twoLoopsEachSideRefuseNoOriginalAndCountEveryDuplicateAsAReplay() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            final EngineHost a = hosts.startA(MTU, 2, true, required());
            final EngineHost b = hosts.startB(MTU, 2, true, required());
            exchangeKeys(a, b);
            // count what leaves A from each of its loops' ports (nothing else in A sends UDP)
            hosts.nsA.exec("nft", "add table ip ovt; add chain ip ovt out { type filter hook output priority 0; }; "
                + "add rule ip ovt out udp sport 8285 counter; add rule ip ovt out udp sport 8286 counter");
            final TrafficCounters a0 = a.engine.counters();
            final TrafficCounters b0 = b.engine.counters();
            final double clean = throughput(hosts.iperf(5301, "-t 3 -P 4"));
            hosts.iperf(5302, "-t 2 -P 4 -R");
            final TrafficCounters a1 = settled(a, Counter.SEALED_SENT);
            final TrafficCounters b1 = settled(b, Counter.SEALED_RECEIVED);
            final String ports = hosts.nsA.exec("nft", "list chain ip ovt out");
            System.out.println("two loops, no duplicates: " + clean + " Mbit/s; A " + a1 + "; B " + b1 + "\n" + ports);
            assertThat(packets(ports, 8285)).as("A sent from loop 0's port").isPositive();
            assertThat(packets(ports, 8286)).as("A sent from loop 1's port").isPositive();
            for (TrafficCounters c : List.of(a1, b1)) {
                // one window per sender loop, opened by one receiving loop: however far one loop lags the other,
                // no original is refused (one window for both loops refused 541 of 714,828 on a loaded machine)
                assertThat(c.drops(DropReason.REPLAYED)).as("originals refused as replays: " + c).isZero();
                assertThat(c.drops(DropReason.UNKNOWN_KEY) + c.drops(DropReason.TAMPERED)).isZero();
            }
            assertThat(received(b0, b1)).as("B opened what A sealed and sent")
                .isGreaterThanOrEqualTo(sent(a0, a1) - GRO_SEGMENTS * udpDrops(hosts, hosts.nsB.name())
                    - sent(a0, a1) / TRACE);

            // one datagram (or GSO run) in four leaves A twice
            hosts.nsA.exec("nft", "add rule ip ovt out udp dport { 8285, 8286 } numgen random mod 4 == 0 counter "
                + "dup to 198.18.0.2 device ul0");
            final long dropsBefore = udpDrops(hosts, hosts.nsB.name());
            final double duplicated = throughput(hosts.iperf(5303, "-t 3 -P 4"));
            final TrafficCounters a2 = settled(a, Counter.SEALED_SENT);
            final TrafficCounters b2 = settled(b, Counter.SEALED_RECEIVED);
            final long kernelDrops = udpDrops(hosts, hosts.nsB.name()) - dropsBefore;
            System.out.println("two loops, 1 in 4 duplicated: " + duplicated + " Mbit/s; A " + a2 + "; B " + b2
                + "; B's kernel UDP drops " + kernelDrops + "\n" + hosts.nsA.exec("nft", "list chain ip ovt out"));
            final long replays = b2.drops(DropReason.REPLAYED) - b1.drops(DropReason.REPLAYED);
            assertThat(replays).as("duplicates refused as replays").isPositive();
            // Bursts of duplicates on a loaded machine also lose originals where no counter here sees them (the
            // veth's backlog); a full-suite run on 2 busy cores once missed 0.29 %. What this guards against, a
            // window that refuses the original after its duplicate, would refuse up to a quarter.
            assertThat(received(b1, b2)).as("every original opened; A's underlay link: "
                    + hosts.nsA.exec("ip", "-s", "link", "show", "ul0"))
                .isGreaterThanOrEqualTo(sent(a1, a2) - GRO_SEGMENTS * kernelDrops - sent(a1, a2) / DUPLICATED_SLACK);
            assertThat(b2.drops(DropReason.UNKNOWN_KEY) + b2.drops(DropReason.TAMPERED)).isZero();
            assertThat(duplicated).as("Mbit/s with duplicates vs " + clean + " without").isGreaterThan(clean * 0.3);
        }
    }

    @Test
    void behindSnatAPeersSealedDatagramsAreUnknownKeyAndAForgedKeylessSenderIsRefused() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            // A's datagrams to B leave A translated to 198.18.0.3 (set before any traffic: conntrack decides once);
            // 198.18.0.9 is a sender that is no peer and has no key
            hosts.nsA.exec("ip", "addr", "add", "198.18.0.3/24", "dev", "ul0");
            hosts.nsA.exec("ip", "addr", "add", "198.18.0.9/24", "dev", "ul0");
            hosts.nsA.exec("nft", "add table ip ovtnat; add chain ip ovtnat post { type nat hook postrouting "
                + "priority 100; }; add rule ip ovtnat post ip saddr 198.18.0.1 udp dport 8285 snat to 198.18.0.3");
            final EngineHost a = hosts.startA(MTU, 1, true, required());
            final EngineHost b = hosts.startB(MTU, 1, false, required()); // --accept-any-sender
            exchangeKeys(a, b);
            final TrafficCounters before = b.engine.counters();
            assertThat(a.shell("ping -c 3 -i 0.2 -W 1 " + b.tunAddress())).contains(" 0 received");
            // docs/encryption.md, Limits: sessions are found by source address, so a translated peer is unknown_key
            final TrafficCounters natted = b.awaitCounters(c -> c.drops(DropReason.UNKNOWN_KEY)
                >= before.drops(DropReason.UNKNOWN_KEY) + 3);
            assertThat(natted.drops(DropReason.UNKNOWN_KEY) - before.drops(DropReason.UNKNOWN_KEY)).isEqualTo(3);
            hosts.nsA.call(() -> {
                try (DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET)) {
                    ch.bind(new InetSocketAddress("198.18.0.9", EngineHost.PORT));
                    ch.send(ByteBuffer.wrap(echo("100.64.1.0", "100.64.2.0")),
                        new InetSocketAddress(TwoHostUnderlay.UNDERLAY_B, EngineHost.PORT));
                }
                return null;
            });
            final TrafficCounters after = b.awaitCounters(c -> c.totalDrops() > natted.totalDrops());
            assertThat(after.drops(DropReason.CLEAR_TEXT_REFUSED) - natted.drops(DropReason.CLEAR_TEXT_REFUSED))
                .as("clear text from a keyless sender, required").isEqualTo(1);
            assertThat(after.get(Counter.SEALED_RECEIVED) + after.get(Counter.CLEAR_RECEIVED)).isZero();
            assertThat(after.udpToTunPackets()).as("nothing reached B's TUN").isZero();
        }
    }

    /** A valid 84-byte IPv4 ICMP echo request. */
    private static byte[] echo(final String src, final String dst) {
        return io.overlay.testing.TestPackets.icmpEcho(Ipv4.parse(src), Ipv4.parse(dst), 0);
    }

    private static long received(final TrafficCounters before, final TrafficCounters after) {
        return after.get(Counter.SEALED_RECEIVED) - before.get(Counter.SEALED_RECEIVED);
    }

    /**
     * {@code h}'s counters once {@code counter} has stopped moving for 300 ms (at most 10 s): iperf3 is done when its
     * receiver has the data, while datagrams can still wait in the loops' socket buffers on a loaded machine (4,400 of
     * them once in CI), sent by one side and not yet opened by the other.
     */
    private static TrafficCounters settled(final EngineHost h, final Counter counter) throws InterruptedException {
        TrafficCounters last = h.engine.counters();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            Thread.sleep(300);
            final TrafficCounters now = h.engine.counters();
            if (now.get(counter) == last.get(counter)) {
                return now;
            }
            last = now;
        }
        return last;
    }

    /** Sealed datagrams A handed to the kernel (sealed, less those its socket refused). */
    private static long sent(final TrafficCounters before, final TrafficCounters after) {
        return after.get(Counter.SEALED_SENT) - before.get(Counter.SEALED_SENT)
            - (after.drops(DropReason.SEND_FAILED) - before.drops(DropReason.SEND_FAILED));
    }

    /** UDP packets (a GRO packet counts once) the kernel of namespace {@code ns} dropped: buffer and memory errors. */
    private static long udpDrops(final TwoHostUnderlay hosts, final String ns) throws Exception {
        final String snmp = io.overlay.testing.Netns.run("ip", "netns", "exec", ns, "cat", "/proc/net/snmp");
        String[] names = null;
        for (String line : snmp.split("\n")) {
            if (line.startsWith("Udp: ")) {
                if (names == null) {
                    names = line.split(" ");
                } else {
                    final String[] values = line.split(" ");
                    long n = 0;
                    for (int i = 1; i < names.length; i++) {
                        if (names[i].equals("RcvbufErrors") || names[i].equals("MemErrors")) {
                            n += Long.parseLong(values[i]);
                        }
                    }
                    return n;
                }
            }
        }
        throw new IllegalStateException("no Udp line in " + snmp);
    }

    private static long packets(final String chain, final int port) {
        final Matcher m = Pattern.compile("udp sport " + port + " counter packets (\\d+)").matcher(chain);
        assertThat(m.find()).as(chain).isTrue();
        return Long.parseLong(m.group(1));
    }

    /** The receiver's total in Mbit/s from iperf3's [SUM] receiver line. */
    private static double throughput(final String iperf) {
        final Matcher m = SUM.matcher(iperf);
        assertThat(m.find()).as(iperf).isTrue();
        final double v = Double.parseDouble(m.group(1));
        return switch (m.group(2)) {
            case "K" -> v / 1000;
            case "G" -> v * 1000;
            default -> v;
        };
    }

    private static EngineEncryption required() {
        return EngineEncryption.create(Encryption.REQUIRED, new byte[0]);
    }

    private static int ip(final String address) {
        return Ipv4.parse(address);
    }

    private static byte[] key(final EngineHost h) {
        return Base64.getDecoder().decode(h.engine.encryption().publicKey());
    }

    private static void exchangeKeys(final EngineHost a, final EngineHost b) {
        a.engine.peerKey(ip(TwoHostUnderlay.UNDERLAY_B), key(b));
        b.engine.peerKey(ip(TwoHostUnderlay.UNDERLAY_A), key(a));
    }

    private interface Check {
        boolean ok() throws Exception;
    }

    private static void awaitTrue(final String what, final long millis, final Check check) throws Exception {
        final long deadline = System.nanoTime() + millis * 1_000_000;
        while (!check.ok()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + millis + " ms: " + what);
            }
            Thread.sleep(20);
        }
    }

    /** Collects the reception times (epoch seconds) of {@code ping -D}'s replies. */
    private static Thread replies(final Process ping, final List<Double> out) {
        final Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(ping.getInputStream(),
                StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    final Matcher m = REPLY.matcher(line);
                    if (m.find()) {
                        out.add(Double.parseDouble(m.group(1)));
                    }
                }
            } catch (java.io.IOException ended) {
                // the process was stopped
            }
        }, "ping-reader");
        t.setDaemon(true);
        t.start();
        return t;
    }
}
