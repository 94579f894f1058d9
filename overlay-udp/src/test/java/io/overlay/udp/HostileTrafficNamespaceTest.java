package io.overlay.udp;

import static io.overlay.udp.TwoHostUnderlay.NETWORK;
import static io.overlay.udp.TwoHostUnderlay.SUBNET_A;
import static io.overlay.udp.TwoHostUnderlay.SUBNET_B;
import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Hostile and odd traffic on real sockets and TUN devices, two engines in namespaces A (198.18.0.1, 100.64.1.0/24)
 * and B (198.18.0.2, 100.64.2.0/24) as {@link TwoHostUnderlay} sets them up: seeded, bounded fuzzing of both
 * directions with an oracle ({@link PacketFuzz}) of what each packet must become, while a real ping flows; every
 * packet a TUN receives and every datagram on the wire is captured and checked. IPv6 is off in the namespaces, so
 * the kernel puts nothing of its own on the TUNs and the counts are exact.
 */
@Privileged
class HostileTrafficNamespaceTest {
    private static final int MTU = 1472;
    private static final long SEED = 0x5eed_f00dL;
    private static final Ipv4Prefix SUBNET_C = Ipv4Prefix.parse("100.64.3.0/24");
    private static final Ipv4Prefix UNROUTED = Ipv4Prefix.parse("100.64.9.0/24");
    private static final Pattern RECEIVED = Pattern.compile("(\\d+) packets transmitted, (\\d+) received");

    @Test
    void fuzzedDatagramsFromAKnownAndAnUnknownSenderAreAllAccountedForAndOnlyWellFormedOnesReachTheTun()
        throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            noIpv6(hosts.nsA, hosts.nsB);
            hosts.nsA.exec("ip", "addr", "add", "198.18.0.9/24", "dev", "ul0"); // no engine's peer
            final EngineHost a = hosts.startA(MTU, 1, true, true, Map.of());
            final EngineHost b = hosts.startB(MTU, 1, true, true);
            final int capture = PacketSockets.capture(hosts.nsB, b.tun.name(), 300);
            final DatagramChannel known = channel(hosts.nsA, "198.18.0.1", 0);
            final DatagramChannel unknown = channel(hosts.nsA, "198.18.0.9", 0);
            final InetSocketAddress engineB = new InetSocketAddress("198.18.0.2", EngineHost.PORT);
            try {
                final TrafficCounters before = b.engine.counters();
                final Process ping = ping(hosts.nsA, b.tunAddress(), 40);
                final PacketFuzz fuzz = new PacketFuzz(SEED, SUBNET_B, SUBNET_A, MTU, 65507);
                final Map<DropReason, Long> expected = new EnumMap<>(DropReason.class);
                long delivered = 0;
                long sent = 0;
                for (int i = 0; i < 2400; i++) {
                    final boolean fromPeer = i % 8 != 7;
                    final byte[] p = fuzz.next();
                    final DropReason r = fuzz.udpToTun(p, fromPeer, SUBNET_B);
                    assertThat((fromPeer ? known : unknown).send(ByteBuffer.wrap(p), engineB)).isEqualTo(p.length);
                    sent++;
                    if (r == null) {
                        delivered++;
                    } else {
                        expected.merge(r, 1L, Long::sum);
                    }
                    if (i % 50 == 49) { // paced: never more than 50 datagrams in B's receive buffer
                        final long atLeast = sent;
                        b.awaitCounters(c -> udpSideAccounted(before, c) >= atLeast);
                    }
                }
                final int[] echo = finish(ping);
                final long total = sent + echo[1];
                TrafficCounters after = b.awaitCounters(c -> udpSideAccounted(before, c) >= total);
                Thread.sleep(200); // anything more would be a double count
                after = b.engine.counters();
                System.out.printf("B: %d datagrams, %d delivered, drops %s, ping %d/%d%n", sent, delivered, expected,
                    echo[1], echo[0]);
                assertThat(echo[1]).as("the real flow: echo replies").isEqualTo(echo[0]);
                assertThat(udpSideAccounted(before, after)).as("delivered + dropped, NO_ROUTE aside").isEqualTo(total);
                assertThat(after.udpToTunPackets() - before.udpToTunPackets()).as("delivered")
                    .isEqualTo(delivered + echo[1]);
                for (DropReason r : DropReason.values()) {
                    if (r != DropReason.NO_ROUTE) {
                        assertThat(delta(before, after, r)).as("drops for %s", r).isEqualTo(expected.getOrDefault(r, 0L));
                    }
                }
                final List<byte[]> tun = PacketSockets.drain(capture);
                assertThat(RawSockets.drops(capture)).as("capture drops").isZero();
                assertThat(tun).as("packets B's TUN received").hasSizeGreaterThan(echo[1]);
                for (byte[] p : tun) {
                    assertThat(PacketFuzz.wellFormed(p, SUBNET_B)).as("well-formed for B: %s", hex(p)).isTrue();
                }
                assertThat(a.shell("ping -c 2 -i 0.2 -W 2 " + b.tunAddress())).contains("2 received");
            } finally {
                RawSockets.close(capture);
                known.close();
                unknown.close();
            }
        }
    }

    @Test
    void mutatedSealedFramesAreAllDroppedWhileTheRealFlowContinues() throws Exception {
        final int mtu = MTU - EngineEncryption.OVERHEAD;
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            noIpv6(hosts.nsA, hosts.nsB);
            final EngineHost a = hosts.startA(mtu, EngineEncryption.create(Encryption.REQUIRED, new byte[0]));
            final EngineHost b = hosts.startB(mtu, EngineEncryption.create(Encryption.REQUIRED, new byte[0]));
            a.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_B),
                java.util.Base64.getDecoder().decode(b.engine.encryption().publicKey()));
            b.engine.peerKey(Ipv4.parse(TwoHostUnderlay.UNDERLAY_A),
                java.util.Base64.getDecoder().decode(a.engine.encryption().publicKey()));
            final List<byte[]> genuine = new ArrayList<>();
            final int wire = RawSockets.open(hosts.nsB.name(), RawSockets.IPPROTO_UDP, 500, 4 << 20);
            try {
                assertThat(a.shell("ping -c 4 -i 0.2 -W 2 -s 600 " + b.tunAddress())).contains("4 received");
                for (byte[] ip : PacketSockets.drain(wire)) {
                    if (ip.length > 28 && ((ip[22] & 0xff) << 8 | ip[23] & 0xff) == EngineHost.PORT
                        && ByteBuffer.wrap(ip).getInt(12) == Ipv4.parse(TwoHostUnderlay.UNDERLAY_A)) {
                        genuine.add(Arrays.copyOfRange(ip, 28, ip.length));
                    }
                }
            } finally {
                RawSockets.close(wire);
            }
            assertThat(genuine).hasSize(4);
            final int capture = PacketSockets.capture(hosts.nsB, b.tun.name(), 300);
            final DatagramChannel spoof = channel(hosts.nsA, TwoHostUnderlay.UNDERLAY_A, 0); // A's address
            final InetSocketAddress engineB = new InetSocketAddress("198.18.0.2", EngineHost.PORT);
            try {
                final TrafficCounters before = b.engine.counters();
                final Process ping = ping(hosts.nsA, b.tunAddress(), 40);
                final Random random = new Random(SEED);
                long sent = 0;
                for (int i = 0; i < 1500; i++) {
                    final byte[] frame = mutate(genuine.get(random.nextInt(genuine.size())), random);
                    assertThat(spoof.send(ByteBuffer.wrap(frame), engineB)).isEqualTo(frame.length);
                    sent++;
                    if (i % 50 == 49) {
                        final long atLeast = sent;
                        b.awaitCounters(c -> udpSideDrops(before, c) >= atLeast);
                    }
                }
                final int[] echo = finish(ping);
                final long all = sent;
                TrafficCounters after = b.awaitCounters(c -> udpSideDrops(before, c) >= all
                    && c.udpToTunPackets() - before.udpToTunPackets() >= echo[1]);
                Thread.sleep(200);
                after = b.engine.counters();
                System.out.printf("B: %d mutated sealed frames: tampered %d, unknown key %d, replayed %d, clear %d%n",
                    sent, delta(before, after, DropReason.TAMPERED), delta(before, after, DropReason.UNKNOWN_KEY),
                    delta(before, after, DropReason.REPLAYED), delta(before, after, DropReason.CLEAR_TEXT_REFUSED));
                assertThat(echo[1]).as("the real flow: echo replies").isEqualTo(echo[0]);
                assertThat(udpSideDrops(before, after)).as("every mutated frame dropped").isEqualTo(sent);
                assertThat(after.udpToTunPackets() - before.udpToTunPackets()).as("only the real flow delivered")
                    .isEqualTo(echo[1]);
                assertThat(after.get(Counter.SEALED_RECEIVED) - before.get(Counter.SEALED_RECEIVED))
                    .isEqualTo(echo[1]);
                for (byte[] p : PacketSockets.drain(capture)) {
                    assertThat(PacketFuzz.wellFormed(p, SUBNET_B)).as("well-formed for B: %s", hex(p)).isTrue();
                }
            } finally {
                RawSockets.close(capture);
                spoof.close();
            }
        }
    }

    @ParameterizedTest(name = "offloads {0}")
    @ValueSource(booleans = {true, false})
    void randomFramesWrittenIntoTheTunLeaveOnlyAsWellFormedDatagramsAndAreAllCounted(final boolean offloads)
        throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay(); Netns nsC = Netns.create()) {
            Netns.link(hosts.nsA, "ul1", "198.18.1.1/24", nsC, "ul1", "198.18.1.2/24", 1500);
            noIpv6(hosts.nsA, hosts.nsB);
            final EngineHost a = hosts.startA(MTU, 1, true, offloads,
                Map.of(SUBNET_C, new Peer(Ipv4.parse("198.18.1.2"), EngineHost.PORT)));
            final EngineHost b = hosts.startB(MTU, 1, true, offloads);
            final DatagramChannel peerC = channel(nsC, "198.18.1.2", EngineHost.PORT); // a flannel peer's socket
            peerC.configureBlocking(false);
            final int writer = PacketSockets.writer(hosts.nsA);
            final int index = PacketSockets.ifindex(hosts.nsA, a.tun.name());
            try {
                final TrafficCounters before = a.engine.counters();
                final Process ping = ping(hosts.nsA, b.tunAddress(), 40);
                final PacketFuzz fuzz = new PacketFuzz(SEED + (offloads ? 1 : 2), SUBNET_C, UNROUTED, MTU, MTU);
                final Map<DropReason, Long> expected = new EnumMap<>(DropReason.class);
                final List<byte[]> onWire = new ArrayList<>();
                long forwarded = 0;
                long written = 0;
                long refused = 0;
                for (int i = 0; i < 2000; i++) {
                    final byte[] p = fuzz.next();
                    if (!PacketSockets.send(writer, index, p)) {
                        refused++;
                        continue;
                    }
                    written++;
                    final DropReason r = fuzz.tunToUdp(p, NETWORK, SUBNET_B, SUBNET_C);
                    if (r == null) {
                        forwarded++;
                    } else {
                        expected.merge(r, 1L, Long::sum);
                    }
                    if (i % 50 == 49) {
                        final long atLeast = written;
                        a.awaitCounters(c -> tunSideAccounted(before, c) >= atLeast);
                        receiveAll(peerC, onWire);
                    }
                }
                final int[] echo = finish(ping);
                final long total = written + echo[0];
                TrafficCounters after = a.awaitCounters(c -> tunSideAccounted(before, c) >= total);
                Thread.sleep(200);
                after = a.engine.counters();
                receiveAll(peerC, onWire);
                System.out.printf("A (offloads %s): %d frames written, %d refused by the kernel, %d forwarded to C, "
                    + "drops %s%n", offloads, written, refused, forwarded, expected);
                assertThat(echo[1]).as("the real flow: echo replies").isEqualTo(echo[0]);
                for (byte[] p : onWire) {
                    assertThat(p.length).isLessThanOrEqualTo(MTU);
                    assertThat(PacketFuzz.wellFormed(p, SUBNET_C)).as("well-formed on the wire: %s", hex(p)).isTrue();
                }
                assertThat(tunSideAccounted(before, after)).as("sent + dropped").isEqualTo(total);
                for (DropReason r : DropReason.values()) {
                    assertThat(delta(before, after, r)).as("drops for %s", r).isEqualTo(expected.getOrDefault(r, 0L));
                }
                assertThat((long) onWire.size()).as("datagrams C received").isEqualTo(forwarded);
                assertThat(after.tunToUdpPackets() - before.tunToUdpPackets()).isEqualTo(forwarded + echo[0]);
            } finally {
                RawSockets.close(writer);
                peerC.close();
            }
        }
    }

    @Test
    void randomGsoSuperPacketsWrittenIntoTheTunLeaveOnlyAsWellFormedDatagramsOfAtMostTheMtu() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay(); Netns nsC = Netns.create()) {
            Netns.link(hosts.nsA, "ul1", "198.18.1.1/24", nsC, "ul1", "198.18.1.2/24", 1500);
            noIpv6(hosts.nsA, hosts.nsB);
            final EngineHost a = hosts.startA(MTU, 1, true, true,
                Map.of(SUBNET_C, new Peer(Ipv4.parse("198.18.1.2"), EngineHost.PORT)));
            final EngineHost b = hosts.startB(MTU, 1, true, true);
            final DatagramChannel peerC = channel(nsC, "198.18.1.2", EngineHost.PORT);
            peerC.configureBlocking(false);
            final int writer = PacketSockets.vnetWriter(hosts.nsA);
            final int index = PacketSockets.ifindex(hosts.nsA, a.tun.name());
            try {
                final TrafficCounters before = a.engine.counters();
                final Process ping = ping(hosts.nsA, b.tunAddress(), 40);
                final Random random = new Random(SEED + 3);
                final List<byte[]> onWire = new ArrayList<>();
                long written = 0;
                for (int i = 0; i < 400; i++) {
                    if (PacketSockets.send(writer, index, superPacket(random))) {
                        written++;
                    }
                    if (i % 2 == 1) { // up to 28 datagrams: C's receive buffer (net.core.rmem_max) holds them
                        final long atLeast = written;
                        a.awaitCounters(c -> tunSideAccounted(before, c) >= atLeast);
                        receiveAll(peerC, onWire);
                    }
                }
                final int[] echo = finish(ping);
                final long frames = written;
                a.awaitCounters(c -> tunSideAccounted(before, c) >= frames + echo[0]);
                Thread.sleep(300);
                final TrafficCounters after = a.engine.counters();
                receiveAll(peerC, onWire);
                System.out.printf("A: %d GSO frames written, %d segmented, %d refused as %s, %d datagrams to C, "
                    + "%d more dropped by C's kernel%n", written, after.get(Counter.TUN_SUPER_PACKETS) - before.get(Counter.TUN_SUPER_PACKETS),
                    delta(before, after, DropReason.BAD_VNET_HEADER), DropReason.BAD_VNET_HEADER, onWire.size(),
                    rcvbufErrors(nsC));
                assertThat(echo[1]).as("the real flow: echo replies").isEqualTo(echo[0]);
                assertThat(after.get(Counter.TUN_SUPER_PACKETS) - before.get(Counter.TUN_SUPER_PACKETS))
                    .as("super-packets segmented").isPositive();
                for (byte[] p : onWire) {
                    assertThat(p.length).isLessThanOrEqualTo(MTU);
                    assertThat(PacketFuzz.wellFormed(p, SUBNET_C)).as("well-formed on the wire: %s", hex(p)).isTrue();
                }
                assertThat(delta(before, after, DropReason.SEND_FAILED)).isZero();
                final long overflow = rcvbufErrors(nsC); // a burst of segments may exceed C's small receive buffer
                assertThat(after.tunToUdpPackets() - before.tunToUdpPackets())
                    .as("sent: C's datagrams (received or dropped by C's kernel for room) and the pings")
                    .isEqualTo(onWire.size() + overflow + echo[0]);
                assertThat(a.shell("ping -c 2 -i 0.2 -W 2 " + b.tunAddress())).contains("2 received");
            } finally {
                RawSockets.close(writer);
                peerC.close();
            }
        }
    }

    /**
     * A virtio_net_hdr and a TCP or UDP packet for C's subnet of up to 20 KB, the header's fields mostly plausible
     * (TCPV4 or UDP_L4, NEEDS_CSUM at the transport header, gso_size near the MSS) and sometimes not, the packet
     * sometimes with options, a fragment offset or a wrong length.
     */
    private static byte[] superPacket(final Random random) {
        final byte[] payload = new byte[random.nextInt(20_000)];
        random.nextBytes(payload);
        final boolean udp = random.nextInt(4) == 0;
        final int dst = SUBNET_C.address() | (1 + random.nextInt(254));
        final byte[] p = udp ? io.overlay.testing.TestPackets.udp(SUBNET_A.address() | 5, 4000, dst, 4000, payload)
            : io.overlay.testing.TestPackets.tcp(SUBNET_A.address() | 5, dst, random.nextInt(65536), random.nextInt(),
                payload, random.nextInt(4) == 0 ? random.nextInt(256) : 0x10, true);
        if (udp) {
            io.overlay.testing.TestPackets.seedPartial(p);
        }
        switch (random.nextInt(10)) {
            case 0:
                p[6] = (byte) (0x20 | random.nextInt(32)); // a fragment
                io.overlay.testing.TestPackets.fixIp(p);
                break;
            case 1:
                io.overlay.testing.TestPackets.put16(p, 2, random.nextInt(65536)); // total length
                io.overlay.testing.TestPackets.fixIp(p);
                break;
            case 2:
                p[random.nextInt(Math.min(p.length, 60))] ^= (byte) (1 << random.nextInt(8)); // a header bit
                break;
            default:
                break;
        }
        final int transport = udp ? 8 : 20;
        final ByteBuffer h = ByteBuffer.allocate(10 + p.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        final int gsoType = random.nextInt(8) == 0 ? random.nextInt(256) : udp ? 5 : random.nextInt(6) == 0 ? 0x81 : 1;
        h.put(0, (byte) (random.nextInt(8) == 0 ? random.nextInt(4) : 1)); // flags: NEEDS_CSUM
        h.put(1, (byte) gsoType);
        h.putShort(2, (short) (random.nextInt(8) == 0 ? random.nextInt(200) : 20 + transport)); // hdr_len
        h.putShort(4, (short) (random.nextInt(8) == 0 ? random.nextInt(3000) : 1400 + random.nextInt(60)));
        h.putShort(6, (short) (random.nextInt(8) == 0 ? random.nextInt(100) : 20)); // csum_start
        h.putShort(8, (short) (random.nextInt(8) == 0 ? random.nextInt(40) : udp ? 6 : 16)); // csum_offset
        h.put(10, p);
        return h.array();
    }

    @Test
    void innerFragmentsOptionsBroadcastsAndIcmpErrorsCrossUntouchedAndMulticastIsDroppedAsFlannelsPeersWould()
        throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            noIpv6(hosts.nsA, hosts.nsB);
            final EngineHost a = hosts.startA(MTU, 1, true, true, Map.of());
            final EngineHost b = hosts.startB(MTU, 1, true, true);
            // 4008 bytes of ICMP: A's kernel cuts each echo into 3 fragments (1448 + 1448 + 1112 bytes of data) that
            // cross one datagram each and are reassembled by B's kernel; the replies come back the same way
            final TrafficCounters beforeFragments = a.engine.counters();
            assertThat(a.shell("ping -M dont -s 4000 -c 3 -i 0.2 -W 2 " + b.tunAddress())).contains("3 received");
            TrafficCounters afterA = a.awaitCounters(
                c -> c.udpToTunPackets() - beforeFragments.udpToTunPackets() >= 9);
            assertThat(afterA.tunToUdpPackets() - beforeFragments.tunToUdpPackets()).as("request fragments sent")
                .isEqualTo(9);
            assertThat(afterA.udpToTunPackets() - beforeFragments.udpToTunPackets()).as("reply fragments delivered")
                .isEqualTo(9);
            assertThat(afterA.totalDrops()).isEqualTo(beforeFragments.totalDrops());
            TrafficCounters beforeA;
            // IP options (record route, timestamps: IHL 15 and 10 or more) cross as they are
            assertThat(a.shell("ping -R -c 2 -i 0.2 -W 2 " + b.tunAddress())).contains("2 received").contains("RR:");
            assertThat(a.shell("ping -T tsonly -c 2 -i 0.2 -W 2 " + b.tunAddress())).contains("2 received")
                .contains("TS:");
            // the broadcast address of B's subnet: routed to B like any of its addresses, as flanneld's find_route
            // does (B's kernel, which owns no address of it, then drops it)
            beforeA = a.engine.counters();
            final TrafficCounters beforeB = b.engine.counters();
            a.shell("ping -b -c 1 -W 1 100.64.2.255");
            final TrafficCounters afterB = b.awaitCounters(c -> c.udpToTunPackets() > beforeB.udpToTunPackets());
            assertThat(afterB.udpToTunPackets() - beforeB.udpToTunPackets()).as("delivered to B's TUN").isEqualTo(1);
            assertThat(a.engine.counters().tunToUdpPackets() - beforeA.tunToUdpPackets()).isEqualTo(1);
            // multicast sent into the TUN: outside the Network, dropped without an answer; flanneld answers it with
            // a net unreachable from flannel0's own address, which the sender's kernel discards as a martian
            hosts.nsA.exec("ip", "route", "add", "224.0.0.0/4", "dev", a.tun.name());
            final TrafficCounters beforeMulticast = a.engine.counters();
            beforeA = beforeMulticast;
            a.shell("ping -c 1 -W 1 -t 5 239.1.2.3");
            final TrafficCounters multicast = a.awaitCounters(
                c -> delta(beforeMulticast, c, DropReason.OUTSIDE_NETWORK) > 0);
            assertThat(delta(beforeA, multicast, DropReason.OUTSIDE_NETWORK)).isEqualTo(1);
            assertThat(multicast.icmpUnreachableSent()).isEqualTo(beforeA.icmpUnreachableSent());
            assertThat(multicast.tunToUdpPackets()).isEqualTo(beforeA.tunToUdpPackets());
            // an ICMP error quoting the inner IP and UDP headers crosses back: A's socket learns the port is closed
            final TrafficCounters beforeError = b.engine.counters();
            NetnsThread.call(hosts.nsA.name(), () -> {
                try (java.net.DatagramSocket s = new java.net.DatagramSocket(
                    new InetSocketAddress(a.tunAddress(), 0))) {
                    s.setSoTimeout(3000);
                    s.connect(new InetSocketAddress(b.tunAddress(), 9));
                    s.send(new java.net.DatagramPacket(new byte[16], 16));
                    final java.net.DatagramPacket in = new java.net.DatagramPacket(new byte[64], 64);
                    org.assertj.core.api.Assertions.assertThatThrownBy(() -> s.receive(in))
                        .isInstanceOf(java.net.PortUnreachableException.class);
                }
                return null;
            });
            assertThat(b.engine.counters().tunToUdpPackets() - beforeError.tunToUdpPackets())
                .as("B's port unreachable sent to A").isGreaterThanOrEqualTo(1);
        }
    }

    @Test
    void ecnTcpCrossesAndAFlowRecoversFromAReceiveBufferOverflowThatTheKernelCounts() throws Exception {
        try (TwoHostUnderlay hosts = new TwoHostUnderlay()) {
            noIpv6(hosts.nsA, hosts.nsB);
            for (Netns ns : new Netns[] {hosts.nsA, hosts.nsB}) {
                ns.exec("sysctl", "-q", "-w", "net.ipv4.tcp_ecn=1"); // these namespaces only
            }
            final EngineHost a = hosts.startA(MTU, 1, true, true, Map.of());
            final EngineHost b = hosts.startB(MTU, 1, true, true);
            assertThat(a.engine.offloads().udpGro()).as("offloads on (the default)").isTrue();
            // no qdisc here marks congestion (no sch_netem or fq_codel in a container), so A's own firewall, in its
            // namespace, marks every 20th of the flow's ECT(0) packets CE as a congested router would (a counter, not
            // a random draw: the hook sees TSO super-packets, ~160 for 10 MiB, and 2 % at random left every data
            // packet unmarked in about one run in thirty)
            final Process nft = hosts.nsA.spawn(new ProcessBuilder("nft", "-f", "-").redirectErrorStream(true));
            try (java.io.OutputStream in = nft.getOutputStream()) {
                in.write(("table ip ovtecn { chain out { type filter hook output priority 0; policy accept; "
                    + "ip daddr " + b.tunAddress() + " tcp dport 5211 ip ecn ect0 numgen inc mod 20 0 "
                    + "ip ecn set ce; }; }\n").getBytes(StandardCharsets.US_ASCII));
            }
            assertThat(nft.waitFor(10, TimeUnit.SECONDS) && nft.exitValue() == 0).as("nft rule").isTrue();
            final int captureB = PacketSockets.capture(hosts.nsB, b.tun.name(), 300);
            final int captureA = PacketSockets.capture(hosts.nsA, a.tun.name(), 300);
            try {
                hosts.iperf(5211, "-n 10M");
                final List<byte[]> atB = PacketSockets.drain(captureB);
                final List<byte[]> atA = PacketSockets.drain(captureA);
                assertThat(atB).as("an ECN-setup SYN (ECE and CWR) reached B")
                    .anyMatch(p -> p[9] == 6 && (p[33] & 0xd2) == 0xc2);
                assertThat(atB).as("ECN-capable data (ECT(0)) reached B untouched")
                    .anyMatch(p -> p[9] == 6 && p.length > 100 && (p[1] & 3) == 2);
                assertThat(atB).as("CE-marked data reached B untouched")
                    .anyMatch(p -> p[9] == 6 && p.length > 100 && (p[1] & 3) == 3);
                assertThat(atA).as("B's echo of the congestion (ECE on an ACK) reached A")
                    .anyMatch(p -> p[9] == 6 && (p[33] & 0x42) == 0x40);
                assertThat(atB).as("A's congestion window reduced (CWR on data) reached B")
                    .anyMatch(p -> p[9] == 6 && (p[33] & 0x82) == 0x80);
                for (byte[] p : atB) {
                    assertThat(PacketFuzz.wellFormed(p, SUBNET_B)).as("well-formed for B: %s", hex(p)).isTrue();
                }
                for (byte[] p : atA) {
                    assertThat(PacketFuzz.wellFormed(p, SUBNET_A)).as("well-formed for A: %s", hex(p)).isTrue();
                }
            } finally {
                RawSockets.close(captureB);
                RawSockets.close(captureA);
            }
            assertThat(b.engine.counters().get(Counter.COALESCER_BAD_CHECKSUMS)).isZero();

            // A TCP flow runs while B's loop is held and a burst from A's address (8000 datagrams of 1400 bytes,
            // far more than B's 4 MiB receive buffer holds) arrives: the kernel drops what does not fit and counts
            // it; the flow recovers once the loop runs again.
            final long overflowBefore = rcvbufErrors(hosts.nsB);
            final java.util.concurrent.ExecutorService runner = java.util.concurrent.Executors.newSingleThreadExecutor();
            final DatagramChannel known = channel(hosts.nsA, TwoHostUnderlay.UNDERLAY_A, 0);
            try {
                final java.util.concurrent.Future<String> flow = runner.submit(() -> hosts.iperf(5212, "-t 5"));
                Thread.sleep(1500);
                final java.util.concurrent.CountDownLatch release = b.holdLoop(java.time.Duration.ofSeconds(3));
                try {
                    final byte[] burst = TestPacketsHolder.ECHO_TO_B_77;
                    final InetSocketAddress engineB = new InetSocketAddress("198.18.0.2", EngineHost.PORT);
                    for (int i = 0; i < 8000; i++) {
                        known.send(ByteBuffer.wrap(burst), engineB);
                    }
                    Thread.sleep(300);
                } finally {
                    release.countDown();
                }
                assertThat(flow.get(60, TimeUnit.SECONDS)).contains("receiver");
                final long overflow = rcvbufErrors(hosts.nsB) - overflowBefore;
                System.out.printf("B's kernel dropped %d datagrams for a full receive buffer%n", overflow);
                assertThat(overflow).as("datagrams B's kernel dropped").isPositive();
                assertThat(a.shell("ping -c 2 -i 0.2 -W 2 " + b.tunAddress())).contains("2 received");
            } finally {
                runner.shutdownNow();
                known.close();
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    /** A frame mutated so that no receiver may accept it. */
    private static byte[] mutate(final byte[] genuine, final Random random) {
        final byte[] f = genuine.clone();
        switch (random.nextInt(8)) {
            case 0: // bits flipped anywhere, the marker included
                for (int i = random.nextInt(3); i >= 0; i--) {
                    final int at = random.nextInt(f.length);
                    f[at] ^= (byte) (1 << random.nextInt(8));
                }
                return f;
            case 1: // counter changed: a fresh nonce under the same tag
                f[5 + random.nextInt(8)] ^= (byte) (1 + random.nextInt(255));
                return f;
            case 2:
                return Arrays.copyOf(f, random.nextInt(f.length)); // truncated, down to nothing
            case 3: {
                final byte[] g = Arrays.copyOf(f, f.length + 1 + random.nextInt(64)); // extended
                for (int i = f.length; i < g.length; i++) {
                    g[i] = (byte) random.nextInt();
                }
                return g;
            }
            case 4:
                return f; // replayed: every genuine frame was opened already
            case 5: { // the marker, then junk
                final byte[] g = new byte[random.nextInt(1500)];
                random.nextBytes(g);
                if (g.length > 0) {
                    g[0] = (byte) 0xE1;
                }
                return g;
            }
            case 6: { // key id of another key
                f[1 + random.nextInt(4)] ^= (byte) (1 + random.nextInt(255));
                return f;
            }
            default: { // tag or ciphertext changed
                f[13 + random.nextInt(f.length - 13)] ^= (byte) (1 + random.nextInt(255));
                return f;
            }
        }
    }

    /** B's UDP side: delivered plus dropped, NO_ROUTE aside (only the TUN side drops that: B's kernel's answers). */
    private static long udpSideAccounted(final TrafficCounters before, final TrafficCounters after) {
        return after.udpToTunPackets() - before.udpToTunPackets() + udpSideDrops(before, after);
    }

    private static long udpSideDrops(final TrafficCounters before, final TrafficCounters after) {
        return after.totalDrops() - before.totalDrops() - delta(before, after, DropReason.NO_ROUTE);
    }

    /** A's TUN side: sent plus dropped (A's UDP side only receives echo replies, delivered). */
    private static long tunSideAccounted(final TrafficCounters before, final TrafficCounters after) {
        return after.tunToUdpPackets() - before.tunToUdpPackets() + after.totalDrops() - before.totalDrops();
    }

    private static long delta(final TrafficCounters before, final TrafficCounters after, final DropReason r) {
        return after.drops(r) - before.drops(r);
    }

    /** The namespaces' kernels put no IPv6 (router solicitations, MLD) on the TUNs made after this. */
    private static void noIpv6(final Netns... namespaces) throws IOException {
        for (Netns ns : namespaces) {
            ns.exec("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
            ns.exec("sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1");
        }
    }

    private static DatagramChannel channel(final Netns ns, final String address, final int port) throws Exception {
        return NetnsThread.call(ns.name(), () -> DatagramChannel.open(StandardProtocolFamily.INET)
            .bind(new InetSocketAddress(address, port)));
    }

    /** A bounded ping in the background: {@code count} echoes 50 ms apart. */
    private static Process ping(final Netns ns, final String to, final int count) throws IOException {
        return ns.spawn(new ProcessBuilder("timeout", "20", "ping", "-c", String.valueOf(count), "-i", "0.05", "-W",
            "2", to).redirectErrorStream(true));
    }

    /** Waits for a {@link #ping} and returns {transmitted, received}. */
    private static int[] finish(final Process ping) throws Exception {
        assertThat(ping.waitFor(25, TimeUnit.SECONDS)).as("ping finished").isTrue();
        final String out = new String(ping.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        final Matcher m = RECEIVED.matcher(out);
        assertThat(m.find()).as("ping summary in %s", out).isTrue();
        return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
    }

    private static void receiveAll(final DatagramChannel channel, final List<byte[]> into) throws IOException {
        final ByteBuffer buf = ByteBuffer.allocate(65536);
        while (true) {
            buf.clear();
            if (channel.receive(buf) == null) {
                return;
            }
            buf.flip();
            final byte[] d = new byte[buf.remaining()];
            buf.get(d);
            into.add(d);
        }
    }

    /** Datagrams the kernel dropped for a full receive buffer in {@code ns} ({@code Udp: RcvbufErrors}). */
    private static long rcvbufErrors(final Netns ns) throws IOException {
        final List<String> udp = ns.exec("cat", "/proc/net/snmp").lines().filter(l -> l.startsWith("Udp: ")).toList();
        final List<String> names = List.of(udp.get(0).split("\\s+"));
        return Long.parseLong(udp.get(1).split("\\s+")[names.indexOf("RcvbufErrors")]);
    }

    /** Packets built once for the tests. */
    private static final class TestPacketsHolder {
        /** A 1400-byte echo request 100.64.1.9 → 100.64.2.77 (an address B's kernel does not own: dropped). */
        static final byte[] ECHO_TO_B_77 = io.overlay.testing.TestPackets.icmpEcho(Ipv4.parse("100.64.1.9"),
            Ipv4.parse("100.64.2.77"), 0, 0, 1400);
    }

    private static String hex(final byte[] p) {
        return java.util.HexFormat.of().formatHex(p, 0, Math.min(p.length, 64)) + " (" + p.length + " bytes)";
    }
}
