package io.overlay.udp.offload;

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
 * <p><b>No GSO</b> (or a GSO packet whose payload fits in one {@code gso_size}, which the kernel does not treat as GSO
 * either): the packet is copied unchanged except that a NEEDS_CSUM partial checksum is completed as the kernel's
 * {@code skb_checksum_help} does: ones' complement sum from {@code csum_start} to the end, seeded by the pseudo-header
 * sum already in the checksum field, stored at {@code csum_start + csum_offset}, 0 sent as 0xffff.
 * {@link #completeChecksum} does the same in place, for callers that want to avoid the copy.
 *
 * <p>Errors are returned as {@link OffloadVerdict} values (the output batch is then empty); nothing is thrown on the
 * packet path and nothing is allocated. Not thread-safe: one instance per packet loop.
 */
public final class GsoSegmenter {
    private static final int PROTO_TCP = 6;
    private static final int PROTO_UDP = 17;
    private static final int TCP_FIN = 0x01;
    private static final int TCP_PSH = 0x08;
    private static final int TCP_CWR = 0x80;

    private final int mtu;

    /**
     * Creates a segmenter.
     *
     * @param mtu the largest IPv4 packet to produce, in bytes (the TUN MTU, flannel's underlay MTU − 28)
     * @throws IllegalArgumentException if {@code mtu} is outside 68..65535
     */
    public GsoSegmenter(final int mtu) {
        if (mtu < 68 || mtu > 65535) {
            throw new IllegalArgumentException("MTU must be 68..65535 bytes, got " + mtu);
        }
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
        out.clear();
        OffloadVerdict v = hdr.check(length);
        if (v != OffloadVerdict.OK) {
            return v;
        }
        v = checkIpv4(src, offset, length);
        if (v != OffloadVerdict.OK) {
            return v;
        }
        final int base = hdr.gsoBaseType();
        if (base == VirtioNetHdr.GSO_NONE) {
            return single(hdr, src, offset, length, out);
        }
        if (base != VirtioNetHdr.GSO_TCPV4 && base != VirtioNetHdr.GSO_UDP_L4) {
            return OffloadVerdict.UNSUPPORTED_GSO_TYPE;
        }
        final int ihl = (src.get(offset) & 0x0f) * 4;
        if ((InetChecksum.u16(src, offset + 6) & 0x3fff) != 0) {
            return OffloadVerdict.BAD_IPV4; // a fragment cannot be a GSO packet
        }
        if (hdr.needsChecksum() && hdr.csumStart() != ihl) {
            return OffloadVerdict.BAD_CSUM_OFFSETS; // tcp_gso_segment: checksum must start at the transport header
        }
        final int proto = src.get(offset + 9) & 0xff;
        if (base == VirtioNetHdr.GSO_TCPV4) {
            if (proto != PROTO_TCP || ihl + 20 > length) {
                return OffloadVerdict.BAD_TRANSPORT;
            }
            final int thl = ((src.get(offset + ihl + 12) & 0xf0) >>> 4) * 4;
            if (thl < 20 || ihl + thl > length) {
                return OffloadVerdict.BAD_TRANSPORT;
            }
            return tcp(hdr, src, offset, length, ihl, thl, out);
        }
        if (proto != PROTO_UDP || ihl + 8 > length) {
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

    private static OffloadVerdict checkIpv4(final ByteBuffer src, final int offset, final int length) {
        if (length < 20) {
            return OffloadVerdict.BAD_IPV4;
        }
        final int b0 = src.get(offset) & 0xff;
        final int ihl = (b0 & 0x0f) * 4;
        if ((b0 >>> 4) != 4 || ihl < 20 || ihl > length) {
            return OffloadVerdict.BAD_IPV4;
        }
        if (InetChecksum.u16(src, offset + 2) != length) {
            return OffloadVerdict.BAD_IPV4;
        }
        return OffloadVerdict.OK;
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
                               final int ihl, final int thl, final SegmentBatch out) {
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
        final int id0 = InetChecksum.u16(src, offset + 4);
        final int seq0 = InetChecksum.u32(src, offset + ihl + 4);
        final int saddr = InetChecksum.u32(src, offset + 12);
        final int daddr = InetChecksum.u32(src, offset + 16);
        final int flags0 = src.get(offset + ihl + 13) & 0xff;
        final ByteBuffer dst = out.buffer();
        for (int i = 0; i < n; i++) {
            final int chunk = Math.min(mss, payload - i * mss);
            final int d = out.nextOffset();
            dst.put(d, src, offset, hl);
            dst.put(d + hl, src, offset + hl + i * mss, chunk);
            final int total = hl + chunk;
            ipHeader(dst, d, ihl, total, id0 + i);
            final int t = d + ihl;
            InetChecksum.putU32(dst, t + 4, seq0 + i * mss);
            int flags = flags0;
            if (i < n - 1) {
                flags &= ~(TCP_FIN | TCP_PSH);
            }
            if (i > 0 && !keepCwr) {
                flags &= ~TCP_CWR;
            }
            dst.put(t + 13, (byte) flags);
            InetChecksum.putU16(dst, t + 16, 0);
            final long sum = InetChecksum.pseudoHeader(saddr, daddr, PROTO_TCP, thl + chunk)
                + InetChecksum.sum(dst, t, thl + chunk);
            InetChecksum.putU16(dst, t + 16, InetChecksum.finish(sum));
            out.add(total);
        }
        return OffloadVerdict.OK;
    }

    private OffloadVerdict udp(final VirtioNetHdr hdr, final ByteBuffer src, final int offset, final int length,
                               final int ihl, final SegmentBatch out) {
        final int hl = ihl + 8;
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
        final int id0 = InetChecksum.u16(src, offset + 4);
        final int saddr = InetChecksum.u32(src, offset + 12);
        final int daddr = InetChecksum.u32(src, offset + 16);
        final ByteBuffer dst = out.buffer();
        for (int i = 0; i < n; i++) {
            final int chunk = Math.min(mss, payload - i * mss);
            final int d = out.nextOffset();
            dst.put(d, src, offset, hl);
            dst.put(d + hl, src, offset + hl + i * mss, chunk);
            final int total = hl + chunk;
            ipHeader(dst, d, ihl, total, id0 + i);
            final int u = d + ihl;
            InetChecksum.putU16(dst, u + 4, 8 + chunk);
            InetChecksum.putU16(dst, u + 6, 0);
            final long sum = InetChecksum.pseudoHeader(saddr, daddr, PROTO_UDP, 8 + chunk)
                + InetChecksum.sum(dst, u, 8 + chunk);
            final int check = InetChecksum.finish(sum);
            InetChecksum.putU16(dst, u + 6, check == 0 ? 0xffff : check);
            out.add(total);
        }
        return OffloadVerdict.OK;
    }

    private static void ipHeader(final ByteBuffer dst, final int d, final int ihl, final int total, final int id) {
        InetChecksum.putU16(dst, d + 2, total);
        InetChecksum.putU16(dst, d + 4, id);
        InetChecksum.putU16(dst, d + 10, 0);
        InetChecksum.putU16(dst, d + 10, InetChecksum.ipv4Header(dst, d, ihl));
    }
}
