package io.overlay.udp;

import static io.overlay.udp.TwoHostUnderlay.NETWORK;
import static io.overlay.udp.TwoHostUnderlay.SUBNET_A;
import static io.overlay.udp.TwoHostUnderlay.SUBNET_B;
import static io.overlay.udp.TwoHostUnderlay.UNDERLAY_B;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.management.ThreadMXBean;
import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.EngineTuning;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import io.overlay.tun.LinuxTunDevice;
import io.overlay.tun.LinuxTunDeviceFactory;
import io.overlay.tun.NetnsThread;
import io.overlay.udp.wire.InetChecksum;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Two hosts (namespaces A and B) on a veth underlay 198.18.0.1/24 ↔ 198.18.0.2/24 (MTU 1500), each with a TUN
 * configured like flannel0 and a {@link UdpPacketEngine}; overlay Network 100.64.0.0/16, A owns 100.64.1.0/24 (TUN
 * 100.64.1.0), B owns 100.64.2.0/24 (TUN 100.64.2.0). A third namespace C (198.18.1.2, linked to A) stands in for
 * a flannel peer owning 100.64.3.0/24 and captures what A sends with raw and plain sockets.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UdpEngineNamespaceTest {
    private static final Ipv4Prefix SUBNET_C = Ipv4Prefix.parse("100.64.3.0/24");
    private static final int MTU = 1472;

    private TwoHostUnderlay hosts;
    private Netns nsC;
    private EngineHost a;
    private EngineHost b;

    @BeforeAll
    void setUp() throws Exception {
        hosts = new TwoHostUnderlay();
        nsC = Netns.create();
        Netns.link(hosts.nsA, "ul1", "198.18.1.1/24", nsC, "ul1", "198.18.1.2/24", 1500);
        nsC.exec("ip", "route", "add", "198.18.0.0/24", "dev", "ul1");
        hosts.nsA.exec("ip", "addr", "add", "198.18.0.9/24", "dev", "ul0"); // an address no engine knows as a peer
        a = hosts.startA(MTU, 1, true, true, Map.of(SUBNET_C, new Peer(Ipv4.parse("198.18.1.2"), EngineHost.PORT)));
        b = hosts.startB(MTU, 1, true, true);
    }

    @AfterAll
    void tearDown() throws Exception {
        try (Netns closeC = nsC) {
            if (hosts != null) {
                hosts.close();
            }
        }
    }

    @Test
    void pingWorksBothWays() throws Exception {
        final TrafficCounters beforeA = a.engine.counters();
        assertThat(a.shell("ping -c 3 -i 0.2 -W 2 " + b.tunAddress())).contains("3 received").endsWith("rc=0\n");
        assertThat(b.shell("ping -c 3 -i 0.2 -W 2 " + a.tunAddress())).contains("3 received").endsWith("rc=0\n");
        final TrafficCounters afterA = a.engine.counters();
        // A sent 3 requests + 3 replies and received 3 replies + 3 requests, 84 bytes each.
        assertThat(afterA.tunToUdpPackets() - beforeA.tunToUdpPackets()).isEqualTo(6);
        assertThat(afterA.tunToUdpBytes() - beforeA.tunToUdpBytes()).isEqualTo(6 * 84);
        assertThat(afterA.udpToTunPackets() - beforeA.udpToTunPackets()).isEqualTo(6);
        assertThat(afterA.udpToTunBytes() - beforeA.udpToTunBytes()).isEqualTo(6 * 84);
    }

    @Test
    void fullMtuDontFragmentPingPassesAndOneByteMoreIsRefusedLocally() throws Exception {
        final int size = MTU - 28; // 1444 + 8 ICMP + 20 IP = 1472, outer datagram 1500 = underlay MTU
        assertThat(a.shell("ping -M do -s " + size + " -c 2 -i 0.2 -W 2 " + b.tunAddress()))
            .contains("2 received").endsWith("rc=0\n");
        assertThat(a.shell("ping -M do -s " + (size + 1) + " -c 1 -W 1 " + b.tunAddress()))
            .containsIgnoringCase("message too long").doesNotEndWith("rc=0\n");
    }

    @Test
    void iperf3TcpTransferCompletes() throws Exception {
        final TrafficCounters before = b.engine.counters();
        iperf("-n 20M");
        // iperf3 stops counting at its end-of-test message, so a little of the 20 MiB may still be in flight.
        assertThat(b.engine.counters().udpToTunBytes() - before.udpToTunBytes()).isGreaterThan(15L << 20);
    }

    @Test
    void steadyStateForwardingAllocatesNothingPerPacket() throws Exception {
        // Warm up (JIT, first-use class loading), then measure the bytes the event-loop threads allocate while
        // iperf3 pushes 20 MiB (about 15,000 full-size packets each way through two engines).
        final ThreadMXBean threads =
            (ThreadMXBean) ManagementFactory.getThreadMXBean();
        iperf("-n 5M");
        final long[] ids = Thread.getAllStackTraces().keySet().stream()
            .filter(t -> t.getName().startsWith("overlay-udp")).mapToLong(Thread::getId).toArray();
        assertThat(ids).hasSizeGreaterThanOrEqualTo(2);
        final TrafficCounters countersBefore = b.engine.counters();
        final long before = Arrays.stream(threads.getThreadAllocatedBytes(ids)).sum();
        iperf("-n 20M");
        final long allocated = Arrays.stream(threads.getThreadAllocatedBytes(ids)).sum() - before;
        final TrafficCounters countersAfter = b.engine.counters();
        final long packets = countersAfter.udpToTunPackets() - countersBefore.udpToTunPackets();
        System.out.printf("loops allocated %d bytes while B delivered %d packets, %d bytes%n", allocated, packets,
            countersAfter.udpToTunBytes() - countersBefore.udpToTunBytes());
        // iperf3 stops counting at its end-of-test message, so a little of the 20 MiB may still be in flight.
        assertThat(countersAfter.udpToTunBytes() - countersBefore.udpToTunBytes()).isGreaterThan(15L << 20);
        assertThat(packets).isGreaterThan(10_000);
        // Netty's loop may allocate a little per wake-up (tasks, timers), but far less than one object per packet.
        assertThat(allocated).as("bytes allocated by the loops for %d packets", packets).isLessThan(packets);
    }

    private void iperf(final String amount) throws Exception {
        hosts.iperf(5202, amount);
    }

    @Test
    void forwardedDatagramMatchesFlannelWireFormatByteForByte() throws Exception {
        // flannel's wire format (docs/flannel-compatibility.md#wire-format): an 84-byte ICMP echo goes out as UDP
        // 8285 -> 8285 from the host's underlay address to the peer's PublicIP, payload = the inner packet with
        // TTL - 1 and its header checksum patched, outer 112 B.
        final String echo = "450000541234400040015bf0644001006440030508003f2300070001"
            + "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
            + "4041424344454647";
        final String forwarded = "45000054123440003f015cf0644001006440030508003f2300070001"
            + "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
            + "4041424344454647";
        final int capture = RawSockets.open(nsC.name(), RawSockets.IPPROTO_UDP, 5000);
        final DatagramChannel peer = NetnsThread.call(nsC.name(), () -> DatagramChannel.open(StandardProtocolFamily.INET)
            .bind(new InetSocketAddress("198.18.1.2", EngineHost.PORT)));
        final int inject = RawSockets.open(hosts.nsA.name(), RawSockets.IPPROTO_RAW, 1000);
        try {
            final TrafficCounters before = a.engine.counters();
            // First a TTL-1 copy: the engine must drop it (TTL would reach 0), so it never reaches C.
            final byte[] ttlOne = TestPackets.bytes(echo);
            ttlOne[8] = 1;
            final ByteBuffer header = ByteBuffer.wrap(ttlOne);
            header.putShort(10, (short) InetChecksum.ipv4Header(header, 0, 20));
            RawSockets.send(inject, ttlOne, Ipv4.parse("100.64.3.5"));
            RawSockets.send(inject, TestPackets.bytes(echo), Ipv4.parse("100.64.3.5"));

            final byte[] outer = RawSockets.receive(capture);
            assertThat(outer).hasSize(112);
            final ByteBuffer o = ByteBuffer.wrap(outer);
            assertThat(o.get(0)).isEqualTo((byte) 0x45);
            assertThat(o.getShort(2) & 0xffff).as("outer total length").isEqualTo(112);
            assertThat(o.get(9)).as("outer protocol UDP").isEqualTo((byte) 17);
            assertThat(o.getInt(12)).as("outer source = A's bind address").isEqualTo(Ipv4.parse("198.18.0.1"));
            assertThat(o.getInt(16)).as("outer destination = the peer's PublicIP").isEqualTo(Ipv4.parse("198.18.1.2"));
            assertThat(o.getShort(20) & 0xffff).as("source port").isEqualTo(8285);
            assertThat(o.getShort(22) & 0xffff).as("destination port").isEqualTo(8285);
            assertThat(o.getShort(24) & 0xffff).as("UDP length").isEqualTo(92);
            assertThat(Arrays.copyOfRange(outer, 28, 112)).isEqualTo(TestPackets.bytes(forwarded));

            final ByteBuffer payload = ByteBuffer.allocate(2048);
            final InetSocketAddress sender = (InetSocketAddress) peer.receive(payload);
            assertThat(sender).isEqualTo(new InetSocketAddress("198.18.0.1", EngineHost.PORT));
            payload.flip();
            final byte[] received = new byte[payload.remaining()];
            payload.get(received);
            assertThat(received).isEqualTo(TestPackets.bytes(forwarded));

            // The loop counts a datagram after sendmsg returns, so C may hold it before the count is published.
            final TrafficCounters after = a.awaitCounters(c -> c.drops(DropReason.TTL_EXPIRED)
                > before.drops(DropReason.TTL_EXPIRED) && c.tunToUdpBytes() > before.tunToUdpBytes());
            assertThat(after.drops(DropReason.TTL_EXPIRED)).isEqualTo(before.drops(DropReason.TTL_EXPIRED) + 1);
            assertThat(after.tunToUdpBytes() - before.tunToUdpBytes()).isEqualTo(84);
        } finally {
            RawSockets.close(capture);
            RawSockets.close(inject);
            peer.close();
        }
    }

    @Test
    void aBatchOfEqualPacketsLeavesAsTheSameIndividualDatagrams() throws Exception {
        // Hold A's loop while 8 packets queue up in the TUN, so one pass reads them all and sends them as one UDP GSO
        // message (7 × 84 bytes + a shorter last one); C must still receive 8 ordinary datagrams, byte for byte.
        final DatagramChannel peer = NetnsThread.call(nsC.name(), () -> DatagramChannel.open(StandardProtocolFamily.INET)
            .bind(new InetSocketAddress("198.18.1.2", EngineHost.PORT)));
        final int inject = RawSockets.open(hosts.nsA.name(), RawSockets.IPPROTO_RAW, 1000);
        try {
            final CountDownLatch release = a.holdLoop(Duration.ofSeconds(5));
            final byte[][] sent = new byte[8][];
            for (int i = 0; i < 8; i++) {
                sent[i] = packet("100.64.1.0", "100.64.3." + (10 + i), i == 7 ? 60 : 84);
                RawSockets.send(inject, sent[i], Ipv4.parse("100.64.3." + (10 + i)));
            }
            release.countDown();
            final ByteBuffer buf = ByteBuffer.allocate(2048);
            for (int i = 0; i < 8; i++) {
                buf.clear();
                assertThat(peer.receive(buf)).isEqualTo(new InetSocketAddress("198.18.0.1", EngineHost.PORT));
                buf.flip();
                final byte[] got = new byte[buf.remaining()];
                buf.get(got);
                final byte[] expected = sent[i].clone();
                final ByteBuffer e = ByteBuffer.wrap(expected);
                e.put(8, (byte) 63);
                e.putShort(10, (short) InetChecksum.ipv4Header(e, 0, 20));
                assertThat(got).as("datagram %d", i).isEqualTo(expected);
            }
            assertThat(a.engine.loop(0).gsoActive()).as("GSO send accepted by the kernel").isEqualTo(
                EngineTuning.defaults().udpGso());
            assertThat(a.engine.offloads().udpGso()).as("and reported").isEqualTo(EngineTuning.defaults().udpGso());
        } finally {
            RawSockets.close(inject);
            peer.close();
        }
    }

    @Test
    void aBatchLargerThanThePathMtuToItsPeerIsSentAsFragmentedDatagrams() throws Exception {
        // A learns a 1000-byte path MTU to B (a route's MTU, as path MTU discovery would set): one full-size datagram
        // is then fragmented by A's kernel and reassembled by B's, but a UDP GSO run of them is refused (EMSGSIZE).
        // The run must still arrive, datagram by datagram, and GSO stay on for other peers (flannel issue 1011).
        hosts.nsA.exec("ip", "route", "add", UNDERLAY_B + "/32", "dev", "ul0", "mtu", "1000");
        final int inject = RawSockets.open(hosts.nsA.name(), RawSockets.IPPROTO_RAW, 1000);
        try {
            final TrafficCounters beforeA = a.engine.counters();
            final TrafficCounters beforeB = b.engine.counters();
            final CountDownLatch release = a.holdLoop(Duration.ofSeconds(5));
            for (int i = 0; i < 8; i++) { // queued in A's TUN, read in one pass: one run of 8 × 1472 bytes to B
                final String destination = "100.64.2." + (10 + i);
                RawSockets.send(inject, packet("100.64.1.0", destination, MTU), Ipv4.parse(destination));
            }
            release.countDown();
            final TrafficCounters afterB = b.awaitCounters(c -> c.udpToTunPackets() - beforeB.udpToTunPackets() >= 8);
            final TrafficCounters afterA = a.engine.counters();
            assertThat(afterB.udpToTunPackets() - beforeB.udpToTunPackets()).as("delivered by B").isEqualTo(8);
            assertThat(afterB.udpToTunBytes() - beforeB.udpToTunBytes()).isEqualTo(8 * MTU);
            assertThat(delta(beforeA, afterA, DropReason.SEND_FAILED)).as("send failures at A").isZero();
            assertThat(afterA.tunToUdpPackets() - beforeA.tunToUdpPackets()).isEqualTo(8);
            assertThat(a.engine.loop(0).gsoActive()).as("GSO still on").isEqualTo(EngineTuning.defaults().udpGso());
        } finally {
            RawSockets.close(inject);
            hosts.nsA.exec("ip", "route", "del", UNDERLAY_B + "/32", "dev", "ul0");
        }
    }

    @Test
    void unroutedOverlayAddressGetsNetUnreachableThatPingReallyReceives() throws Exception {
        final TrafficCounters before = a.engine.counters();
        final String out = a.shell("ping -c 1 -W 2 100.64.9.9");
        assertThat(out).contains("From 100.64.9.9").contains("Destination Net Unreachable");
        // The responder counts its answer after writing it, so ping may finish before the count is published.
        final TrafficCounters after = a.awaitCounters(c -> c.icmpUnreachableSent() > before.icmpUnreachableSent());
        assertThat(after.icmpUnreachableSent() - before.icmpUnreachableSent()).isEqualTo(1);
        assertThat(after.drops(DropReason.NO_ROUTE) - before.drops(DropReason.NO_ROUTE)).isEqualTo(1);
    }

    @Test
    void aBroadcastAddressWithoutARouteGetsNoIcmpAnswer() throws Exception {
        // 100.64.9.255: the broadcast address of a /24 (SubnetLen) nobody leases; 100.64.255.255: the Network's
        for (String broadcast : new String[] {"100.64.9.255", "100.64.255.255"}) {
            final TrafficCounters before = a.engine.counters();
            final String out = a.shell("ping -c 1 -W 1 " + broadcast);
            assertThat(out).as("ping %s", broadcast).doesNotContain("Unreachable").contains("0 received");
            final TrafficCounters after = a.engine.counters();
            assertThat(after.drops(DropReason.NO_ROUTE) - before.drops(DropReason.NO_ROUTE)).isEqualTo(1);
            assertThat(after.icmpUnreachableSent()).isEqualTo(before.icmpUnreachableSent());
            assertThat(after.icmpUnreachableSuppressed()).isEqualTo(before.icmpUnreachableSuppressed());
        }
        // an ordinary unrouted address beside it still gets its answer
        assertThat(a.shell("ping -c 1 -W 2 100.64.9.254")).contains("From 100.64.9.254")
            .contains("Destination Net Unreachable");
    }

    @Test
    void malformedAndUnwantedDatagramsAreDroppedAndCountedByReasonWhileTrafficFlows() throws Exception {
        final DatagramChannel known = NetnsThread.call(hosts.nsA.name(), () -> DatagramChannel
            .open(StandardProtocolFamily.INET).bind(new InetSocketAddress("198.18.0.1", 0)));
        final DatagramChannel unknown = NetnsThread.call(hosts.nsA.name(), () -> DatagramChannel
            .open(StandardProtocolFamily.INET).bind(new InetSocketAddress("198.18.0.9", 0)));
        final InetSocketAddress engineB = new InetSocketAddress("198.18.0.2", EngineHost.PORT);
        try {
            final TrafficCounters before = b.engine.counters();
            final byte[] good = packet("100.64.1.0", "100.64.2.0", 84);
            send(known, engineB, Arrays.copyOf(good, 10)); // truncated header
            final byte[] v6 = good.clone();
            v6[0] = 0x60;
            send(known, engineB, v6); // wrong version
            send(known, engineB, Arrays.copyOf(good, 80)); // total length says 84, 80 arrive
            final byte[] ihl = good.clone();
            ihl[0] = 0x44;
            send(known, engineB, ihl); // header length below 5 words
            send(known, engineB, packet("100.64.1.0", "100.64.2.0", 1476)); // > MTU but fits the slot
            send(known, engineB, packet("100.64.1.0", "100.64.2.0", 3000)); // > slot: MSG_TRUNC
            send(unknown, engineB, good); // unknown sender
            send(known, engineB, packet("100.64.1.0", "100.64.7.7", 84)); // not B's subnet
            final byte[] ttl = good.clone();
            ttl[8] = 1;
            TestPackets.fixIp(ttl);
            send(known, engineB, ttl); // TTL would reach 0
            final byte[] checksum = good.clone();
            checksum[11] ^= 0x01;
            send(known, engineB, checksum); // header checksum off by one bit

            final TrafficCounters after = b.awaitCounters(c -> c.totalDrops() >= before.totalDrops() + 10);
            assertThat(delta(before, after, DropReason.TOO_SHORT)).isEqualTo(1);
            assertThat(delta(before, after, DropReason.NOT_IPV4)).isEqualTo(1);
            assertThat(delta(before, after, DropReason.BAD_TOTAL_LENGTH)).isEqualTo(1);
            assertThat(delta(before, after, DropReason.BAD_HEADER_LENGTH)).isEqualTo(1);
            assertThat(delta(before, after, DropReason.OVERSIZED)).isEqualTo(2);
            assertThat(delta(before, after, DropReason.UNKNOWN_SENDER)).isEqualTo(1);
            assertThat(delta(before, after, DropReason.FOREIGN_DESTINATION)).isEqualTo(1);
            assertThat(delta(before, after, DropReason.TTL_EXPIRED)).isEqualTo(1);
            assertThat(delta(before, after, DropReason.BAD_HEADER_CHECKSUM)).isEqualTo(1);
            assertThat(after.totalDrops() - before.totalDrops()).isEqualTo(10);
            assertThat(after.udpToTunPackets()).isEqualTo(before.udpToTunPackets());

            // The same well-formed packet from the known peer is delivered (B's kernel answers the echo) ...
            send(known, engineB, good);
            assertThat(b.awaitCounters(c -> c.udpToTunPackets() > after.udpToTunPackets()).udpToTunPackets())
                .isEqualTo(after.udpToTunPackets() + 1);
            // ... and ordinary traffic keeps flowing.
            assertThat(a.shell("ping -c 2 -i 0.2 -W 2 " + b.tunAddress())).contains("2 received");
        } finally {
            known.close();
            unknown.close();
        }
    }

    @Test
    void routeChangesReachThePacketPathAndUnreachableUnderlayCountsSendFailed() throws Exception {
        final Ipv4Prefix subnetD = Ipv4Prefix.parse("100.64.4.0/24");
        final TrafficCounters initial = a.engine.counters();
        assertThat(a.shell("ping -c 1 -W 1 100.64.4.1")).contains("Destination Net Unreachable");
        assertThat(delta(initial, a.engine.counters(), DropReason.NO_ROUTE)).isEqualTo(1);
        // A peer whose PublicIP A cannot reach (no underlay route in A's namespace, so nothing leaves it).
        a.routes.put(subnetD, new Peer(Ipv4.parse("198.19.9.9"), EngineHost.PORT));
        try {
            final TrafficCounters before = a.engine.counters();
            assertThat(a.shell("ping -c 1 -W 1 100.64.4.1")).contains("0 received");
            final TrafficCounters after = a.awaitCounters(c -> delta(before, c, DropReason.SEND_FAILED) > 0);
            assertThat(delta(before, after, DropReason.SEND_FAILED)).isEqualTo(1);
            assertThat(delta(before, after, DropReason.NO_ROUTE)).isZero();
        } finally {
            a.routes.remove(subnetD);
        }
        final TrafficCounters removed = a.engine.counters();
        assertThat(a.shell("ping -c 1 -W 1 100.64.4.1")).contains("Destination Net Unreachable");
        assertThat(delta(removed, a.engine.counters(), DropReason.NO_ROUTE)).isEqualTo(1);
    }

    @Test
    void startErrorsSayWhatIsWrong() throws Exception {
        assertThatThrownBy(() -> a.engine.start())
            .isInstanceOf(IllegalStateException.class).hasMessageContaining("already started");
        // A second engine on A's address and port (A's single socket has no SO_REUSEPORT).
        final UdpPacketEngine second = new UdpPacketEngine(new EngineSettings(Ipv4.parse("198.18.0.1"),
            EngineHost.PORT, NETWORK, SUBNET_A, MTU, true, 1), a.tun, a.routes);
        try {
            assertThatThrownBy(() -> NetnsThread.call(hosts.nsA.name(), () -> {
                second.start();
                return null;
            })).isInstanceOf(IOException.class)
                .hasMessageContaining("cannot bind the UDP socket to 198.18.0.1:8285")
                .hasMessageContaining("in use");
        } finally {
            second.close();
        }
        assertThat(a.shell("ping -c 1 -W 2 " + b.tunAddress())).contains("1 received"); // A is unaffected
    }

    @Test
    void tunLinkDownCountsWriteFailuresAndForwardingResumesWhenItIsBackUp() throws Exception {
        final String tun = b.tun.name();
        hosts.nsB.exec("ip", "link", "set", tun, "down"); // also removes the Network route through it
        try {
            final TrafficCounters before = b.engine.counters();
            assertThat(a.shell("ping -c 2 -i 0.2 -W 1 " + b.tunAddress())).contains("0 received");
            final TrafficCounters after = b.awaitCounters(c -> delta(before, c, DropReason.TUN_WRITE_FAILED) >= 2);
            assertThat(delta(before, after, DropReason.TUN_WRITE_FAILED)).isEqualTo(2);
        } finally {
            b.tun.configure(new TunSetup(FlannelRules.tunAddress(SUBNET_B), MTU, List.of(NETWORK)));
        }
        assertThat(a.shell("ping -c 2 -i 0.2 -W 2 " + b.tunAddress())).contains("2 received");
        assertThat(b.shell("ping -c 2 -i 0.2 -W 2 " + a.tunAddress())).contains("2 received");
    }

    @Test
    void aDeletedTunIsNoLongerPolledInsteadOfSpinning() throws Exception {
        final LinuxTunDevice tun = NetnsThread.call(hosts.nsA.name(),
            () -> new LinuxTunDeviceFactory().open("ovldel%d", 1));
        final UdpPacketEngine engine = new UdpPacketEngine(new EngineSettings(Ipv4.parse("198.18.0.1"), 8290, NETWORK,
            SUBNET_A, MTU, true, 1), tun, a.routes);
        try {
            NetnsThread.call(hosts.nsA.name(), () -> {
                engine.start();
                return null;
            });
            hosts.nsA.exec("ip", "link", "del", tun.name());
            Thread.sleep(300); // the loop sees EPOLLERR, fails to read and cancels the TUN's registration
            final ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
            final long[] ids = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("overlay-udp")).mapToLong(Thread::getId).toArray();
            final long before = Arrays.stream(ids).map(threads::getThreadCpuTime).sum();
            Thread.sleep(1000);
            final long used = Arrays.stream(ids).map(threads::getThreadCpuTime).sum() - before;
            // A level-triggered error left registered would keep a loop at ~100 % of a core (~1 s of CPU here).
            assertThat(used).as("CPU ns used by the loops in 1 s after the TUN was deleted").isLessThan(300_000_000L);
        } finally {
            engine.close();
            tun.close();
        }
    }

    @Test
    void localSubnetChangeIsAppliedByTheLoop() throws Exception {
        try {
            b.engine.localSubnet(Ipv4Prefix.parse("100.64.5.0/24"));
            final TrafficCounters before = b.engine.counters();
            assertThat(a.shell("ping -c 1 -W 1 " + b.tunAddress())).contains("0 received");
            final TrafficCounters after = b.awaitCounters(c -> delta(before, c, DropReason.FOREIGN_DESTINATION) > 0);
            assertThat(delta(before, after, DropReason.FOREIGN_DESTINATION)).isEqualTo(1);
        } finally {
            b.engine.localSubnet(SUBNET_B);
        }
        assertThat(a.shell("ping -c 1 -W 2 " + b.tunAddress())).contains("1 received");
    }

    @Test
    void withoutALocalSubnetTheEngineDeliversNothingUntilOneIsSetAgain() throws Exception {
        try {
            b.engine.localSubnet(null); // the lease was lost
            final TrafficCounters before = b.engine.counters();
            assertThat(a.shell("ping -c 1 -W 1 " + b.tunAddress())).contains("0 received");
            final TrafficCounters after = b.awaitCounters(c -> delta(before, c, DropReason.FOREIGN_DESTINATION) > 0);
            assertThat(delta(before, after, DropReason.FOREIGN_DESTINATION)).isEqualTo(1);
            assertThat(after.udpToTunPackets()).isEqualTo(before.udpToTunPackets());
        } finally {
            b.engine.localSubnet(SUBNET_B);
        }
        assertThat(a.shell("ping -c 1 -W 2 " + b.tunAddress())).contains("1 received");
    }

    private static long delta(final TrafficCounters before, final TrafficCounters after, final DropReason r) {
        return after.drops(r) - before.drops(r);
    }

    /** A valid IPv4 ICMP echo request of {@code length} bytes (TTL 64, both checksums set). */
    private static byte[] packet(final String src, final String dst, final int length) {
        return TestPackets.icmpEcho(Ipv4.parse(src), Ipv4.parse(dst), 0, 0, length);
    }

    private static void send(final DatagramChannel channel, final InetSocketAddress to, final byte[] data)
        throws Exception {
        assertThat(channel.send(ByteBuffer.wrap(data), to)).isEqualTo(data.length);
    }
}
