package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Unusual inner packets between two containers on two overlay hosts, offloads on (the default), checked with the
 * real tools against what the kernel's own routing delivers. {@link TwoHostUnderlay}'s hosts A (100.64.1.0/24) and B
 * (100.64.2.0/24) forward ({@code ip_forward=1}) for one container each, as a flannel host does for its bridge: a
 * namespace on a veth {@code c0} 100.64.1.1/24 ↔ {@code eth0} 100.64.1.2/24 (B: 100.64.2.1 ↔ 100.64.2.2), MTU 1472
 * (flannel's {@code FLANNEL_MTU}), default route via the host. So every inner packet here is forwarded by the
 * sending host's kernel into its TUN and by the receiving host's kernel out of its TUN, as with containers.
 * IPv6 is off in all four namespaces, so the kernels put nothing of their own on the links and counts are exact.
 *
 * <p>Host-to-host cases (a host's own packets into its TUN: fragments, IP options, broadcast and multicast, ECN under
 * CE marks) are in {@link HostileTrafficNamespaceTest}; the coalescer's merge rules against the kernel's
 * {@code tcp_gro_receive} in {@code TcpCoalescerTest}.
 */
@Privileged
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ContainerPathNamespaceTest {
    private static final int MTU = 1472;
    private static final String CONTAINER_A = "100.64.1.2";
    private static final String CONTAINER_B = "100.64.2.2";
    private static final Pattern RR = Pattern.compile("RR:((?:\\s+\\d+\\.\\d+\\.\\d+\\.\\d+)+)");

    private TwoHostUnderlay hosts;
    private Netns containerA;
    private Netns containerB;
    private EngineHost a;
    private EngineHost b;

    @BeforeAll
    void setUp() throws Exception {
        hosts = new TwoHostUnderlay();
        containerA = Netns.create();
        containerB = Netns.create();
        for (Netns ns : new Netns[] {hosts.nsA, hosts.nsB, containerA, containerB}) {
            ns.exec("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1");
            ns.exec("sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1");
            // strict reverse-path filtering (RFC 3704), as hardened hosts set it; a new namespace inherits the root
            // namespace's setting, often 0 or 2, under which a wrongly sourced ICMP answer would still pass
            ns.exec("sysctl", "-q", "-w", "net.ipv4.conf.all.rp_filter=1");
            ns.exec("sysctl", "-q", "-w", "net.ipv4.conf.default.rp_filter=1");
        }
        Netns.link(hosts.nsA, "c0", "100.64.1.1/24", containerA, "eth0", CONTAINER_A + "/24", MTU);
        Netns.link(hosts.nsB, "c0", "100.64.2.1/24", containerB, "eth0", CONTAINER_B + "/24", MTU);
        containerA.exec("ip", "route", "add", "default", "via", "100.64.1.1");
        containerB.exec("ip", "route", "add", "default", "via", "100.64.2.1");
        hosts.nsA.exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        hosts.nsB.exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        a = hosts.startA(MTU, 1, true, true, Map.of());
        b = hosts.startB(MTU, 1, true, true);
        assertThat(a.engine.offloads().tunVnetHeader()).as("offloads on").isTrue();
        assertThat(sh(containerA, "ping -c 1 -W 2 " + CONTAINER_B)).contains("1 received");
    }

    @AfterAll
    void tearDown() throws Exception {
        try (Netns closeA = containerA; Netns closeB = containerB) {
            if (hosts != null) {
                hosts.close();
            }
        }
    }

    /**
     * RFC 791 §2.3/§3.2: a datagram larger than a link's MTU is fragmented by the sender (here the container's kernel,
     * whose MTU is the overlay's) and reassembled only at the destination; each fragment crosses as one datagram.
     * With DF set it is refused where it does not fit (RFC 1191 §4): locally by the sender whose own MTU is too small,
     * or by the host that forwards it into the TUN with ICMP "fragmentation needed" naming the TUN's MTU.
     */
    @Test
    void fragmentsCrossAndReassembleAndDontFragmentIsRefusedWithTheOverlayMtu() throws Exception {
        // 4008 bytes of ICMP: 1448 + 1448 + 1112 bytes of data per echo, three datagrams each way
        final TrafficCounters beforeB = b.engine.counters();
        assertThat(sh(containerA, "ping -M dont -s 4000 -c 3 -i 0.2 -W 2 " + CONTAINER_B)).contains("3 received");
        final TrafficCounters afterB = b.awaitCounters(c -> c.tunToUdpPackets() - beforeB.tunToUdpPackets() >= 9);
        assertThat(afterB.udpToTunPackets() - beforeB.udpToTunPackets()).as("request fragments").isEqualTo(9);
        assertThat(afterB.tunToUdpPackets() - beforeB.tunToUdpPackets()).as("reply fragments").isEqualTo(9);
        assertThat(afterB.totalDrops()).isEqualTo(beforeB.totalDrops());

        // an 8000-byte UDP datagram: 8008 bytes of UDP, five fragments of 1448 bytes and one of 768
        final byte[] sent = new byte[8000];
        new Random(8000).nextBytes(sent);
        final TrafficCounters beforeUdp = b.engine.counters();
        final byte[] received = NetnsThread.call(containerB.name(), () -> {
            try (DatagramSocket in = new DatagramSocket(new InetSocketAddress(CONTAINER_B, 9000))) {
                in.setSoTimeout(3000);
                NetnsThread.call(containerA.name(), () -> {
                    try (DatagramSocket out = new DatagramSocket(new InetSocketAddress(CONTAINER_A, 0))) {
                        out.send(new DatagramPacket(sent, sent.length, new InetSocketAddress(CONTAINER_B, 9000)));
                    }
                    return null;
                });
                final DatagramPacket p = new DatagramPacket(new byte[65536], 65536);
                in.receive(p);
                return java.util.Arrays.copyOf(p.getData(), p.getLength());
            }
        });
        assertThat(received).isEqualTo(sent);
        // the loop counts a fragment after its TUN write returns, which can be after the socket above got the datagram
        final TrafficCounters afterUdp = b.awaitCounters(c -> c.udpToTunPackets() - beforeUdp.udpToTunPackets() >= 6);
        assertThat(afterUdp.udpToTunPackets() - beforeUdp.udpToTunPackets()).as("fragments delivered").isEqualTo(6);
        assertThat(afterUdp.udpToTunBytes() - beforeUdp.udpToTunBytes()).isEqualTo(8008 + 6 * 20);

        // DF and 1473 bytes: the container's own MTU refuses it ...
        assertThat(sh(containerA, "ping -M do -s 1445 -c 1 -W 1 " + CONTAINER_B))
            .containsIgnoringCase("message too long").contains("mtu=1472");
        // ... and with a container link of 1500 its host does, answering with the TUN's MTU
        setContainerLinkMtu(1500);
        try {
            assertThat(sh(containerA, "ping -M do -s 1472 -c 1 -W 1 " + CONTAINER_B))
                .contains("From 100.64.1.1").contains("Frag needed and DF set (mtu = 1472)");
        } finally {
            setContainerLinkMtu(MTU);
            containerA.exec("ip", "route", "flush", "cache");
        }
        assertThat(sh(containerA, "ping -M do -s 1444 -c 2 -i 0.2 -W 2 " + CONTAINER_B)).contains("2 received");
    }

    /**
     * Traceroute across the overlay: every hop that decrements the TTL answers a packet whose TTL it cannot forward
     * with ICMP Time Exceeded (RFC 1812 §5.3.1, RFC 792), and the message reaches the sender. With flannel's udp
     * backend the path container A → container B has four such hops: A's kernel, A's engine, B's engine, B's kernel
     * (flannel's proxy decrements the TTL in both directions, {@code tun_to_udp} and {@code udp_to_tun}). The engines
     * name their hop by the destination host's TUN address (100.64.2.0), the address B's kernel answers from too: the
     * sending host's own addresses would be dropped by its kernel as martians.
     */
    @Test
    void eachHopAnswersAnExpiredTtlSoTracerouteShowsThePath() throws Exception {
        final String[] expected = {"From 100.64.1.1 icmp_seq=1 Time to live exceeded",
            "From 100.64.2.0 icmp_seq=1 Time to live exceeded", "From 100.64.2.0 icmp_seq=1 Time to live exceeded",
            "From 100.64.2.0 icmp_seq=1 Time to live exceeded", "64 bytes from 100.64.2.2: icmp_seq=1"};
        final TrafficCounters beforeA = a.engine.counters();
        final TrafficCounters beforeB = b.engine.counters();
        final List<String> trace = new ArrayList<>();
        for (int ttl = 1; ttl <= expected.length; ttl++) {
            trace.add(sh(containerA, "ping -c 1 -W 1 -t " + ttl + " " + CONTAINER_B));
        }
        System.out.println("container A -> container B, ping -t 1..5:\n" + String.join("", trace));
        for (int hop = 0; hop < expected.length; hop++) {
            assertThat(trace.get(hop)).as("TTL %d", hop + 1).contains(expected[hop]);
        }
        final TrafficCounters afterA = a.awaitCounters(c -> c.get(Counter.ICMP_TIME_EXCEEDED_SENT) > 0);
        final TrafficCounters afterB = b.awaitCounters(c -> c.get(Counter.ICMP_TIME_EXCEEDED_SENT) > 0);
        assertThat(delta(beforeA, afterA, DropReason.TTL_EXPIRED)).as("A's engine: TTL 2").isEqualTo(1);
        assertThat(delta(beforeB, afterB, DropReason.TTL_EXPIRED)).as("B's engine: TTL 3").isEqualTo(1);
        assertThat(afterA.get(Counter.ICMP_TIME_EXCEEDED_SENT) - beforeA.get(Counter.ICMP_TIME_EXCEEDED_SENT))
            .isEqualTo(1);
        assertThat(afterB.get(Counter.ICMP_TIME_EXCEEDED_SENT) - beforeB.get(Counter.ICMP_TIME_EXCEEDED_SENT))
            .isEqualTo(1);

        // ping -s 1000 (1028-byte packets): each engine's answer quotes the first 548 bytes in 576 (RFC 1812
        // 4.3.2.3, as Linux's icmp_send), A's written into A's TUN, B's sent over the underlay and written there by A;
        // ping accepts both
        final int capA = PacketSockets.capture(hosts.nsA, a.tun.name(), 500);
        try {
            for (int ttl = 2; ttl <= 3; ttl++) {
                assertThat(sh(containerA, "ping -s 1000 -c 1 -W 1 -t " + ttl + " " + CONTAINER_B))
                    .as("ping -s 1000 -t %d", ttl).contains(expected[ttl - 1]);
            }
            final List<byte[]> exceeded = new ArrayList<>();
            for (byte[] p : PacketSockets.drain(capA)) {
                if (p[9] == 1 && (p[20] & 0xff) == 11) {
                    exceeded.add(p);
                }
            }
            assertThat(exceeded).as("time exceeded messages into A's TUN").hasSize(2);
            for (byte[] p : exceeded) {
                assertThat(p).as("whole message").hasSize(576);
                assertThat(TestPackets.u16(p, 2)).as("its total length").isEqualTo(576);
                assertThat(TestPackets.u16(p, 28 + 2)).as("the quoted echo's total length").isEqualTo(1028);
                assertThat(p[28 + 20] & 0xff).as("quoting an echo request").isEqualTo(8);
                assertThat(TestPackets.ipChecksumOk(p)).isTrue();
                assertThat(TestPackets.onesSum(p, 20, 556, 0)).as("ICMP checksum").isEqualTo(0xffff);
            }
        } finally {
            RawSockets.close(capA);
        }

        // a host's own packets to the other host's TUN address: two hops, then the answer
        final String[] fromHost = {"From 100.64.2.0 icmp_seq=1 Time to live exceeded",
            "From 100.64.2.0 icmp_seq=1 Time to live exceeded", "64 bytes from 100.64.2.0: icmp_seq=1"};
        for (int ttl = 1; ttl <= fromHost.length; ttl++) {
            assertThat(a.shell("ping -c 1 -W 1 -t " + ttl + " " + b.tunAddress())).as("host A, TTL %d", ttl)
                .contains(fromHost[ttl - 1]);
        }
    }

    /**
     * An expired packet inside a UDP GRO buffer. Eight equal 1000-byte UDP packets from host A to B's TUN address,
     * the third and sixth with TTL 2, queue in A's TUN while A's loop is held, so A's engine reads them in one pass
     * and sends them as one UDP GSO message; it crosses the veth whole and B's socket receives it as one GRO buffer,
     * which B's engine walks segment by segment. Those two segments arrive with TTL 1: B answers each with a time
     * exceeded, sent to A in the middle of the walk (one {@code sendmmsg} between two segments), and the six others
     * must still reach B's TUN, in order and unchanged but for the TTL.
     */
    @Test
    void anExpiredSegmentOfAGroBufferIsAnsweredAndTheOthersAreDelivered() throws Exception {
        final int[] ttls = {64, 64, 2, 64, 64, 2, 64, 64};
        final int capA = PacketSockets.capture(hosts.nsA, a.tun.name(), 500);
        final int capB = PacketSockets.capture(hosts.nsB, b.tun.name(), 500);
        final int wireB = PacketSockets.capture(hosts.nsB, "ul0", 500);
        final int inject = RawSockets.open(hosts.nsA.name(), RawSockets.IPPROTO_RAW, 1000);
        try {
            final TrafficCounters beforeB = b.engine.counters();
            final List<Integer> delivered = new ArrayList<>();
            final CountDownLatch release = a.holdLoop(Duration.ofSeconds(5));
            final byte[] payload = new byte[1000 - 28];
            new Random(11).nextBytes(payload);
            for (int i = 0; i < ttls.length; i++) {
                final byte[] p = TestPackets.udp(Ipv4.parse(a.tunAddress()),
                    40000, Ipv4.parse(b.tunAddress()), 9, payload);
                TestPackets.put16(p, 4, 0x1000 + i); // identification: which packet is which
                p[8] = (byte) ttls[i];
                TestPackets.fixIp(p);
                RawSockets.send(inject, p, Ipv4.parse(b.tunAddress()));
                if (ttls[i] > 2) {
                    delivered.add(0x1000 + i);
                }
            }
            release.countDown();
            final TrafficCounters afterB = b.awaitCounters(c -> c.udpToTunPackets() - beforeB.udpToTunPackets() >= 6
                && c.get(Counter.ICMP_TIME_EXCEEDED_SENT) - beforeB.get(Counter.ICMP_TIME_EXCEEDED_SENT) >= 2);
            assertThat(PacketSockets.drain(wireB).stream().mapToInt(p -> p.length).max().orElse(0))
                .as("the eight datagrams crossed B's link as one GSO burst").isGreaterThan(8 * 1000);
            final List<Integer> atB = new ArrayList<>();
            for (byte[] p : PacketSockets.drain(capB)) {
                assertThat(p).hasSize(1000);
                assertThat(p[8] & 0xff).as("TTL after both engines").isEqualTo(62);
                atB.add(TestPackets.u16(p, 4));
            }
            assertThat(atB).as("B's TUN: the six live segments, in order").isEqualTo(delivered);
            final List<Integer> answered = new ArrayList<>();
            for (byte[] p : PacketSockets.drain(capA)) {
                if (p[9] == 1 && (p[20] & 0xff) == 11) {
                    assertThat(Ipv4.format(TestPackets.u32(p, 12)))
                        .isEqualTo(b.tunAddress());
                    assertThat(p[28 + 8] & 0xff).as("quoted TTL, as it arrived at B").isEqualTo(1);
                    // RFC 1812 4.3.2.3: 576 bytes, quoting the segment's first 548 (its UDP header and payload)
                    assertThat(p).as("time exceeded length").hasSize(576);
                    assertThat(TestPackets.u16(p, 28 + 2)).as("quoted total length").isEqualTo(1000);
                    assertThat(Arrays.copyOfRange(p, 28 + 28, 576)).as("quoted payload")
                        .isEqualTo(Arrays.copyOf(payload, 576 - 28 - 28));
                    answered.add(TestPackets.u16(p, 28 + 4));
                }
            }
            assertThat(answered).as("time exceeded at A, quoting").containsExactly(0x1002, 0x1005);
            assertThat(afterB.udpToTunPackets() - beforeB.udpToTunPackets()).isEqualTo(6);
            assertThat(delta(beforeB, afterB, DropReason.TTL_EXPIRED)).isEqualTo(2);
            assertThat(afterB.get(Counter.ICMP_TIME_EXCEEDED_SENT) - beforeB.get(Counter.ICMP_TIME_EXCEEDED_SENT))
                .isEqualTo(2);
        } finally {
            RawSockets.close(inject);
            RawSockets.close(wireB);
            RawSockets.close(capB);
            RawSockets.close(capA);
        }
    }

    /**
     * RFC 2474 §3 and RFC 3168 §5: the DS field and the ECN field are the sender's and the routers'; a forwarding hop
     * (and an encapsulating one, RFC 6040 §4.2 at decapsulation of an outer header that carried no mark) passes them
     * on. Every echo request's TOS byte must reach container B unchanged, and B's kernel copies it into its reply.
     */
    @Test
    void theTosByteDscpAndEcnCrossUnchangedBothWays() throws Exception {
        for (int tos : new int[] {0xb8, 0xb9, 0x2a, 0x03, 0x01, 0xff}) {
            final int atB = PacketSockets.capture(containerB, "eth0", 300);
            final int atA = PacketSockets.capture(containerA, "eth0", 300);
            try {
                assertThat(sh(containerA, String.format("ping -Q 0x%02x -c 2 -i 0.2 -W 2 %s", tos, CONTAINER_B)))
                    .as("TOS 0x%02x", tos).contains("2 received");
                final List<Integer> requests = icmpTos(PacketSockets.drain(atB), 8);
                final List<Integer> replies = icmpTos(PacketSockets.drain(atA), 0);
                assertThat(requests).as("TOS of the requests B received").containsExactly(tos, tos);
                assertThat(replies).as("TOS of the replies A received").containsExactly(tos, tos);
            } finally {
                RawSockets.close(atB);
                RawSockets.close(atA);
            }
        }
    }

    /**
     * IP options (RFC 791 §3.1): the engines carry them untouched and, like a tunnel, record nothing themselves; the
     * kernels that forward record the address they send from. Record route there and back: the container, A's TUN
     * address, B's container-side address, the far container (echo reply), B's TUN address, A's container-side
     * address, the container.
     */
    @Test
    void recordRouteCrossesAndNamesEachForwardingKernel() throws Exception {
        final String out = sh(containerA, "ping -R -c 2 -i 0.2 -W 2 " + CONTAINER_B);
        assertThat(out).contains("2 received");
        final Matcher rr = RR.matcher(out);
        assertThat(rr.find()).as("RR: in %s", out).isTrue();
        assertThat(rr.group(1).trim().split("\\s+")).containsExactly("100.64.1.2", "100.64.1.0", "100.64.2.1",
            "100.64.2.2", "100.64.2.2", "100.64.2.0", "100.64.1.1", "100.64.1.2");
    }

    /**
     * TCP without timestamps and SACK (RFC 7323 and RFC 2018 are options, not requirements) and with ECN (RFC 3168,
     * {@code net.ipv4.tcp_ecn=1} in both containers) still moves bulk data through both engines' offloads. Host A's
     * firewall, in its namespace, marks about 2 % of the flow's ECT(0) packets CE as a congested router would: the
     * marks must reach container B (its kernel counts CE packets) and B's echo of them (ECE) container A (its kernel
     * counts the segments acknowledged with ECE). B's engine coalesces the segments, whose headers carry no options.
     */
    @Test
    void bulkTcpWithoutTimestampsOrSackAndWithEcnMarksMovesDataWithOffloads() throws Exception {
        final Map<String, String> sysctls = Map.of("net.ipv4.tcp_timestamps", "0", "net.ipv4.tcp_sack", "0",
            "net.ipv4.tcp_ecn", "1");
        final Map<String, String> defaults = Map.of("net.ipv4.tcp_timestamps", "1", "net.ipv4.tcp_sack", "1",
            "net.ipv4.tcp_ecn", "2");
        for (Netns ns : new Netns[] {containerA, containerB}) {
            sysctls.forEach((k, v) -> sysctl(ns, k, v));
        }
        hosts.nsA.exec("nft", "add table ip ovtecn");
        hosts.nsA.exec("nft", "add chain ip ovtecn cemark { type filter hook forward priority 0; policy accept; }");
        hosts.nsA.exec("nft", "add rule ip ovtecn cemark ip daddr " + CONTAINER_B
            + " tcp dport 5231 ip ecn ect0 numgen random mod 50 0 ip ecn set ce");
        try {
            final long ceBefore = nstat(containerB, "IpExtInCEPkts");
            final long eceBefore = nstat(containerA, "TcpExtTCPDeliveredCE");
            final TrafficCounters before = b.engine.counters();
            final Process server = containerB.spawn(new ProcessBuilder("iperf3", "-s", "-1", "-B", CONTAINER_B, "-p",
                "5231").redirectErrorStream(true));
            try {
                String out = "";
                for (int attempt = 0; attempt < 25; attempt++) {
                    out = sh(containerA, "timeout 30 iperf3 -c " + CONTAINER_B + " -p 5231 -n 20M");
                    if (!out.contains("Connection refused")) {
                        break;
                    }
                    Thread.sleep(200);
                }
                assertThat(out).contains("receiver").endsWith("rc=0\n");
            } finally {
                server.destroyForcibly().waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
            }
            final TrafficCounters after = b.engine.counters();
            final long ce = nstat(containerB, "IpExtInCEPkts") - ceBefore;
            final long ece = nstat(containerA, "TcpExtTCPDeliveredCE") - eceBefore;
            System.out.printf("CE packets at container B: %d; segments acknowledged with ECE at A: %d; B coalesced "
                + "%d frames%n", ce, ece, after.get(Counter.TUN_COALESCED_FRAMES) - before.get(Counter.TUN_COALESCED_FRAMES));
            assertThat(ce).as("CE marks that reached container B").isPositive();
            assertThat(ece).as("segments container A saw acknowledged with ECE").isPositive();
            assertThat(after.udpToTunBytes() - before.udpToTunBytes()).isGreaterThan(15L << 20);
            assertThat(after.get(Counter.TUN_COALESCED_FRAMES) - before.get(Counter.TUN_COALESCED_FRAMES))
                .as("coalesced frames").isPositive();
            assertThat(after.get(Counter.COALESCER_BAD_CHECKSUMS)).isEqualTo(before.get(Counter.COALESCER_BAD_CHECKSUMS));
        } finally {
            hosts.nsA.exec("nft", "delete table ip ovtecn");
            for (Netns ns : new Netns[] {containerA, containerB}) {
                defaults.forEach((k, v) -> sysctl(ns, k, v));
            }
        }
    }

    /**
     * A directed broadcast to B's subnet (RFC 1812 §5.3.5.2): A forwards it like unicast, A's engine routes it to B as
     * flanneld's {@code find_route} does, and B's kernel, which owns that broadcast address, takes it for itself and
     * does not forward it onto the container link ({@code bc_forwarding} is off by default, RFC 2644): one datagram,
     * no copy to the container, nothing back (echo requests to a broadcast address are ignored,
     * {@code icmp_echo_ignore_broadcasts}). No loop, no flood.
     */
    @Test
    void aDirectedBroadcastToTheOtherSubnetCrossesOnceAndGoesNoFurther() throws Exception {
        final int atB = PacketSockets.capture(containerB, "eth0", 300);
        try {
            final TrafficCounters beforeA = a.engine.counters();
            final TrafficCounters beforeB = b.engine.counters();
            assertThat(sh(containerA, "ping -b -c 1 -W 1 100.64.2.255")).contains("0 received");
            final TrafficCounters afterB = b.awaitCounters(c -> c.udpToTunPackets() > beforeB.udpToTunPackets());
            Thread.sleep(200); // anything more would be a copy or a loop
            final TrafficCounters afterA = a.engine.counters();
            assertThat(afterA.tunToUdpPackets() - beforeA.tunToUdpPackets()).as("A sent").isEqualTo(1);
            assertThat(b.engine.counters().udpToTunPackets() - beforeB.udpToTunPackets()).as("B delivered")
                .isEqualTo(1);
            assertThat(b.engine.counters().tunToUdpPackets()).as("B sent nothing back")
                .isEqualTo(afterB.tunToUdpPackets()).isEqualTo(beforeB.tunToUdpPackets());
            assertThat(afterA.udpToTunPackets()).isEqualTo(beforeA.udpToTunPackets());
            assertThat(icmpTos(PacketSockets.drain(atB), 8)).as("echo requests on B's container link").isEmpty();
        } finally {
            RawSockets.close(atB);
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    private void setContainerLinkMtu(final int mtu) throws IOException {
        hosts.nsA.exec("ip", "link", "set", "c0", "mtu", Integer.toString(mtu));
        containerA.exec("ip", "link", "set", "eth0", "mtu", Integer.toString(mtu));
    }

    /** The TOS bytes of the ICMP packets of {@code type} (8 echo request, 0 echo reply) among {@code packets}. */
    private static List<Integer> icmpTos(final List<byte[]> packets, final int type) {
        final List<Integer> tos = new ArrayList<>();
        for (byte[] p : packets) {
            if (p.length >= 28 && (p[0] & 0xf0) == 0x40 && p[9] == 1 && (p[(p[0] & 0x0f) * 4] & 0xff) == type) {
                tos.add(p[1] & 0xff);
            }
        }
        return tos;
    }

    private static void sysctl(final Netns ns, final String key, final String value) {
        try {
            ns.exec("sysctl", "-q", "-w", key + "=" + value);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A kernel counter of {@code ns} ({@code nstat}'s absolute value, its history left alone). */
    private static long nstat(final Netns ns, final String counter) throws IOException {
        final String out = ns.exec("nstat", "-asz", counter);
        final Matcher m = Pattern.compile("(?m)^" + counter + "\\s+(\\d+)").matcher(out);
        assertThat(m.find()).as("%s in %s", counter, out).isTrue();
        return Long.parseLong(m.group(1));
    }

    private static long delta(final TrafficCounters before, final TrafficCounters after, final DropReason r) {
        return after.drops(r) - before.drops(r);
    }

    /** Runs a shell command in {@code ns}; returns its combined output and exit status as "...\nrc=N". */
    private static String sh(final Netns ns, final String command) throws IOException {
        return Netns.run("ip", "netns", "exec", ns.name(), "sh", "-c", command + " 2>&1; echo rc=$?");
    }
}
