package io.overlay.udp.offload;

import java.nio.ByteBuffer;

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
 * {@link TunFrameSink} given at construction, on the caller's thread, during {@link #add} or {@link #flush}.
 *
 * <p>Memory: one direct buffer of {@code (maxFlows + 1) × (10 + 65535)} bytes, allocated once; nothing per packet.
 * Not thread-safe: one instance per packet loop.
 */
public final class TcpCoalescer {
    private static final int SLOT = VirtioNetHdr.LENGTH + 65535;
    private static final int MAX_PACKET = 65535;
    private static final int TCP_FIN = 0x01;
    private static final int TCP_SYN = 0x02;
    private static final int TCP_RST = 0x04;
    private static final int TCP_PSH = 0x08;
    private static final int TCP_URG = 0x20;
    private static final int TCP_CWR = 0x80;

    private final TunFrameSink sink;
    private final ByteBuffer slots;
    private final VirtioNetHdr hdr = new VirtioNetHdr();
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

    private long packetsIn;
    private long framesOut;
    private long superPackets;
    private long segmentsMerged;
    private long passedThrough;
    private long badChecksums;
    private long tooLarge;

    /**
     * Creates a coalescer.
     *
     * @param maxFlows how many flows may have an open run at once (8 is what the kernel keeps per GRO bucket)
     * @param sink where frames go
     * @throws IllegalArgumentException if {@code maxFlows} is outside 1..64 or {@code sink} is null
     */
    public TcpCoalescer(final int maxFlows, final TunFrameSink sink) {
        if (maxFlows < 1 || maxFlows > 64) {
            throw new IllegalArgumentException("maxFlows must be 1..64, got " + maxFlows);
        }
        if (sink == null) {
            throw new IllegalArgumentException("sink is required");
        }
        this.sink = sink;
        this.flows = maxFlows;
        this.scratch = maxFlows * SLOT;
        this.slots = ByteBuffer.allocateDirect((maxFlows + 1) * SLOT);
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
     * Takes one received IPv4 packet (already validated by the engine: version 4, total length = {@code length},
     * TTL already decremented). It is merged into a run, or passed through; frames may be emitted during the call.
     *
     * @param buf the buffer holding the packet (absolute indexes; not modified, position/limit unused)
     * @param offset index of the IPv4 header
     * @param len the packet length in bytes, at most 65535 (longer ones are dropped and counted in {@link #tooLarge()})
     */
    public void add(final ByteBuffer buf, final int offset, final int len) {
        packetsIn++;
        if (len > MAX_PACKET || len < 0) {
            tooLarge++;
            return;
        }
        if (len < 40 || (buf.get(offset) & 0xff) != 0x45 || (buf.get(offset + 9) & 0xff) != 6
            || InetChecksum.u16(buf, offset + 2) != len || (InetChecksum.u16(buf, offset + 6) & 0xbfff) != 0) {
            flushAddressPairIfTcp(buf, offset, len);
            passThrough(buf, offset, len);
            return;
        }
        final int thl = ((buf.get(offset + 32) & 0xf0) >>> 4) * 4;
        if (thl < 20 || 20 + thl > len) {
            flushAddressPairIfTcp(buf, offset, len);
            passThrough(buf, offset, len);
            return;
        }
        final int src = InetChecksum.u32(buf, offset + 12);
        final int dst = InetChecksum.u32(buf, offset + 16);
        final int pp = InetChecksum.u32(buf, offset + 20);
        final int flow = find(src, dst, pp);
        final int flags = buf.get(offset + 33) & 0xff;
        final int payload = len - 20 - thl;
        if (payload == 0 || (flags & (TCP_SYN | TCP_RST | TCP_URG | TCP_CWR)) != 0) {
            flushFlow(flow);
            passThrough(buf, offset, len);
            return;
        }
        if (!checksumsValid(buf, offset, len, src, dst)) {
            badChecksums++;
            flushFlow(flow);
            passThrough(buf, offset, len);
            return;
        }
        if (flow >= 0) {
            if (canAppend(flow, buf, offset, len, thl, payload)) {
                append(flow, buf, offset, thl, payload, flags);
                return;
            }
            emit(flow);
        }
        start(src, dst, pp, buf, offset, len, thl, payload, flags);
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
     * Returns the packets given to {@link #add} so far.
     *
     * @return the count
     */
    public long packetsIn() {
        return packetsIn;
    }

    /**
     * Returns the frames handed to the sink so far.
     *
     * @return the count
     */
    public long framesOut() {
        return framesOut;
    }

    /**
     * Returns how many emitted frames were GSO super-packets (runs of two or more segments).
     *
     * @return the count
     */
    public long superPackets() {
        return superPackets;
    }

    /**
     * Returns how many segments went into super-packets.
     *
     * @return the count
     */
    public long segmentsMerged() {
        return segmentsMerged;
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

    /**
     * Returns how many packets were dropped because they were longer than 65535 bytes (no IPv4 packet is; the engine's
     * receive buffer should make this impossible).
     *
     * @return the count
     */
    public long tooLarge() {
        return tooLarge;
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
    private void flushAddressPairIfTcp(final ByteBuffer buf, final int offset, final int len) {
        if (len < 20 || (buf.get(offset + 9) & 0xff) != 6) {
            return;
        }
        final int src = InetChecksum.u32(buf, offset + 12);
        final int dst = InetChecksum.u32(buf, offset + 16);
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
        if (InetChecksum.fold(InetChecksum.sum(buf, offset, 20)) != 0xffff) {
            return false;
        }
        final long sum = InetChecksum.pseudoHeader(src, dst, 6, len - 20)
            + InetChecksum.sum(buf, offset + 20, len - 20);
        return InetChecksum.fold(sum) == 0xffff;
    }

    private boolean canAppend(final int f, final ByteBuffer buf, final int offset, final int len, final int thl,
                              final int payload) {
        final int base = f * SLOT + VirtioNetHdr.LENGTH;
        final int runLen = length[f];
        if (payload > mss[f] || runLen + payload > MAX_PACKET) {
            return false;
        }
        if (InetChecksum.u32(buf, offset + 24) != nextSeq[f]) {
            return false;
        }
        if (InetChecksum.u16(buf, offset + 4) != ((firstId[f] + count[f]) & 0xffff)) {
            return false;
        }
        // IPv4: TOS (1), flags/fragment (6..7: DF only), TTL (8); addresses and protocol matched already.
        if (slots.get(base + 1) != buf.get(offset + 1) || slots.get(base + 6) != buf.get(offset + 6)
            || slots.get(base + 8) != buf.get(offset + 8)) {
            return false;
        }
        // TCP: ack (8..11), data offset + flags (12..13), window (14..15), urgent pointer (18..19), options (20..).
        final int rt = base + 20;
        final int pt = offset + 20;
        if (slots.get(rt + 12) != buf.get(pt + 12)
            || ((slots.get(rt + 13) ^ buf.get(pt + 13)) & ~(TCP_PSH | TCP_FIN) & 0xff) != 0) {
            return false;
        }
        for (int i = 8; i < 12; i++) {
            if (slots.get(rt + i) != buf.get(pt + i)) {
                return false;
            }
        }
        for (int i = 14; i < 16; i++) {
            if (slots.get(rt + i) != buf.get(pt + i)) {
                return false;
            }
        }
        for (int i = 18; i < thl; i++) {
            if (slots.get(rt + i) != buf.get(pt + i)) {
                return false;
            }
        }
        return true;
    }

    private void start(final int src, final int dst, final int pp, final ByteBuffer buf, final int offset,
                       final int len, final int thl, final int payload, final int flags) {
        if ((flags & (TCP_PSH | TCP_FIN)) != 0) {
            emitAsIs(buf, offset, len); // a run that ends at once: send it as is
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
        final int base = f * SLOT + VirtioNetHdr.LENGTH;
        slots.put(base, buf, offset, len);
        active[f] = true;
        saddr[f] = src;
        daddr[f] = dst;
        ports[f] = pp;
        nextSeq[f] = InetChecksum.u32(buf, offset + 24) + payload;
        firstId[f] = InetChecksum.u16(buf, offset + 4);
        mss[f] = payload;
        count[f] = 1;
        length[f] = len;
        started[f] = startCounter++;
    }

    private void append(final int f, final ByteBuffer buf, final int offset, final int thl, final int payload,
                        final int flags) {
        final int base = f * SLOT + VirtioNetHdr.LENGTH;
        slots.put(base + length[f], buf, offset + 20 + thl, payload);
        length[f] += payload;
        nextSeq[f] += payload;
        count[f]++;
        if ((flags & (TCP_PSH | TCP_FIN)) != 0) {
            final int t = base + 20 + 13;
            slots.put(t, (byte) (slots.get(t) | (flags & (TCP_PSH | TCP_FIN))));
            emit(f);
        } else if (payload < mss[f] || length[f] + mss[f] > MAX_PACKET) {
            emit(f);
        }
    }

    private void emit(final int f) {
        final int frame = f * SLOT;
        final int ip = frame + VirtioNetHdr.LENGTH;
        final int len = length[f];
        active[f] = false;
        hdr.wrap(slots, frame).clear();
        if (count[f] > 1) {
            final int thl = ((slots.get(ip + 32) & 0xf0) >>> 4) * 4;
            InetChecksum.putU16(slots, ip + 2, len);
            InetChecksum.putU16(slots, ip + 10, 0);
            InetChecksum.putU16(slots, ip + 10, InetChecksum.ipv4Header(slots, ip, 20));
            InetChecksum.putU16(slots, ip + 36,
                InetChecksum.fold(InetChecksum.pseudoHeader(saddr[f], daddr[f], 6, len - 20)));
            hdr.flags(VirtioNetHdr.FLAG_NEEDS_CSUM).gsoType(VirtioNetHdr.GSO_TCPV4).hdrLen(20 + thl)
                .gsoSize(mss[f]).csumStart(20).csumOffset(16);
            superPackets++;
            segmentsMerged += count[f];
        }
        framesOut++;
        sink.frame(slots, frame, VirtioNetHdr.LENGTH + len);
    }

    private void passThrough(final ByteBuffer buf, final int offset, final int len) {
        passedThrough++;
        emitAsIs(buf, offset, len);
    }

    private void emitAsIs(final ByteBuffer buf, final int offset, final int len) {
        hdr.wrap(slots, scratch).clear();
        slots.put(scratch + VirtioNetHdr.LENGTH, buf, offset, len);
        framesOut++;
        sink.frame(slots, scratch, VirtioNetHdr.LENGTH + len);
    }
}
