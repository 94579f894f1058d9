package io.overlay.udp;

import com.sun.jna.Native;
import io.netty.channel.unix.Buffer;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.spi.DropReason;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.udp.offload.GsoSegmenter;
import io.overlay.udp.offload.OffloadVerdict;
import io.overlay.udp.offload.SegmentBatch;
import io.overlay.udp.offload.TcpCoalescer;
import io.overlay.udp.offload.VirtioNetHdr;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The packet path of one event loop: one TUN queue and one UDP socket, both on the same Netty epoll thread, served by
 * {@link #onTunReadable()} and {@link #onUdpReadable()}, each called when its fd is readable (flannel's proxy loop,
 * flannel reference §2.6, with batches, and without polling a fd that epoll did not report).
 *
 * <p><b>TUN → UDP</b>: read up to {@link #BATCH} packets (one {@code read} each, the TUN has no batch read) into the
 * slots of a reused direct buffer; validate each ({@link Ipv4Header#validate}); drop a destination outside the overlay
 * Network; look the destination up in the {@link RouteTable} (lock-free); without a route write an ICMP net
 * unreachable back into the TUN ({@link IcmpUnreachable}; rate-limited like Linux by an {@link IcmpRateLimiter}, and at
 * most one per TUN read, so a super-packet's segments get one between them); drop at TTL 1, else decrement the TTL
 * with an RFC 1624 checksum patch; then send the whole batch with one {@code sendmmsg}, each packet as the raw payload
 * of a datagram to the peer's PublicIP and port (flannel's wire format, flannel reference §2.2); runs of equal-size
 * packets to one peer go as one UDP GSO message that the kernel cuts into those same datagrams ({@link #GSO_ENABLED}).
 *
 * <p><b>UDP → TUN</b>: receive up to {@link #BATCH} datagrams with one {@code recvmmsg}; drop a sender that is not a
 * known peer's PublicIP (when {@code acceptOnlyKnownPeers}), a truncated ({@code MSG_TRUNC}) or larger-than-MTU
 * datagram, a malformed packet, a destination outside the local subnet, TTL 1; decrement the TTL and write each to the
 * TUN.
 *
 * <p><b>Offloads</b> (issue 8; on when the TUN has a {@code virtio_net_hdr}, {@code vnetHeaderLength} 10): each TUN
 * read is one frame (header + IPv4 packet of up to 65535 bytes) into one reused 64 KiB buffer. A GSO super-packet is
 * cut by {@link GsoSegmenter} into MTU-sized packets exactly as the kernel would; every segment then goes through the
 * same {@link PacketProcessor} checks and is sent (UDP GSO for the equal-size run, else datagram by datagram) before
 * the next read; a non-GSO frame has its partial checksum completed and is queued like a plain read. A frame the
 * segmenter refuses is dropped as {@link DropReason#BAD_VNET_HEADER}. Datagrams on the wire are byte-identical to the
 * plain path: one inner IPv4 packet of at most the MTU each. In the other direction, with UDP GRO ({@code gro}) one
 * receive slot of 64 KiB may hold many datagrams of one sender ({@link MessageBatch#groSegmentSize}); they are split
 * and checked one by one, then handed to a {@link TcpCoalescer} that merges in-order TCP segments of a flow into one
 * GSO super-packet for the TUN and passes everything else through with a zero header. Memory per loop with offloads,
 * all allocated once: one 64 KiB TUN frame buffer, a segment area of {@link #MAX_SEGMENTS} × MTU, {@link #GRO_BATCH}
 * receive slots of 64 KiB and the coalescer's ({@link #COALESCER_FLOWS} + 1) × 64 KiB: about 1.4 MiB at MTU 1472.
 *
 * <p>The per-packet decisions of both directions are {@link PacketProcessor}'s; this class does the I/O.
 *
 * <p>Every drop is counted by {@link DropReason}. Steady state allocates nothing and takes no lock. All methods except
 * {@link #counters()} run on the loop's thread; the local subnet is changed by a command the loop executes
 * ({@link #onLocalSubnet}).
 */
final class ForwardingLoop {
    private static final Logger LOG = LoggerFactory.getLogger(ForwardingLoop.class);

    /** The default of {@link #BATCH}. */
    static final int DEFAULT_BATCH = 32;
    /**
     * Datagrams per recvmmsg/sendmmsg and packets read from the TUN per pass: system property
     * {@code overlay.udp.batch}, 1..1024, default {@value #DEFAULT_BATCH}. With a plain TUN ({@code --offloads=false}) 1
     * gives flanneld's one packet per system call, for before/after measurements of batching; with offloads a TUN read
     * is still one super-packet (sent with one GSO message) and UDP GRO still receives {@link #GRO_BATCH} slots. An
     * invalid value is logged and the default used.
     */
    static final int BATCH = batchSize(System.getProperty("overlay.udp.batch"));
    /**
     * Full passes of one direction per readiness event before returning to epoll, so the other fd (and loop tasks)
     * get their turn: under two-way load the TUN is never served for more than this many batches while datagrams
     * wait in the socket's receive buffer, and the other way round. epoll is level-triggered, so work left over
     * fires again at once.
     */
    static final int MAX_ROUNDS = 4;

    /**
     * Whether TUN → UDP batches are sent with UDP GSO ({@code UDP_SEGMENT}; see {@link MessageBatch}): system property
     * {@code overlay.udp.gso}, default {@code true}. Datagrams on the wire are the same either way; a loop falls back
     * to plain datagrams by itself if the kernel refuses a GSO send.
     */
    static final boolean GSO_ENABLED = Boolean.parseBoolean(System.getProperty("overlay.udp.gso", "true"));

    /** Most segments one TUN super-packet may be cut into: gso_size ≥ 512 bytes for a 64 KiB packet. */
    static final int MAX_SEGMENTS = io.overlay.core.spi.TunDevice.MAX_GSO_SEGMENTS;
    /** Receive slots per recvmmsg with UDP GRO; each holds up to 64 KiB of coalesced datagrams. */
    static final int GRO_BATCH = 8;
    /** Bytes per receive slot with UDP GRO (a GRO buffer is at most 65535 bytes). */
    static final int GRO_SLOT = 65536;
    /** TCP flows with an open coalescing run per loop (as the kernel keeps per GRO bucket). */
    static final int COALESCER_FLOWS = 8;


    private final FileDescriptor tun;
    private final int udpFd;
    private final RouteTable routes;
    private final boolean acceptOnlyKnownPeers;
    private final MessageBatch outgoing;
    private final MessageBatch incoming;
    private final ByteBuffer icmp;
    private final long icmpAddress;
    private final int vnet;
    private final boolean gro;
    private final int receiveBatch;
    private final ByteBuffer frame;
    private final long frameAddress;
    private final VirtioNetHdr frameHeader = new VirtioNetHdr();
    private final VirtioNetHdr sinkHeader = new VirtioNetHdr();
    private final GsoSegmenter segmenter;
    private final SegmentBatch segments;
    private final long segmentsAddress;
    private final TcpCoalescer coalescer;
    private ByteBuffer sinkBuffer;
    private long sinkAddress;
    private final LoopCounters counters = new LoopCounters();
    /** Limits the ICMP errors this loop writes to the TUN (loop thread only; the clock is read only for an ICMP). */
    private final IcmpRateLimiter icmpLimit = new IcmpRateLimiter(System.nanoTime());
    private final PacketProcessor processor;
    private boolean tunErrorLogged;
    private boolean badFrameLogged;
    private boolean tunReadFailed;
    private boolean gso;
    /** Whether the last {@code recvmmsg} filled every slot, so more datagrams may be waiting. */
    private boolean lastReceiveFull;

    /**
     * Creates the loop state.
     *
     * @param tun the TUN queue's descriptor (not owned)
     * @param udpFd the bound UDP socket (owned by the engine)
     * @param routes the route table
     * @param network the overlay Network
     * @param localSubnet the initial local subnet
     * @param mtu the TUN MTU in bytes: the largest packet accepted in either direction
     * @param acceptOnlyKnownPeers whether datagrams from unknown senders are dropped
     */
    ForwardingLoop(final FileDescriptor tun, final int udpFd, final RouteTable routes, final Ipv4Prefix network,
                   final Ipv4Prefix localSubnet, final int mtu, final boolean acceptOnlyKnownPeers) {
        this(tun, udpFd, routes, network, localSubnet, mtu, acceptOnlyKnownPeers, 0, false, GSO_ENABLED);
    }

    /**
     * Creates the loop state, with offloads.
     *
     * @param tun the TUN queue's descriptor (not owned)
     * @param udpFd the bound UDP socket (owned by the engine)
     * @param routes the route table
     * @param network the overlay Network
     * @param localSubnet the initial local subnet
     * @param mtu the TUN MTU in bytes: the largest inner packet accepted in either direction
     * @param acceptOnlyKnownPeers whether datagrams from unknown senders are dropped
     * @param vnetHeaderLength 10 if the TUN was opened with {@code IFF_VNET_HDR} (offloads), else 0
     * @param gro whether {@code UDP_GRO} is on for the socket (receive 64 KiB slots and split them)
     * @param gso whether to send runs of equal-size packets with UDP GSO ({@code UDP_SEGMENT})
     * @throws IllegalArgumentException if {@code vnetHeaderLength} is neither 0 nor 10
     */
    ForwardingLoop(final FileDescriptor tun, final int udpFd, final RouteTable routes, final Ipv4Prefix network,
                   final Ipv4Prefix localSubnet, final int mtu, final boolean acceptOnlyKnownPeers,
                   final int vnetHeaderLength, final boolean gro, final boolean gso) {
        if (vnetHeaderLength != 0 && vnetHeaderLength != VirtioNetHdr.LENGTH) {
            throw new IllegalArgumentException("vnet header length must be 0 or " + VirtioNetHdr.LENGTH + ", got "
                + vnetHeaderLength);
        }
        this.vnet = vnetHeaderLength;
        this.gro = gro;
        this.gso = gso;
        this.icmp = ByteBuffer.allocateDirect(vnet + IcmpUnreachable.MAX_LENGTH).order(ByteOrder.BIG_ENDIAN);
        this.icmpAddress = Buffer.memoryAddress(icmp);
        this.tun = tun;
        this.udpFd = udpFd;
        this.routes = routes;
        this.acceptOnlyKnownPeers = acceptOnlyKnownPeers;
        // One byte more than the MTU: a longer TUN read or datagram is then seen as oversized, never silently cut.
        final int slot = (mtu + 1 + 7) & ~7;
        if (vnet > 0) {
            // sends reference the segments in place: BATCH own slots for plain frames, MAX_SEGMENTS more entries
            this.outgoing = new MessageBatch(BATCH + MAX_SEGMENTS, BATCH, slot);
            this.frame = ByteBuffer.allocateDirect(VirtioNetHdr.LENGTH + 65535).order(ByteOrder.BIG_ENDIAN);
            this.frameAddress = Buffer.memoryAddress(frame);
            this.segmenter = new GsoSegmenter(mtu);
            this.segments = new SegmentBatch(MAX_SEGMENTS, mtu);
            this.segmentsAddress = Buffer.memoryAddress(segments.buffer());
            this.coalescer = new TcpCoalescer(COALESCER_FLOWS, this::writeFrame);
        } else {
            this.outgoing = new MessageBatch(BATCH, slot);
            this.frame = null;
            this.frameAddress = 0;
            this.segmenter = null;
            this.segments = null;
            this.segmentsAddress = 0;
            this.coalescer = null;
        }
        this.receiveBatch = gro ? GRO_BATCH : BATCH;
        this.incoming = gro ? new MessageBatch(GRO_BATCH, GRO_SLOT) : new MessageBatch(BATCH, slot);
        this.processor = new PacketProcessor(routes, network, localSubnet, mtu, acceptOnlyKnownPeers, counters);
    }

    /**
     * Sets the local subnet: datagrams are accepted only for destinations inside it. Loop thread only.
     *
     * @param subnet the new local subnet
     */
    void onLocalSubnet(final Ipv4Prefix subnet) {
        processor.onLocalSubnet(subnet);
    }

    /**
     * Returns this loop's counters (readable from any thread).
     *
     * @return the counters
     */
    LoopCounters counters() {
        return counters;
    }

    /**
     * Returns whether the last TUN read failed with an error other than EAGAIN: EIO while the link is down (it
     * recovers when the link comes back up) or an error because the device was deleted. Together with
     * {@code EPOLLERR} on the TUN it means the device is gone and its registration must be cancelled, or the
     * level-triggered error would wake the loop forever ({@link FdHandle}).
     *
     * @return {@code true} if the last TUN read failed
     */
    boolean tunReadFailed() {
        return tunReadFailed;
    }

    /**
     * Serves a readable TUN queue: TUN → UDP passes while each pass fills a whole batch (more may be queued), at most
     * {@link #MAX_ROUNDS}. The UDP socket is not polled here: it has its own readiness event. The last read of a pass
     * that is not full returned EAGAIN, so the queue is known to be empty and no further read is tried; what arrives
     * later makes the level-triggered fd fire again.
     */
    void onTunReadable() {
        for (int round = 0; round < MAX_ROUNDS; round++) {
            if (tunToUdp() < BATCH) {
                return;
            }
        }
    }

    /**
     * Serves a readable UDP socket: UDP → TUN passes while each {@code recvmmsg} fills every slot (more may be
     * queued), at most {@link #MAX_ROUNDS}. A {@code recvmmsg} that returns fewer messages than slots emptied the
     * receive queue (or met an error, which the kernel keeps for the next call), so no second call is made; the TUN is
     * not polled here either. On this path each wake-up costs {@code epoll_wait}, one {@code recvmmsg} and the TUN
     * writes, and a TUN wake-up {@code epoll_wait}, the reads (the last one EAGAIN) and one {@code sendmmsg}: no
     * system call is spent on a fd that has nothing, which is what bounds the latency of a lightly loaded overlay
     * (each system call costs about 1 µs on the benchmark machine).
     */
    void onUdpReadable() {
        for (int round = 0; round < MAX_ROUNDS; round++) {
            udpToTun();
            if (!lastReceiveFull) {
                return;
            }
        }
    }

    /**
     * One TUN → UDP pass.
     *
     * @return packets read from the TUN (forwarded or dropped)
     */
    int tunToUdp() {
        return vnet > 0 ? tunToUdpFrames() : tunToUdpPackets();
    }

    /** One TUN → UDP pass on a plain TUN: one IPv4 packet per read, straight into the send slots. */
    private int tunToUdpPackets() {
        final ByteBuffer packets = outgoing.packets();
        final int slotSize = outgoing.slotSize();
        int queued = 0;
        int read = 0;
        while (read < BATCH) {
            final int offset = outgoing.slotOffset(queued);
            final int length;
            try {
                length = tun.readAddress(outgoing.packetsAddress(), offset, offset + slotSize);
            } catch (IOException e) {
                logTunError("read", e);
                tunReadFailed = true;
                break;
            }
            tunReadFailed = false;
            if (length <= 0) {
                break; // 0: EAGAIN, -1: end of file
            }
            read++;
            final long peer = processor.tunToUdp(packets, offset, length);
            if (peer >= 0) {
                outgoing.prepareSend(queued, length, Peer.ipOf(peer), Peer.portOf(peer));
                queued++;
            } else {
                answerNetUnreachable(packets, offset);
            }
        }
        if (queued > 0) {
            send(queued);
        }
        return read;
    }

    /**
     * One TUN → UDP pass on a TUN with a {@code virtio_net_hdr}: one frame per read; a GSO super-packet is segmented
     * and its segments sent before the next read (they live in the reused segment area), plain packets are batched.
     */
    private int tunToUdpFrames() {
        final ByteBuffer packets = outgoing.packets();
        final ByteBuffer segmentBuffer = segments.buffer();
        int queued = 0;
        int read = 0;
        while (read < BATCH) {
            final int n;
            try {
                n = tun.readAddress(frameAddress, 0, frame.capacity());
            } catch (IOException e) {
                logTunError("read", e);
                tunReadFailed = true;
                break;
            }
            tunReadFailed = false;
            if (n <= 0) {
                break;
            }
            read++;
            if (n < VirtioNetHdr.LENGTH) {
                counters.drop(DropReason.BAD_VNET_HEADER);
                continue;
            }
            final int length = n - VirtioNetHdr.LENGTH;
            frameHeader.wrap(frame, 0);
            if (!frameHeader.isGso()) {
                if (GsoSegmenter.completeChecksum(frameHeader, frame, VirtioNetHdr.LENGTH, length)
                    != OffloadVerdict.OK) {
                    counters.drop(DropReason.BAD_VNET_HEADER);
                    continue;
                }
                final long peer = processor.tunToUdp(frame, VirtioNetHdr.LENGTH, length);
                if (peer < 0) {
                    answerNetUnreachable(frame, VirtioNetHdr.LENGTH);
                    continue;
                }
                packets.put(outgoing.slotOffset(queued), frame, VirtioNetHdr.LENGTH, length);
                outgoing.prepareSend(queued, length, Peer.ipOf(peer), Peer.portOf(peer));
                queued++;
                continue;
            }
            final OffloadVerdict verdict = segmenter.segment(frameHeader, frame, VirtioNetHdr.LENGTH, length,
                segments);
            if (verdict != OffloadVerdict.OK) {
                counters.drop(DropReason.BAD_VNET_HEADER);
                logBadFrame(verdict);
                continue;
            }
            counters.add(LoopCounters.TUN_SUPER_PACKETS, 1);
            final int count = segments.count();
            boolean answered = false;
            for (int i = 0; i < count; i++) {
                final int offset = segments.offset(i);
                final int segmentLength = segments.length(i);
                final long peer = processor.tunToUdp(segmentBuffer, offset, segmentLength);
                if (peer < 0) {
                    if (!answered) {
                        // one ICMP per frame: the kernel handed over one packet, not count segments
                        answered = true;
                        answerNetUnreachable(segmentBuffer, offset);
                    }
                    continue;
                }
                outgoing.prepareSendFrom(queued, segmentsAddress + offset, segmentLength, Peer.ipOf(peer),
                    Peer.portOf(peer));
                queued++;
            }
            if (queued > 0) {
                send(queued); // the segment area is reused by the next read
                queued = 0;
            }
        }
        if (queued > 0) {
            send(queued);
        }
        return read;
    }

    private void logBadFrame(final OffloadVerdict verdict) {
        if (!badFrameLogged) {
            badFrameLogged = true;
            LOG.warn("dropped a malformed TUN frame: {} (logged once per loop; drops are counted as {})",
                verdict.description(), DropReason.BAD_VNET_HEADER);
        }
    }

    /**
     * Writes the ICMP net unreachable for the packet {@link PacketProcessor#tunToUdp} just dropped, if one is due and
     * the rate limit ({@link IcmpRateLimiter}, Linux's 1000/s with a burst of 50) allows it; a due message the limit
     * refuses is counted as {@link LoopCounters#ICMP_UNREACHABLE_SUPPRESSED}. The clock is read only here.
     */
    private void answerNetUnreachable(final ByteBuffer packets, final int offset) {
        if (!processor.netUnreachableDue(packets, offset)) {
            return;
        }
        if (!icmpLimit.tryAcquire(System.nanoTime())) {
            counters.add(LoopCounters.ICMP_UNREACHABLE_SUPPRESSED, 1);
            return;
        }
        final int length = processor.writeNetUnreachable(packets, offset, icmp, vnet);
        if (length == 0) {
            return;
        }
        try {
            if (tun.writeAddress(icmpAddress, 0, vnet + length) == vnet + length) {
                counters.add(LoopCounters.ICMP_UNREACHABLE_SENT, 1);
            }
        } catch (IOException e) {
            logTunError("write (ICMP)", e);
        }
    }

    private void send(final int count) {
        long bytes = 0;
        int packets = 0;
        int from = 0;
        while (from < count) {
            final int messages = outgoing.buildMessages(from, count, gso);
            from = count;
            int m = 0;
            while (m < messages) {
                final int n = LinuxUdp.sendmmsg(udpFd, outgoing.messageAddress(m), messages - m,
                    LinuxUdp.MSG_DONTWAIT);
                if (n > 0) {
                    for (int i = m; i < m + n; i++) {
                        packets += outgoing.messageSlots(i);
                        bytes += outgoing.messageBytes(i);
                    }
                    m += n;
                    continue;
                }
                final int errno = Native.getLastError();
                if (errno == LinuxUdp.EAGAIN) {
                    // socket buffer full: drop what is left of the batch
                    counters.drop(DropReason.SEND_FAILED, count - outgoing.messageFirst(m));
                    break;
                }
                if (outgoing.messageSlots(m) > 1 && LinuxUdp.isGsoRefusal(errno)) {
                    disableGso(errno); // resend this run and the rest of the batch one datagram per packet
                    from = outgoing.messageFirst(m);
                    break;
                }
                // e.g. no underlay route to this peer, or a firewall: skip this message (all its datagrams)
                counters.drop(DropReason.SEND_FAILED, outgoing.messageSlots(m));
                m++;
            }
        }
        counters.add(LoopCounters.TUN_TO_UDP_PACKETS, packets);
        counters.add(LoopCounters.TUN_TO_UDP_BYTES, bytes);
    }

    /**
     * Parses {@code overlay.udp.batch}.
     *
     * @param value the property's value, or {@code null}
     * @return the batch size: the value if it is an integer in 1..1024, else {@value #DEFAULT_BATCH}
     */
    static int batchSize(final String value) {
        if (value == null) {
            return DEFAULT_BATCH;
        }
        try {
            final int n = Integer.parseInt(value.trim());
            if (n >= 1 && n <= 1024) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        LOG.warn("system property overlay.udp.batch must be an integer 1..1024, got '{}'; using {}", value,
            DEFAULT_BATCH);
        return DEFAULT_BATCH;
    }

    /** Whether this loop still sends with UDP GSO (false if disabled or after a refused GSO send). */
    boolean gsoActive() {
        return gso;
    }

    private void disableGso(final int errno) {
        gso = false;
        LOG.warn("UDP GSO send failed (errno {}); this loop sends one datagram per packet from now on", errno);
    }

    /**
     * One UDP → TUN pass.
     *
     * @return datagrams received (delivered or dropped)
     */
    int udpToTun() {
        if (gro) {
            incoming.resetForGroReceive(receiveBatch);
        } else {
            incoming.resetForReceive(receiveBatch);
        }
        final int received = LinuxUdp.recvmmsg(udpFd, incoming.messageAddress(0), receiveBatch,
            LinuxUdp.MSG_DONTWAIT, 0);
        lastReceiveFull = received == receiveBatch;
        if (received <= 0) {
            return 0;
        }
        final ByteBuffer packets = incoming.packets();
        int datagrams = 0;
        for (int i = 0; i < received; i++) {
            final int sender = incoming.senderAddress(i);
            if (incoming.truncated(i)) {
                datagrams++;
                if (acceptOnlyKnownPeers && !routes.hasPeer(sender)) {
                    counters.drop(DropReason.UNKNOWN_SENDER);
                } else {
                    counters.drop(DropReason.OVERSIZED);
                }
                continue;
            }
            final int total = incoming.receivedLength(i);
            final int base = incoming.slotOffset(i);
            final int size = gro ? incoming.groSegmentSize(i) : 0;
            if (size <= 0 || size >= total) {
                datagrams++;
                deliver(packets, base, total, sender);
                continue;
            }
            for (int at = 0; at < total; at += size) {
                datagrams++;
                deliver(packets, base + at, Math.min(size, total - at), sender);
            }
        }
        if (coalescer != null) {
            coalescer.flush();
        }
        return datagrams;
    }

    /** Checks one datagram's inner packet and writes it to the TUN (or the coalescer); drops are counted. */
    private void deliver(final ByteBuffer packets, final int offset, final int length, final int sender) {
        if (!processor.udpToTun(packets, offset, length, sender)) {
            return;
        }
        if (coalescer != null) {
            coalescer.add(packets, offset, length);
            return;
        }
        try {
            if (tun.writeAddress(incoming.packetsAddress(), offset, offset + length) == length) {
                counters.add(LoopCounters.UDP_TO_TUN_PACKETS, 1);
                counters.add(LoopCounters.UDP_TO_TUN_BYTES, length);
                return;
            }
        } catch (IOException e) {
            logTunError("write", e);
        }
        counters.drop(DropReason.TUN_WRITE_FAILED);
    }

    /**
     * The coalescer's {@link io.overlay.udp.offload.TunFrameSink}: writes one frame (virtio header + packet) to the
     * TUN and counts the inner packets it carries (a GSO frame stands for several segments).
     */
    private void writeFrame(final ByteBuffer buffer, final int offset, final int length) {
        if (buffer != sinkBuffer) {
            sinkBuffer = buffer;
            sinkAddress = Buffer.memoryAddress(buffer);
        }
        sinkHeader.wrap(buffer, offset);
        final int packet = length - VirtioNetHdr.LENGTH;
        int count = 1;
        int bytes = packet;
        if (sinkHeader.isGso() && sinkHeader.gsoSize() > 0) {
            final int headers = sinkHeader.hdrLen();
            count = Math.max(1, (packet - headers + sinkHeader.gsoSize() - 1) / sinkHeader.gsoSize());
            bytes = packet + (count - 1) * headers;
        }
        try {
            if (tun.writeAddress(sinkAddress, offset, offset + length) == length) {
                counters.add(LoopCounters.UDP_TO_TUN_PACKETS, count);
                counters.add(LoopCounters.UDP_TO_TUN_BYTES, bytes);
                if (count > 1) {
                    counters.add(LoopCounters.TUN_COALESCED_FRAMES, 1);
                }
                return;
            }
        } catch (IOException e) {
            logTunError("write", e);
        }
        counters.drop(DropReason.TUN_WRITE_FAILED, count);
    }

    /** Whether this loop reads and writes {@code virtio_net_hdr} frames (TUN offloads). */
    boolean offloads() {
        return vnet > 0;
    }

    /** Whether this loop receives with UDP GRO. */
    boolean groActive() {
        return gro;
    }

    private void logTunError(final String what, final IOException e) {
        if (!tunErrorLogged) {
            tunErrorLogged = true;
            LOG.warn("TUN {} failed (logged once per loop; drops are counted): {}", what, e.toString());
        }
    }
}
