package io.overlay.udp.offload;

import io.overlay.core.net.Ipv4;
import io.overlay.udp.wire.InetChecksum;
import io.overlay.udp.wire.Ipv4Header;
import io.overlay.udp.wire.TcpHeader;
import java.nio.ByteBuffer;

/**
 * Software GSO: cuts a super-packet read from a TUN opened with {@code IFF_VNET_HDR} (its {@link VirtioNetHdr} plus an
 * IPv4 packet of up to 65535 bytes) into MTU-sized IPv4 packets, byte for byte as the Linux kernel does when it has to
 * segment the same super-packet itself ({@code validate_xmit_skb} → {@code inet_gso_segment} →
 * {@code tcp4_gso_segment}/{@code udp4_ufo_fragment}, Linux 6.18), so that what overlay puts on the wire is exactly
 * what a flanneld host would have sent with offloads off: one inner IPv4 packet of at most the MTU per UDP datagram.
 *
 * <p><b>TCPV4</b> (TSO): the payload after the IPv4 and TCP headers is cut into {@code gso_size}-byte pieces (the last
 * may be shorter). Every segment gets a copy of the IPv4 header (options included) and of the TCP header (options
 * included, e.g. timestamps) with: total length = its own size; IP ID = the super-packet's ID + segment index (mod
 * 2<sup>16</sup>; TCPv4 GSO from a TUN is never FIXEDID); a fresh IPv4 header checksum; TCP sequence number = first
 * sequence + index × {@code gso_size}; FIN and PSH only on the last segment; CWR only on the first (kept on all with
 * {@link VirtioNetHdr#GSO_ACCECN}); a full TCP checksum over the RFC 793 pseudo-header, computed from scratch.
 *
 * <p><b>UDP_L4</b> (USO, IPv4): each segment is a whole UDP datagram with the copied IPv4 and UDP headers, UDP length =
 * 8 + its payload, IP IDs incrementing as above and a full UDP checksum (0 is sent as 0xffff, RFC 768).
 *
 * <p><b>No GSO</b> (or a GSO packet whose payload fits in one {@code gso_size}: the kernel does not treat it as GSO
 * when payload + TCP options fit too, and drops it otherwise, as tcp_gso_segment refuses a packet within one MSS; its
 * own TCP never hands out either): the packet is copied unchanged except that a NEEDS_CSUM partial checksum is
 * completed as the kernel's {@code skb_checksum_help} does: ones' complement sum from {@code csum_start} to the end,
 * seeded by the pseudo-header sum already in the checksum field, stored at {@code csum_start + csum_offset}, 0 sent as
 * 0xffff.
 * {@link #completeChecksum} does the same in place, for callers that want to avoid the copy.
 *
 * <p>Errors are returned as {@link OffloadVerdict} values (the output batch is then empty); nothing is thrown on the
 * packet path and nothing is allocated. Not thread-safe: one instance per packet loop.
 */
public final class GsoSegmenter {
    /** UDP header: length and checksum fields (RFC 768), and the header's size. */
    private static final int UDP_LENGTH_OFFSET = 4;
    private static final int UDP_CHECKSUM_OFFSET = 6;
    private static final int UDP_HEADER = 8;

    private final int mtu;
    private final Ipv4Header srcIp = new Ipv4Header();
    private final Ipv4Header dstIp = new Ipv4Header();
    private final TcpHeader srcTcp = new TcpHeader();
    private final TcpHeader dstTcp = new TcpHeader();

    /**
     * Creates a segmenter.
     *
     * @param mtu the largest IPv4 packet to produce, in bytes (the TUN MTU, flannel's underlay MTU − 28)
     * @throws IllegalArgumentException if {@code mtu} is outside 68..65535
     */
    public GsoSegmenter(final int mtu) {
        Ipv4.checkMtu("MTU", mtu);
        this.mtu = mtu;
    }

    /**
     * Returns the MTU this segmenter cuts to.
     *
     * @return bytes
     */
    public int mtu() {
        return mtu;
    }

    /**
     * Segments one super-packet into {@code out} (cleared first). On success {@code out} holds 1..n IPv4 packets ready
     * for the wire, in order; on any other verdict it is empty and the frame should be dropped and counted.
     *
     * @param hdr the frame's header, already {@link VirtioNetHdr#wrap wrapped} (it may live in the same buffer,
     *     right before the packet); not modified
     * @param src the buffer holding the IPv4 packet (absolute indexes; position/limit unused and unchanged)
     * @param offset index of the IPv4 header's first byte
     * @param length the packet length in bytes (the frame length minus {@link VirtioNetHdr#LENGTH})
     * @param out where the segments go; each slot must hold a full segment
     * @return {@link OffloadVerdict#OK}, or why the frame was refused
     */
    public OffloadVerdict segment(final VirtioNetHdr hdr, final ByteBuffer src, final int offset, final int length,
                                  final SegmentBatch out) {
        return segment(hdr, src, offset, length, out, false);
    }

    /**
     * As {@link #segment}, but the segments of a TCPV4 super-packet keep their payload in {@code src}: only each
     * segment's IPv4 and TCP headers are written to {@code out}, with the payload's position in {@code src} as its
     * tail ({@link SegmentBatch#tailOffset}), and the TCP checksum sums the headers written and the payload where it
     * lies (the one pass over it). The bytes of every segment, headers then tail, are those {@link #segment} gives.
     * Other frames (no GSO, a TCP payload within one {@code gso_size}, UDP_L4) are written whole, as by
     * {@link #segment}. {@code src} must stay unchanged while the segments are used.
     *
     * @param hdr the frame's header, wrapped; not modified
     * @param src the buffer holding the IPv4 packet
     * @param offset index of the IPv4 header's first byte
     * @param length the packet length in bytes
     * @param out where the segments go
     * @return {@link OffloadVerdict#OK}, or why the frame was refused
     */
    public OffloadVerdict segmentInPlace(final VirtioNetHdr hdr, final ByteBuffer src, final int offset,
                                         final int length, final SegmentBatch out) {
        return segment(hdr, src, offset, length, out, true);
    }

    private OffloadVerdict segment(final VirtioNetHdr hdr, final ByteBuffer src, final int offset, final int length,
                                   final SegmentBatch out, final boolean split) {
        out.clear();
        OffloadVerdict v = hdr.check(length);
        if (v != OffloadVerdict.OK) {
            return v;
        }
        if (srcIp.wrap(src, offset).validate(length, Ipv4Header.MAX_PACKET) != null) {
            return OffloadVerdict.BAD_IPV4;
        }
        final int base = hdr.gsoBaseType();
        if (base == VirtioNetHdr.GSO_NONE) {
            return single(hdr, src, offset, length, out);
        }
        if (base != VirtioNetHdr.GSO_TCPV4 && base != VirtioNetHdr.GSO_UDP_L4) {
            return OffloadVerdict.UNSUPPORTED_GSO_TYPE;
        }
        final int ihl = srcIp.headerLength();
        if ((srcIp.flagsAndFragment() & (Ipv4Header.FLAG_MORE_FRAGMENTS | Ipv4Header.FRAGMENT_OFFSET_MASK)) != 0) {
            return OffloadVerdict.BAD_IPV4; // a fragment cannot be a GSO packet
        }
        if (hdr.needsChecksum() && hdr.csumStart() != ihl) {
            return OffloadVerdict.BAD_CSUM_OFFSETS; // tcp_gso_segment: checksum must start at the transport header
        }
        final int proto = srcIp.protocol();
        if (base == VirtioNetHdr.GSO_TCPV4) {
            if (proto != Ipv4Header.PROTOCOL_TCP || ihl + TcpHeader.MIN_LENGTH > length) {
                return OffloadVerdict.BAD_TRANSPORT;
            }
            final int thl = srcTcp.wrap(src, offset + ihl).headerLength();
            if (thl < TcpHeader.MIN_LENGTH || ihl + thl > length) {
                return OffloadVerdict.BAD_TRANSPORT;
            }
            return tcp(hdr, src, offset, length, ihl, thl, out, split);
        }
        if (proto != Ipv4Header.PROTOCOL_UDP || ihl + UDP_HEADER > length) {
            return OffloadVerdict.BAD_TRANSPORT;
        }
        return udp(hdr, src, offset, length, ihl, out);
    }

    /**
     * Completes a NEEDS_CSUM partial checksum in place, exactly as the kernel's {@code skb_checksum_help}: the
     * ones' complement sum from {@code csum_start} to the end of the packet (the checksum field holds the
     * pseudo-header sum) is complemented and stored at {@code csum_start + csum_offset}; a result of 0 is stored as
     * 0xffff. Does nothing when NEEDS_CSUM is not set. The header itself is not changed: a caller that writes the
     * packet back to a TUN should clear its flags.
     *
     * @param hdr the frame's header, wrapped; must be a non-GSO header (a GSO packet needs {@link #segment})
     * @param buf the buffer holding the IPv4 packet
     * @param offset index of the IPv4 header's first byte
     * @param length the packet length in bytes
     * @return {@link OffloadVerdict#OK}, or the header problem ({@link VirtioNetHdr#check}) and nothing changed; a GSO
     *     header gives {@link OffloadVerdict#UNSUPPORTED_GSO_TYPE}
     */
    public static OffloadVerdict completeChecksum(final VirtioNetHdr hdr, final ByteBuffer buf, final int offset,
                                                  final int length) {
        final OffloadVerdict v = hdr.check(length);
        if (v != OffloadVerdict.OK) {
            return v;
        }
        if (hdr.isGso()) {
            return OffloadVerdict.UNSUPPORTED_GSO_TYPE;
        }
        if (hdr.needsChecksum()) {
            completeInPlace(buf, offset, length, hdr.csumStart(), hdr.csumOffset());
        }
        return OffloadVerdict.OK;
    }

    private static void completeInPlace(final ByteBuffer buf, final int offset, final int length, final int start,
                                        final int csumOffset) {
        final int check = InetChecksum.finish(InetChecksum.sum(buf, offset + start, length - start));
        InetChecksum.putU16(buf, offset + start + csumOffset, check == 0 ? 0xffff : check);
    }

    private OffloadVerdict single(final VirtioNetHdr hdr, final ByteBuffer src, final int offset, final int length,
                                  final SegmentBatch out) {
        if (length > mtu || length > out.slotSize()) {
            return OffloadVerdict.SEGMENT_EXCEEDS_MTU;
        }
        final ByteBuffer dst = out.buffer();
        dst.put(out.nextOffset(), src, offset, length);
        if (hdr.needsChecksum()) {
            completeInPlace(dst, out.nextOffset(), length, hdr.csumStart(), hdr.csumOffset());
        }
        out.add(length);
        return OffloadVerdict.OK;
    }

    private OffloadVerdict tcp(final VirtioNetHdr hdr, final ByteBuffer src, final int offset, final int length,
                               final int ihl, final int thl, final SegmentBatch out, final boolean split) {
        final int hl = ihl + thl;
        final int payload = length - hl;
        final int mss = hdr.gsoSize();
        if (payload <= mss) {
            return single(hdr, src, offset, length, out); // virtio_net_hdr_to_skb: "too small packets are not GSO"
        }
        final int n = (payload + mss - 1) / mss;
        if (hl + mss > mtu || hl + mss > out.slotSize()) {
            return OffloadVerdict.SEGMENT_EXCEEDS_MTU;
        }
        if (n > out.capacity()) {
            return OffloadVerdict.TOO_MANY_SEGMENTS;
        }
        final boolean keepCwr = (hdr.gsoType() & VirtioNetHdr.GSO_ACCECN) != 0;
        final int id0 = srcIp.identification();
        final int seq0 = srcTcp.sequence();
        final int saddr = srcIp.source();
        final int daddr = srcIp.destination();
        final int flags0 = srcTcp.flags();
        final ByteBuffer dst = out.buffer();
        for (int i = 0; i < n; i++) {
            final int chunk = Math.min(mss, payload - i * mss);
            final int d = out.nextOffset();
            final int from = offset + hl + i * mss;
            dst.put(d, src, offset, hl);
            if (!split) {
                dst.put(d + hl, src, from, chunk);
            }
            final int total = hl + chunk;
            dstIp.wrap(dst, d).totalLength(total).identification(id0 + i).updateChecksum();
            final int t = d + ihl;
            int flags = flags0;
            if (i < n - 1) {
                flags &= ~(TcpHeader.FIN | TcpHeader.PSH);
            }
            if (i > 0 && !keepCwr) {
                flags &= ~TcpHeader.CWR;
            }
            dstTcp.wrap(dst, t).sequence(seq0 + i * mss).flags(flags).checksum(0);
            final long pseudo = InetChecksum.pseudoHeader(saddr, daddr, Ipv4Header.PROTOCOL_TCP, thl + chunk);
            if (split) {
                // thl is a multiple of 4, so the payload's 16-bit words line up with the packet's
                dstTcp.checksum(InetChecksum.finish(pseudo + InetChecksum.sum(dst, t, thl)
                    + InetChecksum.sum(src, from, chunk)));
                out.addSplit(hl, src, from, chunk);
            } else {
                dstTcp.checksum(InetChecksum.finish(pseudo + InetChecksum.sum(dst, t, thl + chunk)));
                out.add(total);
            }
        }
        return OffloadVerdict.OK;
    }

    private OffloadVerdict udp(final VirtioNetHdr hdr, final ByteBuffer src, final int offset, final int length,
                               final int ihl, final SegmentBatch out) {
        final int hl = ihl + UDP_HEADER;
        final int payload = length - hl;
        final int mss = hdr.gsoSize();
        if (payload <= mss) {
            return single(hdr, src, offset, length, out);
        }
        final int n = (payload + mss - 1) / mss;
        if (hl + mss > mtu || hl + mss > out.slotSize()) {
            return OffloadVerdict.SEGMENT_EXCEEDS_MTU;
        }
        if (n > out.capacity()) {
            return OffloadVerdict.TOO_MANY_SEGMENTS;
        }
        final int id0 = srcIp.identification();
        final int saddr = srcIp.source();
        final int daddr = srcIp.destination();
        final ByteBuffer dst = out.buffer();
        for (int i = 0; i < n; i++) {
            final int chunk = Math.min(mss, payload - i * mss);
            final int d = out.nextOffset();
            dst.put(d, src, offset, hl);
            dst.put(d + hl, src, offset + hl + i * mss, chunk);
            final int total = hl + chunk;
            dstIp.wrap(dst, d).totalLength(total).identification(id0 + i).updateChecksum();
            final int u = d + ihl;
            InetChecksum.putU16(dst, u + UDP_LENGTH_OFFSET, UDP_HEADER + chunk);
            InetChecksum.putU16(dst, u + UDP_CHECKSUM_OFFSET, 0);
            final long sum = InetChecksum.pseudoHeader(saddr, daddr, Ipv4Header.PROTOCOL_UDP, UDP_HEADER + chunk)
                + InetChecksum.sum(dst, u, UDP_HEADER + chunk);
            final int check = InetChecksum.finish(sum);
            InetChecksum.putU16(dst, u + UDP_CHECKSUM_OFFSET, check == 0 ? 0xffff : check);
            out.add(total);
        }
        return OffloadVerdict.OK;
    }
}
