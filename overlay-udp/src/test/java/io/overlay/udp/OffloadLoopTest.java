package io.overlay.udp;

import static io.overlay.testing.TestPackets.l4ChecksumOk;
import static io.overlay.testing.TestPackets.tcp;
import static io.overlay.testing.TestPackets.u16;
import static io.overlay.testing.TestPackets.u32;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.EngineTuning;
import io.overlay.testing.SocketPairTun;
import io.overlay.testing.TestLibc;
import io.overlay.testing.TestPackets;
import io.overlay.udp.offload.VirtioNetHdr;
import io.overlay.udp.wire.IcmpError;
import io.overlay.udp.wire.InetChecksum;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The offload path of one {@link ForwardingLoop}, driven frame by frame: the "TUN" is a {@link SocketPairTun}, one end
 * of a non-blocking {@code AF_UNIX} socket pair (the test writes the frames the kernel would hand over, virtio_net_hdr
 * included, and reads what the loop writes back), the peer is a plain UDP socket on loopback that sees every datagram
 * as it would arrive from the wire. Covers segmentation of TSO super-packets onto the wire, malformed frames dropped
 * and counted as {@link DropReason#BAD_VNET_HEADER}, one ICMP net unreachable per unrouted super-packet (not one per
 * segment), and TCP coalescing towards the TUN.
 */
class OffloadLoopTest {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    private static final Ipv4Prefix LOCAL = Ipv4Prefix.parse("100.64.1.0/24");
    private static final Ipv4Prefix REMOTE = Ipv4Prefix.parse("100.64.2.0/24");
    private static final int MTU = 1400;
    private static final int MSS = MTU - 40;

    private static final TestLibc C = TestLibc.INSTANCE;

    private SocketPairTun tun;
    private final int[] pair = new int[2];
    private DatagramChannel peer;
    private FileDescriptor udp;
    private ForwardingLoop loop;
    private int loopPort;

    @BeforeEach
    void setUp() throws IOException {
        Epoll.ensureAvailability(); // loads Netty's native library (FileDescriptor read/write)
        tun = new SocketPairTun(); // one message per read, like a TUN queue
        pair[0] = tun.fileDescriptor(0);
        pair[1] = tun.kernelSide().intValue();
        peer = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        peer.configureBlocking(false);
        try (DatagramChannel probe = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            loopPort = ((InetSocketAddress) probe.getLocalAddress()).getPort();
        }
        udp = new FileDescriptor(LinuxUdp.openBound(Ipv4.parse("127.0.0.1"), loopPort, false, 1 << 20));
        final RouteTable routes = new RouteTable();
        routes.put(REMOTE, new Peer(Ipv4.parse("127.0.0.1"), ((InetSocketAddress) peer.getLocalAddress()).getPort()));
        loop = ForwardingLoop.create(new FileDescriptor(pair[0]), udp.intValue(), routes,
            new LoopConfig(NETWORK, LOCAL, MTU, true, VirtioNetHdr.LENGTH, EngineTuning.DEFAULT_BATCH_SIZE, true,
                false));
    }

    @AfterEach
    void tearDown() throws IOException {
        tun.close();
        peer.close();
        udp.close();
    }

    @Test
    void tsoSuperPacketLeavesAsMtuSizedDatagramsOfOneInnerPacketEach() throws Exception {
        final byte[] payload = new byte[10 * MSS + 123];
        new Random(7).nextBytes(payload);
        final byte[] sp = tcp(0x64400101, 0x64400205, 0x1000, 0x70000000, payload, 0x18, true);
        tunFrame(VirtioNetHdr.FLAG_NEEDS_CSUM, VirtioNetHdr.GSO_TCPV4, 40, MSS, 20, 16, sp);

        assertThat(loop.tunToUdp()).isEqualTo(1);

        final List<byte[]> wire = receive(11);
        assertThat(wire).hasSize(11);
        final ByteBuffer joined = ByteBuffer.allocate(payload.length);
        for (int i = 0; i < wire.size(); i++) {
            final byte[] d = wire.get(i);
            assertThat(d.length).as("datagram %d", i).isLessThanOrEqualTo(MTU);
            assertThat(u16(d, 2)).as("one whole inner packet").isEqualTo(d.length);
            assertThat(d[0]).isEqualTo((byte) 0x45);
            assertThat(d[8] & 0xff).as("TTL decremented").isEqualTo(63);
            assertThat(u16(d, 4)).as("IP ID increments").isEqualTo(0x1000 + i);
            assertThat(InetChecksum.checksum(ByteBuffer.wrap(d), 0, 20)).as("IPv4 checksum").isZero();
            assertThat(l4ChecksumOk(d)).as("TCP checksum of datagram %d", i).isTrue();
            assertThat(u32(d, 24)).as("sequence").isEqualTo(0x70000000 + i * MSS);
            assertThat(d[33] & 0x08).as("PSH only on the last").isEqualTo(i == 10 ? 0x08 : 0);
            joined.put(d, 40, d.length - 40);
        }
        assertThat(joined.array()).isEqualTo(payload);
        assertThat(loop.counters().get(Counter.TUN_SUPER_PACKETS)).isEqualTo(1);
        assertThat(loop.counters().get(Counter.TUN_TO_UDP_PACKETS)).isEqualTo(11);
    }

    @Test
    void unroutedSuperPacketGetsOneNetUnreachablePerFrameNotPerSegment() throws Exception {
        final int unrouted = 0x64400909; // 100.64.9.9: inside the Network, no peer
        final byte[] payload = new byte[10 * MSS + 123]; // 11 segments each
        final byte[] first = tcp(0x64400101, unrouted, 0x1000, 0x70000000, payload, 0x18, true);
        final byte[] second = tcp(0x64400101, unrouted, 0x2000, 0x70100000, payload, 0x18, true);
        tunFrame(VirtioNetHdr.FLAG_NEEDS_CSUM, VirtioNetHdr.GSO_TCPV4, 40, MSS, 20, 16, first);
        tunFrame(VirtioNetHdr.FLAG_NEEDS_CSUM, VirtioNetHdr.GSO_TCPV4, 40, MSS, 20, 16, second);

        assertThat(loop.tunToUdp()).isEqualTo(2);

        final byte[] frame = new byte[70000];
        final int[] ids = {0x1000, 0x2000};
        final int[] seqs = {0x70000000, 0x70100000};
        for (int f = 0; f < 2; f++) {
            final int n = (int) C.read(pair[1], frame, frame.length);
            assertThat(n).as("ICMP frame %d: virtio header + 576 (RFC 1812 §4.3.2.3: 20 IP + 8 ICMP + 548 quoted)", f)
                .isEqualTo(VirtioNetHdr.LENGTH + IcmpError.MAX_LENGTH);
            final byte[] icmp = Arrays.copyOfRange(frame, VirtioNetHdr.LENGTH, n);
            assertThat(Arrays.copyOf(frame, VirtioNetHdr.LENGTH)).as("no offload in the header")
                .isEqualTo(new byte[VirtioNetHdr.LENGTH]);
            assertThat(icmp[9]).as("protocol ICMP").isEqualTo((byte) 1);
            assertThat(u32(icmp, 12)).as("from the unrouted destination").isEqualTo(unrouted);
            assertThat(u32(icmp, 16)).as("to the sender").isEqualTo(0x64400101);
            assertThat(icmp[20]).as("type destination unreachable").isEqualTo((byte) 3);
            assertThat(icmp[21]).as("code net unreachable").isEqualTo((byte) 0);
            assertThat(InetChecksum.checksum(ByteBuffer.wrap(icmp), 20, IcmpError.MAX_LENGTH - 20)).as("ICMP checksum")
                .isZero();
            assertThat(Arrays.copyOfRange(icmp, 28 + 40, IcmpError.MAX_LENGTH)).as("the first segment's payload, quoted")
                .isEqualTo(Arrays.copyOf(payload, IcmpError.MAX_LENGTH - 28 - 40));
            assertThat(u16(icmp, 28 + 4)).as("quotes frame %d's first segment", f).isEqualTo(ids[f]);
            assertThat(u16(icmp, 28 + 2)).as("segment, not super-packet, length").isEqualTo(40 + MSS);
            assertThat(u32(icmp, 28 + 20 + 4)).as("first segment's sequence").isEqualTo(seqs[f]);
        }
        assertThat(C.read(pair[1], frame, frame.length)).as("nothing else written").isEqualTo(-1);
        assertThat(receive(1)).as("nothing sent").isEmpty();
        assertThat(loop.counters().get(Counter.ICMP_UNREACHABLE_SENT)).isEqualTo(2);
        assertThat(loop.counters().get(Counter.ICMP_UNREACHABLE_SUPPRESSED)).as("not rate-limited").isZero();
        assertThat(loop.counters().drops(DropReason.NO_ROUTE)).as("every segment dropped").isEqualTo(22);
        assertThat(loop.counters().get(Counter.TUN_SUPER_PACKETS)).isEqualTo(2);
    }

    @Test
    void plainFrameIsSentAsThePacketItselfWithItsChecksumCompleted() throws Exception {
        final byte[] payload = new byte[300];
        new Random(3).nextBytes(payload);
        final byte[] full = tcp(0x64400101, 0x64400205, 7, 1, payload, 0x18, false);
        final byte[] partial = tcp(0x64400101, 0x64400205, 7, 1, payload, 0x18, true);
        tunFrame(VirtioNetHdr.FLAG_NEEDS_CSUM, VirtioNetHdr.GSO_NONE, 0, 0, 20, 16, partial);

        assertThat(loop.tunToUdp()).isEqualTo(1);

        final List<byte[]> wire = receive(1);
        assertThat(wire).hasSize(1);
        final byte[] expected = full.clone();
        expected[8] = 63;
        final int check = InetChecksum.ipv4Header(ByteBuffer.wrap(expected).put(10, (byte) 0).put(11, (byte) 0),
            0, 20);
        expected[10] = (byte) (check >>> 8);
        expected[11] = (byte) check;
        assertThat(wire.get(0)).isEqualTo(expected);
    }

    @Test
    void malformedFramesAreDroppedAndCounted() throws Exception {
        final byte[] payload = new byte[3 * MSS];
        final byte[] sp = tcp(0x64400101, 0x64400205, 1, 1, payload, 0x10, true);
        C.write(pair[1], new byte[] {1, 2, 3}, 3); // shorter than the virtio header
        tunFrame(0, 2, 40, MSS, 0, 0, sp); // unknown gso_type
        tunFrame(0, VirtioNetHdr.GSO_TCPV4, 40, 0, 0, 0, sp); // gso_size 0
        tunFrame(0, VirtioNetHdr.GSO_TCPV4, 40, MTU, 0, 0, sp); // segments larger than the MTU
        tunFrame(VirtioNetHdr.FLAG_NEEDS_CSUM, VirtioNetHdr.GSO_NONE, 0, 0, sp.length, 16, sp); // csum beyond
        tunFrame(0, VirtioNetHdr.GSO_TCPV6, 40, MSS, 0, 0, sp); // unsupported type
        final byte[] truncated = Arrays.copyOf(sp, sp.length - 1); // IPv4 total length does not match
        tunFrame(0, VirtioNetHdr.GSO_TCPV4, 40, MSS, 0, 0, truncated);
        tunFrame(0, VirtioNetHdr.GSO_TCPV4, sp.length + 1, MSS, 0, 0, sp); // hdr_len beyond the packet
        final byte[] udp = TestPackets.udp(0x64400101, 4000, 0x64400205, 4000, new byte[3 * MSS]);
        tunFrame(VirtioNetHdr.FLAG_NEEDS_CSUM, VirtioNetHdr.GSO_UDP_L4 | VirtioNetHdr.GSO_ECN, 28, MSS, 20, 6,
            udp); // ECN bits on a UDP type
        tunFrame(0, VirtioNetHdr.GSO_UDP, 28, MSS, 0, 0, udp); // UFO: IP fragments, not supported
        tunFrame(VirtioNetHdr.FLAG_NEEDS_CSUM, VirtioNetHdr.GSO_UDP_L4, 40, MSS, 20, 6, sp); // USO of a TCP packet

        assertThat(loop.tunToUdp()).isEqualTo(11);

        assertThat(loop.counters().drops(DropReason.BAD_VNET_HEADER)).isEqualTo(11);
        assertThat(receive(1)).isEmpty();
        assertThat(loop.counters().get(Counter.TUN_TO_UDP_PACKETS)).isZero();
    }

    @Test
    void inOrderTcpSegmentsFromThePeerReachTheTunAsOneSuperPacket() throws Exception {
        final InetSocketAddress to = new InetSocketAddress("127.0.0.1", loopPort);
        final byte[] all = new byte[5 * MSS];
        new Random(11).nextBytes(all);
        for (int i = 0; i < 5; i++) {
            final byte[] seg = tcp(0x64400205, 0x64400107, 0x2000 + i, 0x5000 + i * MSS,
                Arrays.copyOfRange(all, i * MSS, (i + 1) * MSS), 0x10, false);
            peer.send(ByteBuffer.wrap(seg), to);
        }
        Thread.sleep(100);
        assertThat(loop.udpToTun()).isEqualTo(5);

        final byte[] frame = new byte[70000];
        final int n = (int) C.read(pair[1], frame, frame.length);
        assertThat(n).isEqualTo(VirtioNetHdr.LENGTH + 40 + 5 * MSS);
        final VirtioNetHdr hdr = new VirtioNetHdr().wrap(ByteBuffer.wrap(frame).order(ByteOrder.nativeOrder()), 0);
        assertThat(hdr.gsoType()).isEqualTo(VirtioNetHdr.GSO_TCPV4);
        assertThat(hdr.gsoSize()).isEqualTo(MSS);
        assertThat(Arrays.copyOfRange(frame, VirtioNetHdr.LENGTH + 40, n)).isEqualTo(all);
        assertThat(frame[VirtioNetHdr.LENGTH + 8] & 0xff).as("TTL decremented").isEqualTo(63);
        assertThat(C.read(pair[1], frame, frame.length)).as("nothing else written").isEqualTo(-1);
        assertThat(loop.counters().get(Counter.UDP_TO_TUN_PACKETS)).isEqualTo(5);
        assertThat(loop.counters().get(Counter.UDP_TO_TUN_BYTES)).isEqualTo(5 * (40 + MSS));
        assertThat(loop.counters().get(Counter.TUN_COALESCED_FRAMES)).isEqualTo(1);
    }

    /** Writes one TUN frame: a virtio_net_hdr (native byte order, as the kernel writes it) and the packet. */
    private void tunFrame(final int flags, final int gsoType, final int hdrLen, final int gsoSize,
                          final int csumStart, final int csumOffset, final byte[] packet) {
        final ByteBuffer b = ByteBuffer.allocate(VirtioNetHdr.LENGTH + packet.length).order(ByteOrder.nativeOrder());
        new VirtioNetHdr().wrap(b, 0).clear().flags(flags).gsoType(gsoType).hdrLen(hdrLen).gsoSize(gsoSize)
            .csumStart(csumStart).csumOffset(csumOffset);
        b.put(VirtioNetHdr.LENGTH, packet);
        assertThat(C.write(pair[1], b.array(), b.capacity())).isEqualTo(b.capacity());
    }

    /** Receives up to {@code max} datagrams at the peer, waiting at most 2 s for them. */
    private List<byte[]> receive(final int max) throws Exception {
        final List<byte[]> out = new ArrayList<>();
        final ByteBuffer buf = ByteBuffer.allocate(65536);
        final long deadline = System.nanoTime() + (max == 1 ? 300_000_000L : 2_000_000_000L);
        while (out.size() < max && System.nanoTime() < deadline) {
            buf.clear();
            if (peer.receive(buf) == null) {
                Thread.sleep(5);
                continue;
            }
            buf.flip();
            final byte[] d = new byte[buf.remaining()];
            buf.get(d);
            out.add(d);
        }
        return out;
    }
}
