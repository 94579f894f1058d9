package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.DropReason;
import io.overlay.testing.TestPackets;
import io.overlay.udp.offload.VirtioNetHdr;
import io.overlay.udp.wire.InetChecksum;
import io.overlay.udp.wire.Ipv4Header;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** The engine's per-packet decisions, on fixed packets and a real route table. */
class PacketProcessorTest {
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/10");
    private static final Ipv4Prefix LOCAL = Ipv4Prefix.parse("100.64.1.0/24");
    private static final Ipv4Prefix REMOTE = Ipv4Prefix.parse("100.64.9.0/24");
    private static final Peer PEER = new Peer(Ipv4.parse("198.18.0.2"), 8285);
    private static final int AT = 13;

    private final RouteTable routes = new RouteTable();

    private PacketProcessor processor() {
        return new PacketProcessor(routes, NETWORK, LOCAL, 1500, true);
    }

    @Test
    void tunPacketWithRouteGoesToItsPeerWithTtlDecremented() {
        routes.put(REMOTE, PEER);
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        final long peer = processor().tunToUdp(buf, AT, 84);
        assertThat(peer).isEqualTo(PEER.packed());
        assertThat(TestPackets.copy(buf, AT, 84)).isEqualTo(TestPackets.bytes(TestPackets.ECHO_REQUEST_FORWARDED));
    }

    /** A responder that only builds answers (no TUN to write to). */
    private static IcmpResponder responder(final int headerLength) {
        return new IcmpResponder(null, headerLength, new LoopCounters(), 24, 1500, 0);
    }

    @Test
    void tunPacketWithoutRouteIsCountedAndAnsweredNetUnreachable() {
        final PacketProcessor p = processor();
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        assertThat(p.tunToUdp(buf, AT, 84)).isEqualTo(PacketProcessor.NO_ROUTE);
        assertThat(p.drops(DropReason.NO_ROUTE)).isEqualTo(1);
        assertThat(TestPackets.copy(buf, AT, 84)).as("left unchanged for the answer")
            .isEqualTo(TestPackets.bytes(TestPackets.ECHO_REQUEST));
        final IcmpResponder icmp = responder(0);
        final int length = icmp.build(buf, AT, 84);
        assertThat(TestPackets.copy(icmp.buffer(), 0, length)).isEqualTo(TestPackets.bytes(TestPackets.NET_UNREACHABLE));
    }

    @Test
    void withAVirtioHeaderTheAnswerFollowsAnExplicitZeroHeader() {
        final IcmpResponder icmp = responder(VirtioNetHdr.LENGTH);
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        final int length = icmp.build(buf, AT, 84);
        assertThat(TestPackets.copy(icmp.buffer(), 0, VirtioNetHdr.LENGTH)).as("GSO_NONE, no checksum offload")
            .isEqualTo(new byte[VirtioNetHdr.LENGTH]);
        assertThat(TestPackets.copy(icmp.buffer(), VirtioNetHdr.LENGTH, length))
            .isEqualTo(TestPackets.bytes(TestPackets.NET_UNREACHABLE));
    }

    @Test
    void theAnswerQuotesUpTo576BytesOrTheMtuAndOnlyTheBytesPresent() {
        final byte[] big = TestPackets.udp(7, 1000 - 28, 1);
        final ByteBuffer buf = ByteBuffer.allocate(AT + big.length).put(AT, big);
        assertThat(responder(0).build(buf, AT, 1000)).as("RFC 1812 4.3.2.3").isEqualTo(576);
        assertThat(new IcmpResponder(null, 0, new LoopCounters(), 24, 500, 0).build(buf, AT, 1000)).as("MTU 500")
            .isEqualTo(500);
        assertThat(responder(0).build(buf, AT, 48)).as("a split segment's headers").isEqualTo(28 + 48);
        assertThat(responder(VirtioNetHdr.LENGTH).buffer().capacity()).as("allocated once for the longest")
            .isEqualTo(VirtioNetHdr.LENGTH + 576);
    }

    @Test
    void netUnreachableIsDueOnlyForAnAnswerableNoRouteDrop() {
        final PacketProcessor p = processor();
        final IcmpResponder icmp = responder(0);
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        assertThat(p.tunToUdp(buf, AT, 84)).isEqualTo(PacketProcessor.NO_ROUTE);
        assertThat(icmp.build(buf, AT, 84)).isPositive();

        final ByteBuffer error = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        error.put(20, (byte) 3); // itself a destination unreachable (checksums are not checked here)
        assertThat(p.tunToUdp(error, 0, 84)).isEqualTo(PacketProcessor.NO_ROUTE);
        assertThat(p.drops(DropReason.NO_ROUTE)).isEqualTo(2);
        assertThat(icmp.build(error, 0, 84)).as("never about an ICMP error").isZero();

        routes.put(REMOTE, PEER);
        final ByteBuffer routed = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        assertThat(p.tunToUdp(routed, 0, 84)).as("forwarded").isEqualTo(PEER.packed());
    }

    @Test
    void tunDropsAreCountedByReason() {
        routes.put(REMOTE, PEER);
        final PacketProcessor p = processor();
        assertThat(p.tunToUdp(TestPackets.buffer(TestPackets.ECHO_REQUEST, 0), 0, 83)).isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.BAD_TOTAL_LENGTH)).isEqualTo(1);
        final ByteBuffer ttl1 = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        ttl1.put(Ipv4Header.TTL_OFFSET, (byte) 1);
        new Ipv4Header().wrap(ttl1, 0).updateChecksum();
        assertThat(p.tunToUdp(ttl1, 0, 84)).isEqualTo(PacketProcessor.TTL_EXCEEDED);
        assertThat(p.drops(DropReason.TTL_EXPIRED)).isEqualTo(1);
        assertThat(ttl1.get(Ipv4Header.TTL_OFFSET)).as("left unchanged for the answer").isEqualTo((byte) 1);
        final ByteBuffer outside = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        outside.put(Ipv4Header.DESTINATION_OFFSET, (byte) 10);
        new Ipv4Header().wrap(outside, 0).updateChecksum();
        assertThat(p.tunToUdp(outside, 0, 84)).as("not a no-route drop").isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.OUTSIDE_NETWORK)).isEqualTo(1);
    }

    @Test
    void aTunPacketWithABadHeaderChecksumIsNotSentOn() {
        // the kernel's own packets always verify, but a packet socket on the TUN (AF_PACKET) writes any bytes
        routes.put(REMOTE, PEER);
        final PacketProcessor p = processor();
        final ByteBuffer bad = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        bad.put(AT + Ipv4Header.CHECKSUM_OFFSET + 1, (byte) (bad.get(AT + Ipv4Header.CHECKSUM_OFFSET + 1) ^ 0x10));
        assertThat(p.tunToUdp(bad, AT, 84)).isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.BAD_HEADER_CHECKSUM)).isEqualTo(1);
        final ByteBuffer unrouted = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        unrouted.put(AT + Ipv4Header.DESTINATION_OFFSET + 2, (byte) 8); // 100.64.8.9: no route, and no ICMP answer
        assertThat(p.tunToUdp(unrouted, AT, 84)).as("checked before the route").isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.BAD_HEADER_CHECKSUM)).isEqualTo(2);
        assertThat(p.drops(DropReason.NO_ROUTE)).isZero();
    }

    @Test
    void datagramFromKnownPeerForLocalSubnetIsDeliveredWithTtlDecremented() {
        routes.put(REMOTE, PEER);
        final PacketProcessor p = new PacketProcessor(routes, NETWORK, REMOTE, 1500, true);
        final ByteBuffer buf = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        assertThat(p.udpToTun(buf, AT, 84, PEER.publicIp())).isEqualTo(PacketProcessor.DELIVER);
        assertThat(TestPackets.copy(buf, AT, 84)).isEqualTo(TestPackets.bytes(TestPackets.ECHO_REQUEST_FORWARDED));
    }

    @Test
    void datagramDropsAreCountedByReason() {
        routes.put(REMOTE, PEER);
        final PacketProcessor p = new PacketProcessor(routes, NETWORK, REMOTE, 1500, true);
        assertThat(p.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, 0), 0, 84, Ipv4.parse("198.18.0.99")))
            .isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.UNKNOWN_SENDER)).isEqualTo(1);
        assertThat(p.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, 0), 0, 10, PEER.publicIp()))
            .isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.TOO_SHORT)).isEqualTo(1);
        p.onLocalSubnet(LOCAL);
        assertThat(p.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, 0), 0, 84, PEER.publicIp()))
            .isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.FOREIGN_DESTINATION)).isEqualTo(1);
        final PacketProcessor small = new PacketProcessor(routes, NETWORK, REMOTE, 80, true);
        assertThat(small.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, 0), 0, 84, PEER.publicIp()))
            .isEqualTo(PacketProcessor.DROP);
        assertThat(small.drops(DropReason.OVERSIZED)).isEqualTo(1);
    }

    @Test
    void withoutALocalSubnetEveryDatagramIsDroppedAsForeignUntilOneIsSetAgain() {
        routes.put(REMOTE, PEER);
        final PacketProcessor p = new PacketProcessor(routes, NETWORK, REMOTE, 1500, true);
        p.onLocalSubnet(null);
        assertThat(p.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, AT), AT, 84, PEER.publicIp()))
            .as("lease lost: nothing delivered").isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.FOREIGN_DESTINATION)).isEqualTo(1);
        final ByteBuffer zero = TestPackets.buffer(TestPackets.ECHO_REQUEST, 0);
        zero.putInt(Ipv4Header.DESTINATION_OFFSET, 0);
        zero.putShort(Ipv4Header.CHECKSUM_OFFSET, (short) InetChecksum.ipv4Header(zero, 0, 20));
        assertThat(p.udpToTun(zero, 0, 84, PEER.publicIp())).as("not even to 0.0.0.0").isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.FOREIGN_DESTINATION)).isEqualTo(2);
        p.onLocalSubnet(REMOTE);
        assertThat(p.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, AT), AT, 84, PEER.publicIp()))
            .as("re-acquired: delivered again").isEqualTo(PacketProcessor.DELIVER);
        assertThat(new PacketProcessor(routes, NETWORK, null, 1500, true)
            .udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, AT), AT, 84, PEER.publicIp()))
                .isEqualTo(PacketProcessor.DROP);
    }

    @Test
    void aDatagramWhoseTtlExpiresIsDroppedUnchangedAndFlaggedForAnAnswer() {
        routes.put(REMOTE, PEER);
        final PacketProcessor p = new PacketProcessor(routes, NETWORK, REMOTE, 1500, true);
        final ByteBuffer ttl1 = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        ttl1.put(AT + Ipv4Header.TTL_OFFSET, (byte) 1);
        new Ipv4Header().wrap(ttl1, AT).updateChecksum();
        final byte[] arrived = TestPackets.copy(ttl1, AT, 84);
        assertThat(p.udpToTun(ttl1, AT, 84, PEER.publicIp())).as("the result says why: no state to ask afterwards")
            .isEqualTo(PacketProcessor.TTL_EXCEEDED);
        assertThat(p.drops(DropReason.TTL_EXPIRED)).isEqualTo(1);
        assertThat(TestPackets.copy(ttl1, AT, 84)).as("left as it arrived, to be quoted").isEqualTo(arrived);
        assertThat(p.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, AT), AT, 84, PEER.publicIp()))
            .isEqualTo(PacketProcessor.DELIVER);
        assertThat(p.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, 0), 0, 10, PEER.publicIp()))
            .as("another reason").isEqualTo(PacketProcessor.DROP);
        assertThat(p.route(Ipv4.parse("100.64.9.7"))).as("the way back to a source").isEqualTo(PEER.packed());
        assertThat(p.localAddress()).isEqualTo(REMOTE.address());
    }

    @Test
    void aDatagramWithABadHeaderChecksumIsDroppedAndCountedAsSuch() {
        routes.put(REMOTE, PEER);
        final PacketProcessor p = new PacketProcessor(routes, NETWORK, REMOTE, 1500, true);
        final ByteBuffer bad = TestPackets.buffer(TestPackets.ECHO_REQUEST, AT);
        bad.put(AT + Ipv4Header.CHECKSUM_OFFSET + 1, (byte) (bad.get(AT + Ipv4Header.CHECKSUM_OFFSET + 1) ^ 0x10));
        assertThat(p.udpToTun(bad, AT, 84, PEER.publicIp())).isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.BAD_HEADER_CHECKSUM)).isEqualTo(1);
        assertThat(p.udpToTun(TestPackets.buffer(TestPackets.ECHO_REQUEST, AT), AT, 84, PEER.publicIp()))
            .isEqualTo(PacketProcessor.DELIVER);
    }

    @Test
    void rejectsAnMtuOutsideIpv4Limits() {
        assertThatThrownBy(() -> new PacketProcessor(routes, NETWORK, LOCAL, 67, true))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("mtu");
    }

    @Test
    void aTruncatedDatagramIsDroppedAsOversizedOrAsFromAnUnknownSender() {
        routes.put(REMOTE, PEER);
        final PacketProcessor p = new PacketProcessor(routes, NETWORK, REMOTE, 1500, true);
        final ByteBuffer slot = ByteBuffer.allocate(1504); // what the kernel left of a longer datagram
        assertThat(p.udpToTun(slot, 0, UdpPort.TRUNCATED, PEER.publicIp())).isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.OVERSIZED)).isEqualTo(1);
        assertThat(p.udpToTun(slot, 0, UdpPort.TRUNCATED, Ipv4.parse("198.18.0.99"))).isEqualTo(PacketProcessor.DROP);
        assertThat(p.drops(DropReason.UNKNOWN_SENDER)).as("the sender is checked first").isEqualTo(1);
        assertThat(p.drops(DropReason.OVERSIZED)).isEqualTo(1);
    }
}
