package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import io.overlay.udp.crypto.HostKeyPair;
import io.overlay.udp.crypto.PacketSealer;
import io.overlay.udp.crypto.PeerSession;
import io.overlay.udp.crypto.SessionKeys;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Two engines in namespaces A (198.18.0.1, 100.64.1.0/24) and B (198.18.0.2, 100.64.2.0/24) with encryption, keys
 * handed over as the lease events would ({@link UdpPacketEngine#peerKey}); datagrams captured on B's underlay with a
 * raw UDP socket and crafted with a raw IP socket from A's underlay address and port (the peer's source, as a spoofer
 * would write it).
 */
@Privileged
class EncryptionNamespaceTest {
    /** The TUN MTU of a sealing host on a 1500-byte underlay: flannel's 1472 minus the frame overhead. */
    private static final int MTU = 1472 - EngineEncryption.OVERHEAD;
    private static final String MARKER = "overlay-secret!!";

    @Test
    void requiredSealsEverythingPingAndIperfPassAndTheMarkerNeverCrossesTheUnderlay() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            final EngineHost a = hosts.startA(MTU, EngineEncryption.create(Encryption.REQUIRED, new byte[0]));
            final EngineHost b = hosts.startB(MTU, EngineEncryption.create(Encryption.REQUIRED, new byte[0]));
            exchangeKeys(a, b);
            final int capture = RawSockets.open(hosts.nsB.name(), RawSockets.IPPROTO_UDP, 1000, 4 << 20);
            try {
                final String hex = HexFormat.of().formatHex(MARKER.getBytes(StandardCharsets.US_ASCII));
                assertThat(a.shell("ping -c 5 -i 0.2 -W 2 -s 1200 -p " + hex + " " + b.tunAddress()))
                    .contains("5 received");
                final List<byte[]> seen = drain(capture);
                assertThat(seen).hasSizeGreaterThanOrEqualTo(5);
                for (byte[] ip : seen) {
                    final byte[] payload = Arrays.copyOfRange(ip, 28, ip.length);
                    assertThat(payload[0]).as("first byte of every datagram: the sealed marker")
                        .isEqualTo((byte) 0xE1);
                    assertThat(new String(payload, StandardCharsets.ISO_8859_1)).doesNotContain(MARKER)
                        .doesNotContain(MARKER.substring(0, 8));
                }
            } finally {
                RawSockets.close(capture);
            }
            hosts.iperf(5201, "-n 20M");
            hosts.iperf(5202, "-n 20M -R");
            final TrafficCounters ca = a.engine.counters();
            final TrafficCounters cb = b.engine.counters();
            assertThat(ca.get(Counter.SEALED_SENT)).isGreaterThan(10_000);
            assertThat(cb.get(Counter.SEALED_RECEIVED)).isGreaterThan(10_000);
            assertThat(ca.get(Counter.CLEAR_SENT) + cb.get(Counter.CLEAR_RECEIVED)).isZero();
            // sealing sits after the software segmentation and opening before the coalescer: the offload path stays
            assertThat(a.engine.offloads().udpGso()).as("UDP GSO still on after sealed runs").isTrue();
            assertThat(ca.get(Counter.TUN_SUPER_PACKETS)).as("TSO super-packets segmented, then sealed")
                .isPositive();
            assertThat(cb.get(Counter.TUN_COALESCED_FRAMES)).as("opened segments coalesced for B's TUN")
                .isPositive();
            assertThat(ca.drops(DropReason.TAMPERED) + cb.drops(DropReason.TAMPERED)
                + cb.drops(DropReason.REPLAYED) + ca.drops(DropReason.REPLAYED)).isZero();
            // B's engine answers a TTL that expires there with a time exceeded sealed for A, as any packet to A
            final TrafficCounters beforeTtl = b.engine.counters();
            assertThat(a.shell("ping -c 1 -W 2 -t 2 " + b.tunAddress()))
                .contains("From " + b.tunAddress() + " icmp_seq=1 Time to live exceeded");
            final TrafficCounters afterTtl = b.awaitCounters(
                c -> c.get(Counter.ICMP_TIME_EXCEEDED_SENT) > beforeTtl.get(Counter.ICMP_TIME_EXCEEDED_SENT));
            assertThat(afterTtl.get(Counter.ICMP_TIME_EXCEEDED_SENT) - beforeTtl.get(Counter.ICMP_TIME_EXCEEDED_SENT))
                .isEqualTo(1);
            assertThat(afterTtl.get(Counter.SEALED_SENT) - beforeTtl.get(Counter.SEALED_SENT)).isEqualTo(1);
            assertThat(afterTtl.drops(DropReason.PEER_HAS_NO_KEY)).isZero();
            // a 1028-byte packet: the sealed answer quotes its first 548 bytes in 576 (RFC 1812 4.3.2.3), which A
            // opens and writes into its TUN whole
            final int capA = PacketSockets.capture(hosts.nsA, a.tun.name(), 500);
            try {
                assertThat(a.shell("ping -s 1000 -c 1 -W 2 -t 2 " + b.tunAddress()))
                    .contains("From " + b.tunAddress() + " icmp_seq=1 Time to live exceeded");
                final List<byte[]> exceeded = PacketSockets.drain(capA).stream()
                    .filter(p -> p[9] == 1 && (p[20] & 0xff) == 11).toList();
                assertThat(exceeded).hasSize(1);
                assertThat(exceeded.get(0)).as("time exceeded, opened at A").hasSize(576);
                assertThat(TestPackets.u16(exceeded.get(0), 28 + 2)).as("quoted total length").isEqualTo(1028);
                assertThat(TestPackets.onesSum(exceeded.get(0), 20, 556, 0)).isEqualTo(0xffff);
            } finally {
                RawSockets.close(capA);
            }
        }
    }

    @Test
    void craftedDatagramsWithThePeersSourceAreDroppedByReasonAndNeverReachTheTun() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            final EngineEncryption keyA = EngineEncryption.create(Encryption.REQUIRED, new byte[0]);
            final EngineHost a = hosts.startA(MTU, keyA);
            final EngineHost b = hosts.startB(MTU, EngineEncryption.create(Encryption.REQUIRED, new byte[0]));
            exchangeKeys(a, b);
            final int capture = RawSockets.open(hosts.nsB.name(), RawSockets.IPPROTO_UDP, 1000, 1 << 20);
            final byte[] sealed;
            try {
                assertThat(a.shell("ping -c 1 -W 2 " + b.tunAddress())).contains("1 received");
                sealed = Arrays.copyOfRange(drain(capture).get(0), 28, 28 + 84 + EngineEncryption.OVERHEAD);
            } finally {
                RawSockets.close(capture);
            }
            assertThat(sealed[0]).isEqualTo((byte) 0xE1);
            // a raw socket writes whole IPv4/UDP packets: source 198.18.0.1:8285, A's engine's own address and port
            final int spoof = RawSockets.open(hosts.nsA.name(), RawSockets.IPPROTO_RAW, 1000);
            // inside B: every ICMP packet B's stack receives, the TUN's included
            final int inside = RawSockets.open(hosts.nsB.name(), 1 /* IPPROTO_ICMP */, 1000);
            try {
                final TrafficCounters before = b.engine.counters();
                spoofed(spoof, packet("100.64.1.0", "100.64.2.0", 84)); // clear text
                final byte[] flipped = sealed.clone();
                flipped[40] ^= 0x10;
                flipped[5] ^= 0x01; // a fresh counter too, so only the tag can refuse it
                spoofed(spoof, flipped);
                spoofed(spoof, sealed); // replay of a captured datagram
                // sealed under a key pair A had before (another public key: another key id)
                final HostKeyPair oldA = HostKeyPair.generate();
                final byte[] pubB = HexFormat.of().parseHex(hex(b.engine.encryption().publicKey()));
                final PeerSession old = new PeerSession(pubB, SessionKeys.derive(oldA, pubB, new byte[0]));
                final ByteBuffer inner = ByteBuffer.allocateDirect(2048);
                inner.put(0, packet("100.64.1.0", "100.64.2.0", 84));
                final ByteBuffer frame = ByteBuffer.allocateDirect(2048);
                final int n = new PacketSealer().seal(old, inner, 0, 84, frame, 0);
                final byte[] oldKey = new byte[n];
                frame.get(0, oldKey);
                spoofed(spoof, oldKey);

                final TrafficCounters after = b.awaitCounters(c -> c.totalDrops() >= before.totalDrops() + 4);
                assertThat(delta(before, after, DropReason.CLEAR_TEXT_REFUSED)).isEqualTo(1);
                assertThat(delta(before, after, DropReason.TAMPERED)).isEqualTo(1);
                assertThat(delta(before, after, DropReason.REPLAYED)).isEqualTo(1);
                assertThat(delta(before, after, DropReason.UNKNOWN_KEY)).isEqualTo(1);
                assertThat(after.totalDrops() - before.totalDrops()).isEqualTo(4);
                assertThat(after.udpToTunPackets()).as("nothing crafted reached B's TUN")
                    .isEqualTo(before.udpToTunPackets());
                final int fromA = Ipv4.parse("100.64.1.0");
                assertThat(drainAll(inside)).as("ICMP from 100.64.1.0 seen inside B")
                    .noneMatch(p -> ByteBuffer.wrap(p).getInt(12) == fromA);
                // and the real peer still gets through, which the same capture sees (so it could see the crafted ones)
                assertThat(a.shell("ping -c 2 -i 0.2 -W 2 " + b.tunAddress())).contains("2 received");
                assertThat(drainAll(inside)).as("A's real pings seen inside B")
                    .anyMatch(p -> ByteBuffer.wrap(p).getInt(12) == fromA);
            } finally {
                RawSockets.close(spoof);
                RawSockets.close(inside);
            }
        }
    }

    @Test
    void preferredTalksClearTextWithAHostThatHasItOffAndBothCountIt() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            final EngineHost a = hosts.startA(MTU, EngineEncryption.create(Encryption.PREFERRED, new byte[0]));
            final EngineHost b = hosts.startB(1472, EngineEncryption.OFF);
            a.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_B), null); // B's lease has no key
            b.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_A), a.engine.encryption().publicKey() == null
                ? null : java.util.Base64.getDecoder().decode(a.engine.encryption().publicKey())); // ignored: off
            assertThat(a.shell("ping -c 3 -i 0.2 -W 2 " + b.tunAddress())).contains("3 received");
            hosts.iperf(5203, "-n 5M");
            final TrafficCounters ca = a.engine.counters();
            final TrafficCounters cb = b.engine.counters();
            assertThat(ca.get(Counter.CLEAR_SENT)).isGreaterThan(1000);
            assertThat(ca.get(Counter.CLEAR_RECEIVED)).isGreaterThan(10);
            assertThat(ca.get(Counter.SEALED_SENT)).isZero();
            // B's loops may still be writing the last datagrams to its TUN when iperf3 returns
            final long sent = ca.get(Counter.CLEAR_SENT) - ca.totalDrops();
            assertThat(b.awaitCounters(c -> c.udpToTunPackets() >= sent).udpToTunPackets()).isGreaterThanOrEqualTo(sent);
            assertThat(cb.get(Counter.SEALED_RECEIVED) + cb.drops(DropReason.NOT_IPV4)).isZero();
            assertThat(a.engine.encryption().keylessPeers()).containsExactly(Ipv4.parse(TwoHostUnderlay.UNDERLAY_B));
            // B keeps flannel's MTU (1472): a full-size packet from it reaches A, whose TUN MTU is 29 bytes lower
            assertThat(b.shell("ping -M do -s 1444 -c 1 -W 2 " + a.tunAddress())).contains("1 received");
            assertThat(a.engine.counters().drops(DropReason.OVERSIZED)).isZero();
        }
    }

    @Test
    void preferredRefusesClearTextInTheNameOfAPeerWithAKey() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            final EngineHost a = hosts.startA(MTU, EngineEncryption.create(Encryption.PREFERRED, new byte[0]));
            final EngineHost b = hosts.startB(MTU, EngineEncryption.create(Encryption.PREFERRED, new byte[0]));
            exchangeKeys(a, b);
            assertThat(a.shell("ping -c 1 -W 2 " + b.tunAddress())).contains("1 received");
            final int spoof = RawSockets.open(hosts.nsA.name(), RawSockets.IPPROTO_RAW, 1000);
            final int inside = RawSockets.open(hosts.nsB.name(), 1 /* IPPROTO_ICMP */, 1000);
            try {
                final TrafficCounters before = b.engine.counters();
                spoofed(spoof, packet("100.64.1.0", "100.64.2.0", 84)); // clear text with A's source address
                final TrafficCounters after = b.awaitCounters(c -> c.totalDrops() > before.totalDrops());
                assertThat(delta(before, after, DropReason.CLEAR_TEXT_REFUSED)).isEqualTo(1);
                assertThat(after.get(Counter.CLEAR_RECEIVED)).isEqualTo(before.get(Counter.CLEAR_RECEIVED));
                assertThat(after.udpToTunPackets()).as("the spoofed packet did not reach B's TUN")
                    .isEqualTo(before.udpToTunPackets());
                final int fromA = Ipv4.parse("100.64.1.0");
                assertThat(drainAll(inside)).as("ICMP from 100.64.1.0 seen inside B")
                    .noneMatch(p -> ByteBuffer.wrap(p).getInt(12) == fromA);
            } finally {
                RawSockets.close(spoof);
                RawSockets.close(inside);
            }
        }
    }

    @Test
    void aRestartWithANewKeyResumesWithinASecondOfTheNewKey() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            EngineHost a = hosts.startA(MTU, EngineEncryption.create(Encryption.REQUIRED, new byte[0]));
            final EngineHost b = hosts.startB(MTU, EngineEncryption.create(Encryption.REQUIRED, new byte[0]));
            exchangeKeys(a, b);
            assertThat(a.shell("ping -c 1 -W 2 " + b.tunAddress())).contains("1 received");
            final String oldKey = a.engine.encryption().publicKey();
            hosts.stopA();
            a = hosts.startA(MTU, EngineEncryption.create(Encryption.REQUIRED, new byte[0]));
            assertThat(a.engine.encryption().publicKey()).isNotEqualTo(oldKey);
            final TrafficCounters before = b.engine.counters();
            // before B learns the new key, A's datagrams are under an unknown key
            a.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_B),
                java.util.Base64.getDecoder().decode(b.engine.encryption().publicKey()));
            a.shell("ping -c 1 -W 1 " + b.tunAddress());
            assertThat(b.awaitCounters(c -> c.drops(DropReason.UNKNOWN_KEY) > before.drops(DropReason.UNKNOWN_KEY))
                .drops(DropReason.UNKNOWN_KEY)).isGreaterThan(before.drops(DropReason.UNKNOWN_KEY));
            // the new lease's key reaches B: traffic resumes at once
            final long t0 = System.nanoTime();
            b.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_A),
                java.util.Base64.getDecoder().decode(a.engine.encryption().publicKey()));
            final String out = a.shell("ping -c 1 -W 1 " + b.tunAddress());
            final long millis = (System.nanoTime() - t0) / 1_000_000;
            assertThat(out).contains("1 received");
            assertThat(millis).as("ms from the new key to the first answered ping").isLessThan(1000);
        }
    }

    private static void exchangeKeys(final EngineHost a, final EngineHost b) {
        a.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_B),
            java.util.Base64.getDecoder().decode(b.engine.encryption().publicKey()));
        b.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_A),
            java.util.Base64.getDecoder().decode(a.engine.encryption().publicKey()));
    }

    private static String hex(final String base64) {
        return HexFormat.of().formatHex(java.util.Base64.getDecoder().decode(base64));
    }

    /** Reads captured packets until the socket's timeout. */
    private static List<byte[]> drain(final int fd) {
        final List<byte[]> out = new ArrayList<>();
        while (true) {
            try {
                final byte[] p = RawSockets.receive(fd);
                if (p.length > 28 && ((p[22] & 0xff) << 8 | p[23] & 0xff) == EngineHost.PORT) {
                    out.add(p);
                }
            } catch (java.io.IOException timeout) {
                return out;
            }
        }
    }

    /** Every packet a raw socket holds, until its timeout. */
    private static List<byte[]> drainAll(final int fd) {
        final List<byte[]> out = new ArrayList<>();
        while (true) {
            try {
                out.add(RawSockets.receive(fd));
            } catch (java.io.IOException timeout) {
                return out;
            }
        }
    }

    private static long delta(final TrafficCounters before, final TrafficCounters after, final DropReason r) {
        return after.drops(r) - before.drops(r);
    }

    /** A valid IPv4 ICMP echo request of {@code length} bytes (TTL 64, both checksums set). */
    private static byte[] packet(final String src, final String dst, final int length) {
        return TestPackets.icmpEcho(Ipv4.parse(src), Ipv4.parse(dst), 0, 0, length);
    }

    /** Sends {@code payload} as a UDP datagram 198.18.0.1:8285 → 198.18.0.2:8285 through the raw socket. */
    private static void spoofed(final int raw, final byte[] payload) throws Exception {
        RawSockets.send(raw, TestPackets.udp(Ipv4.parse(TwoHostUnderlay.UNDERLAY_A), EngineHost.PORT,
            Ipv4.parse(TwoHostUnderlay.UNDERLAY_B), EngineHost.PORT, payload), Ipv4.parse(TwoHostUnderlay.UNDERLAY_B));
    }
}
