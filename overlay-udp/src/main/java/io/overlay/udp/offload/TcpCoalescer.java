// Longer than ~400 lines: about 300 lines of code; the rest documents the Linux GRO rules it follows
// (net/ipv4/tcp_offload.c, net/core/gro.c), kept beside the checks that implement each one.
package io.overlay.udp.offload;

import io.overlay.udp.wire.InetChecksum;
import io.overlay.udp.wire.Ipv4Header;
import io.overlay.udp.wire.TcpHeader;
import io.netty.channel.unix.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Software GRO for the UDP → TUN direction: merges consecutive in-order segments of a TCP flow, as received one per
 * UDP datagram, into one IPv4 TCP super-packet written to a TUN opened with {@code IFF_VNET_HDR} and
 * {@code TUN_F_CSUM|TUN_F_TSO4}, so the kernel handles one 64 KiB packet instead of dozens. Nothing changes on the
 * wire; this only changes how packets enter the local kernel. The rules follow the kernel's own GRO
 * ({@code inet_gro_receive}, {@code tcp_gro_receive}, Linux 6.18), tightened so that segmenting the result
 * ({@link GsoSegmenter}, or the kernel when it forwards the packet) gives back exactly the original segments.
 *
 * <p><b>A segment may join a run</b> when it is IPv4 without options ({@code IHL} 5), not a fragment, TCP with payload,
 * none of SYN/RST/URG/CWR set, with a valid IPv4 header checksum and a valid TCP checksum (a corrupted segment is
 * passed through for the kernel to drop, never hidden under a fresh offload checksum), and it matches the run: same
 * addresses and ports, TOS, TTL and DF; IP ID = the first segment's ID + the number of segments so far (mod
 * 2<sup>16</sup>); sequence number = the end of the run; same acknowledgement number, data offset, flags, window,
 * urgent pointer and TCP option bytes; payload not larger than the first segment's (the run's {@code gso_size}); and
 * the run stays within 65535 bytes. A segment shorter than {@code gso_size}, or with PSH or FIN, ends its run (it is
 * the last segment). Anything else — other protocols, pure ACKs, SYN/FIN-only segments, out-of-order data — is
 * <b>passed through</b> unchanged, after its own flow's run is flushed so that a flow's packets keep their order.
 * (CWR segments stay single because TSO segmentation keeps CWR on the first segment only, and IP IDs must increment
 * because a TUN GSO packet is always re-segmented with incrementing IDs; both would otherwise change bytes.)
 *
 * <p><b>Output.</b> A run of one segment is emitted byte for byte as received with a zero {@link VirtioNetHdr}
 * (GSO_NONE, no flags). A longer run is emitted as one packet: the first segment's headers with total length, IPv4
 * header checksum, PSH/FIN of the last segment, the payloads concatenated, the TCP checksum field holding the
 * pseudo-header sum (RFC 793, not complemented) and a header {@code flags} NEEDS_CSUM, {@code gso_type} TCPV4,
 * {@code gso_size} = first payload, {@code hdr_len} = IPv4 + TCP header bytes, {@code csum_start} 20,
 * {@code csum_offset} 16 — what the kernel expects for a written GSO packet ({@code tcp4_gro_complete} builds the
 * same).
 *
 * <p><b>Flushing</b>: a run is emitted when it ends (short segment, PSH/FIN, 65535 bytes reached), when a packet of
 * its flow cannot join it, when its slot is needed for a new flow (the oldest-started run is evicted) and at
 * {@link #flush()}, which the caller must invoke at the end of every receive batch. Frames go to the
 * {@link TunFrameSink} given at construction, on the caller's thread, during {@link #add} or {@link #flush}, each
 * with the number of packets it carries, so the sink counts without parsing the frame again.
 *
 * <p><b>Two memory modes.</b> {@link #TcpCoalescer(int, TunFrameSink) Copying} (the default): each packet is
 * copied into its run's 64 KiB slot and the caller may reuse its memory as soon as {@link #add} returns; frames go to
 * {@link TunFrameSink#frame}. {@link #inPlace In place}: only the first segment's 10 + IPv4 + TCP header bytes are
 * copied (into a small per-flow header area that the emitted headers are patched in); every payload stays where the
 * caller received it and the frame goes to {@link TunFrameSink#gather} as an {@code iovec} list (header area, then one
 * payload slice per segment), which the engine writes with one {@code writev} — no user-space copy of the payload.
 * The caller must then keep every added packet's memory unchanged until the next {@link #flush()} (the engine adds
 * the datagrams of one {@code recvmmsg} and flushes before the next one). An in-place run also ends at
 * {@link #MAX_RUN_SEGMENTS} segments (its {@code iovec} capacity). The bytes of every frame are the same in both modes.
 *
 * <p><b>Checksums.</b> Every segment's IPv4 and TCP checksums are verified before it may join a run: this is the one
 * pass over the payload in place mode. The outer UDP checksum only covers the hop between the two agents; the inner
 * TCP checksum is the end-to-end check (RFC 793) of bytes that crossed the sender's TUN, its agent and ours, so a run
 * is never given a fresh checksum over a segment that did not verify. The frame then says
 * {@code VIRTIO_NET_HDR_F_NEEDS_CSUM} (the kernel's {@code CHECKSUM_PARTIAL}), not {@code DATA_VALID}
 * ({@code CHECKSUM_UNNECESSARY}): a GSO packet must carry a partial checksum for the kernel to segment it if it is
 * forwarded (Documentation/networking/segmentation-offloads.rst: "the checksum ... must be set up as
 * CHECKSUM_PARTIAL"), and a partial checksum costs nothing on local delivery, where the TCP stack accepts
 * {@code CHECKSUM_PARTIAL} as verified (Documentation/networking/checksum-offloads.rst, "RX checksum offload"), so
 * nothing is summed twice on this host. Pass-through packets keep their own complete checksums and a zero header.
 *
 * <p>Counters: {@link #passedThrough()} and {@link #badChecksums()} only grow; the engine publishes them with its own
 * counters.
 *
 * <p>Memory: one direct buffer of {@code (maxFlows + 1) × (10 + 65535)} bytes, allocated once; nothing per packet.
 * Not thread-safe: one instance per packet loop.
 */
public final class TcpCoalescer {
    private static final int MAX_PACKET = Ipv4Header.MAX_PACKET;
    private static final int SLOT = VirtioNetHdr.LENGTH + MAX_PACKET;
    /** IPv4 without options: the only header a run is built on. */
    private static final int IP_HEADER = Ipv4Header.MIN_LENGTH;
    /**
     * Most segments of one in-place run: its {@code iovec} capacity (the kernel's {@code UIO_MAXIOV} is 1024; 64
     * segments of a full MSS already exceed 64 KiB, so only runs of small segments end here).
     */
    public static final int MAX_RUN_SEGMENTS = 64;
    /** In place: the header area of a run: virtio header + IPv4 (no options) + TCP header with options. */
    private static final int HEADER_SLOT = VirtioNetHdr.LENGTH + IP_HEADER + 60;
    private static final int RUN_IOVECS = 1 + MAX_RUN_SEGMENTS;

    private final TunFrameSink sink;
    private final boolean inPlace;
    private final int slotSize;
    private final ByteBuffer slots;
    private final long slotsAddress;
    /** In place: per flow (and one for pass-through) an iovec array; {@code null} when copying. */
    private final ByteBuffer iovecs;
    private final long iovecsAddress;
    private final int[] iovCount;
    private final VirtioNetHdr hdr = new VirtioNetHdr();
    private final Ipv4Header ip = new Ipv4Header();
    private final Ipv4Header runIp = new Ipv4Header();
    private final TcpHeader tcp = new TcpHeader();
    private final TcpHeader runTcp = new TcpHeader();
    private final int flows;
    private final int scratch;

    private final boolean[] active;
    private final int[] saddr;
    private final int[] daddr;
    private final int[] ports;
    private final int[] nextSeq;
    private final int[] firstId;
    private final int[] mss;
    private final int[] count;
    private final int[] length;
    private final int[] started;
    private int startCounter;

    private long passedThrough;
    private long badChecksums;

    /**
     * Creates a coalescer.
     *
     * @param maxFlows how many flows may have an open run at once (8 is what the kernel keeps per GRO bucket)
     * @param sink where frames go
     * @throws IllegalArgumentException if {@code maxFlows} is outside 1..64 or {@code sink} is null
     */
    public TcpCoalescer(final int maxFlows, final TunFrameSink sink) {
        this(maxFlows, sink, false);
    }

    /**
     * Creates a coalescer that leaves payloads where they were received and emits {@code iovec} lists
     * ({@link TunFrameSink#gather}); every added packet's memory must stay unchanged until the next {@link #flush()}.
     *
     * @param maxFlows how many flows may have an open run at once (8 is what the kernel keeps per GRO bucket)
     * @param sink where frames go; it should override {@link TunFrameSink#gather}
     * @return the coalescer
     * @throws IllegalArgumentException if {@code maxFlows} is outside 1..64 or {@code sink} is null
     */
    public static TcpCoalescer inPlace(final int maxFlows, final TunFrameSink sink) {
        return new TcpCoalescer(maxFlows, sink, true);
    }

    private TcpCoalescer(final int maxFlows, final TunFrameSink sink, final boolean inPlace) {
        if (maxFlows < 1 || maxFlows > 64) {
            throw new IllegalArgumentException("maxFlows must be 1..64, got " + maxFlows);
        }
        if (sink == null) {
            throw new IllegalArgumentException("sink is required");
        }
        this.sink = sink;
        this.flows = maxFlows;
        this.inPlace = inPlace;
        this.slotSize = inPlace ? HEADER_SLOT : SLOT;
        this.scratch = maxFlows * slotSize;
        this.slots = ByteBuffer.allocateDirect((maxFlows + 1) * slotSize);
        this.slotsAddress = Buffer.memoryAddress(slots);
        this.iovecs = inPlace ? ByteBuffer.allocateDirect((maxFlows + 1) * RUN_IOVECS * Iovec.SIZE)
            .order(ByteOrder.nativeOrder()) : null;
        this.iovecsAddress = inPlace ? Buffer.memoryAddress(iovecs) : 0;
        this.iovCount = new int[maxFlows];
        this.active = new boolean[maxFlows];
        this.saddr = new int[maxFlows];
        this.daddr = new int[maxFlows];
        this.ports = new int[maxFlows];
        this.nextSeq = new int[maxFlows];
        this.firstId = new int[maxFlows];
        this.mss = new int[maxFlows];
        this.count = new int[maxFlows];
        this.length = new int[maxFlows];
        this.started = new int[maxFlows];
    }

    /**
     * Takes one received IPv4 packet (already validated by the engine: {@link Ipv4Header#validate}, TTL already
     * decremented). It is merged into a run, or passed through; frames may be emitted during the call.
     *
     * @param buf the buffer holding the packet (absolute indexes; not modified, position/limit unused)
     * @param offset index of the IPv4 header
     * @param len the packet length in bytes
     * @return {@code false} if the packet was refused because it is longer than 65535 bytes (no IPv4 packet is; the
     *     caller counts it), else {@code true}
     */
    public boolean add(final ByteBuffer buf, final int offset, final int len) {
        return add(buf, inPlace ? Buffer.memoryAddress(buf) : 0, offset, len);
    }

    /**
     * As {@link #add(ByteBuffer, int, int)}, with the native address of {@code buf}'s index 0 (used in place mode,
     * where the payload is referenced by address until {@link #flush()}).
     *
     * @param buf the buffer holding the packet (a direct buffer in place mode)
     * @param address the native address of {@code buf}'s index 0 (ignored when copying)
     * @param offset index of the IPv4 header
     * @param len the packet length in bytes
     * @return {@code false} if the packet was refused because it is longer than 65535 bytes, else {@code true}
     */
    public boolean add(final ByteBuffer buf, final long address, final int offset, final int len) {
        if (len > MAX_PACKET || len < 0) {
            return false;
        }
        ip.wrap(buf, offset);
        if (ip.validate(len, MAX_PACKET) != null || ip.headerLength() != IP_HEADER
            || ip.protocol() != Ipv4Header.PROTOCOL_TCP || len < IP_HEADER + TcpHeader.MIN_LENGTH
            || (ip.flagsAndFragment() & ~Ipv4Header.FLAG_DONT_FRAGMENT) != 0) {
            flushAddressPairIfTcp(len);
            passThrough(buf, address, offset, len);
            return true;
        }
        final int thl = tcp.wrap(buf, offset + IP_HEADER).headerLength();
        if (thl < TcpHeader.MIN_LENGTH || IP_HEADER + thl > len) {
            flushAddressPairIfTcp(len);
            passThrough(buf, address, offset, len);
            return true;
        }
        final int src = ip.source();
        final int dst = ip.destination();
        final int pp = tcp.ports();
        final int flow = find(src, dst, pp);
        final int flags = tcp.flags();
        final int payload = len - IP_HEADER - thl;
        if (payload == 0 || (flags & (TcpHeader.SYN | TcpHeader.RST | TcpHeader.URG | TcpHeader.CWR)) != 0) {
            flushFlow(flow);
            passThrough(buf, address, offset, len);
            return true;
        }
        if (!checksumsValid(buf, offset, len, src, dst)) {
            badChecksums++;
            flushFlow(flow);
            passThrough(buf, address, offset, len);
            return true;
        }
        if (flow >= 0) {
            if (canAppend(flow, payload)) {
                append(flow, buf, address, offset, thl, payload, flags);
                return true;
            }
            emit(flow);
        }
        start(src, dst, pp, buf, address, offset, len, thl, payload, flags);
        return true;
    }

    /**
     * Emits every open run. Call at the end of each receive batch so no packet waits for the next one.
     */
    public void flush() {
        for (int f = 0; f < flows; f++) {
            if (active[f]) {
                emit(f);
            }
        }
    }

    /**
     * Returns how many packets were passed through without being considered for a run (not TCP data, SYN/RST/URG/CWR,
     * IP options, bad checksum...). Runs of one segment are not included.
     *
     * @return the count
     */
    public long passedThrough() {
        return passedThrough;
    }

    /**
     * Returns how many TCP segments were passed through because their IPv4 or TCP checksum did not verify.
     *
     * @return the count
     */
    public long badChecksums() {
        return badChecksums;
    }

    private int find(final int src, final int dst, final int pp) {
        for (int f = 0; f < flows; f++) {
            if (active[f] && saddr[f] == src && daddr[f] == dst && ports[f] == pp) {
                return f;
            }
        }
        return -1;
    }

    /**
     * A TCP packet that cannot be parsed as a run member (IP options, fragment, bad lengths) may still belong to a
     * flow with an open run: flush every run between the same addresses so that the flow's order is kept.
     */
    private void flushAddressPairIfTcp(final int len) {
        if (len < IP_HEADER || ip.protocol() != Ipv4Header.PROTOCOL_TCP) {
            return;
        }
        final int src = ip.source();
        final int dst = ip.destination();
        for (int f = 0; f < flows; f++) {
            if (active[f] && saddr[f] == src && daddr[f] == dst) {
                emit(f);
            }
        }
    }

    private void flushFlow(final int flow) {
        if (flow >= 0) {
            emit(flow);
        }
    }

    private static boolean checksumsValid(final ByteBuffer buf, final int offset, final int len, final int src,
                                          final int dst) {
        if (InetChecksum.fold(InetChecksum.sum(buf, offset, IP_HEADER)) != 0xffff) {
            return false;
        }
        final long sum = InetChecksum.pseudoHeader(src, dst, Ipv4Header.PROTOCOL_TCP, len - IP_HEADER)
            + InetChecksum.sum(buf, offset + IP_HEADER, len - IP_HEADER);
        return InetChecksum.fold(sum) == 0xffff;
    }

    /** Whether the packet wrapped by {@link #ip} and {@link #tcp} continues run {@code f}. */
    private boolean canAppend(final int f, final int payload) {
        final int base = f * slotSize + VirtioNetHdr.LENGTH;
        if (payload > mss[f] || length[f] + payload > MAX_PACKET) {
            return false;
        }
        if (tcp.sequence() != nextSeq[f] || ip.identification() != ((firstId[f] + count[f]) & 0xffff)) {
            return false;
        }
        runIp.wrap(slots, base);
        // IPv4: TOS, flags/fragment (DF only) and TTL; addresses and protocol matched already.
        if (runIp.tos() != ip.tos() || runIp.flagsAndFragment() != ip.flagsAndFragment() || runIp.ttl() != ip.ttl()) {
            return false;
        }
        return runTcp.wrap(slots, base + IP_HEADER).sameRunFields(tcp);
    }

    private void start(final int src, final int dst, final int pp, final ByteBuffer buf, final long address,
                       final int offset, final int len, final int thl, final int payload, final int flags) {
        if ((flags & (TcpHeader.PSH | TcpHeader.FIN)) != 0) {
            emitAsIs(buf, address, offset, len); // a run that ends at once: send it as is
            return;
        }
        int f = -1;
        for (int i = 0; i < flows; i++) {
            if (!active[i]) {
                f = i;
                break;
            }
        }
        if (f < 0) {
            f = 0;
            for (int i = 1; i < flows; i++) {
                if (started[i] - started[f] < 0) {
                    f = i;
                }
            }
            emit(f);
        }
        final int base = f * slotSize + VirtioNetHdr.LENGTH;
        if (inPlace) {
            final int headers = IP_HEADER + thl;
            slots.put(base, buf, offset, headers);
            final int v = f * RUN_IOVECS * Iovec.SIZE;
            iovecs.putLong(v, slotsAddress + f * slotSize);
            iovecs.putLong(v + Iovec.LEN_OFFSET, VirtioNetHdr.LENGTH + headers);
            iovecs.putLong(v + Iovec.SIZE, address + offset + headers);
            iovecs.putLong(v + Iovec.SIZE + Iovec.LEN_OFFSET, payload);
            iovCount[f] = 2;
        } else {
            slots.put(base, buf, offset, len);
        }
        active[f] = true;
        saddr[f] = src;
        daddr[f] = dst;
        ports[f] = pp;
        nextSeq[f] = tcp.sequence() + payload;
        firstId[f] = ip.identification();
        mss[f] = payload;
        count[f] = 1;
        length[f] = len;
        started[f] = startCounter++;
    }

    private void append(final int f, final ByteBuffer buf, final long address, final int offset, final int thl,
                        final int payload, final int flags) {
        final int base = f * slotSize + VirtioNetHdr.LENGTH;
        if (inPlace) {
            final int v = (f * RUN_IOVECS + iovCount[f]++) * Iovec.SIZE;
            iovecs.putLong(v, address + offset + IP_HEADER + thl);
            iovecs.putLong(v + Iovec.LEN_OFFSET, payload);
        } else {
            slots.put(base + length[f], buf, offset + IP_HEADER + thl, payload);
        }
        length[f] += payload;
        nextSeq[f] += payload;
        count[f]++;
        if ((flags & (TcpHeader.PSH | TcpHeader.FIN)) != 0) {
            runTcp.wrap(slots, base + IP_HEADER);
            runTcp.flags(runTcp.flags() | (flags & (TcpHeader.PSH | TcpHeader.FIN)));
            emit(f);
        } else if (payload < mss[f] || length[f] + mss[f] > MAX_PACKET
            || inPlace && count[f] == MAX_RUN_SEGMENTS) {
            emit(f);
        }
    }

    private void emit(final int f) {
        final int frame = f * slotSize;
        final int at = frame + VirtioNetHdr.LENGTH;
        final int len = length[f];
        final int segments = count[f];
        active[f] = false;
        hdr.wrap(slots, frame).clear();
        if (segments == 1) {
            out(f, frame, VirtioNetHdr.LENGTH + len, 1, len);
            return;
        }
        final int headers = IP_HEADER + runTcp.wrap(slots, at + IP_HEADER).headerLength();
        runIp.wrap(slots, at).totalLength(len).updateChecksum();
        runTcp.checksum(InetChecksum.fold(
            InetChecksum.pseudoHeader(saddr[f], daddr[f], Ipv4Header.PROTOCOL_TCP, len - IP_HEADER)));
        hdr.flags(VirtioNetHdr.FLAG_NEEDS_CSUM).gsoType(VirtioNetHdr.GSO_TCPV4).hdrLen(headers).gsoSize(mss[f])
            .csumStart(IP_HEADER).csumOffset(TcpHeader.CHECKSUM_OFFSET);
        out(f, frame, VirtioNetHdr.LENGTH + len, segments, len + (segments - 1) * headers);
    }

    private void out(final int f, final int frame, final int frameLength, final int packets, final int bytes) {
        if (inPlace) {
            sink.gather(iovecsAddress + (long) f * RUN_IOVECS * Iovec.SIZE, iovCount[f], frameLength, packets, bytes);
        } else {
            sink.frame(slots, frame, frameLength, packets, bytes);
        }
    }

    private void passThrough(final ByteBuffer buf, final long address, final int offset, final int len) {
        passedThrough++;
        emitAsIs(buf, address, offset, len);
    }

    private void emitAsIs(final ByteBuffer buf, final long address, final int offset, final int len) {
        hdr.wrap(slots, scratch).clear();
        if (inPlace) {
            final int v = flows * RUN_IOVECS * Iovec.SIZE;
            iovecs.putLong(v, slotsAddress + scratch);
            iovecs.putLong(v + Iovec.LEN_OFFSET, VirtioNetHdr.LENGTH);
            iovecs.putLong(v + Iovec.SIZE, address + offset);
            iovecs.putLong(v + Iovec.SIZE + Iovec.LEN_OFFSET, len);
            sink.gather(iovecsAddress + v, 2, VirtioNetHdr.LENGTH + len, 1, len);
            return;
        }
        slots.put(scratch + VirtioNetHdr.LENGTH, buf, offset, len);
        sink.frame(slots, scratch, VirtioNetHdr.LENGTH + len, 1, len);
    }
}
