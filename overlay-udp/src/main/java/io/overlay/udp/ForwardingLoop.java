package io.overlay.udp;

import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.RouteTable;
import io.overlay.udp.crypto.PeerSessions;
import io.overlay.udp.crypto.SealedFrame;
import io.overlay.udp.offload.VirtioNetHdr;
import java.nio.ByteBuffer;

/**
 * The packet path of one event loop: one TUN queue and one UDP socket on the same Netty epoll thread, served by
 * {@link #onTunReadable()} and {@link #onUdpReadable()}, each called when its fd is readable. It reads like flannel's
 * proxy loop ({@code tun_to_udp} and {@code udp_to_tun} in flannel v0.20.2 {@code backend/udp/proxy_amd64.c}), with
 * batches, and without polling a fd that epoll did not report:
 *
 * <ul>
 *   <li><b>TUN → UDP</b>: the {@link TunPort} hands over a batch of plain IPv4 packets; {@link PacketProcessor}
 *       decides each (peer, drop or no route); the {@link UdpPort} queues the routed ones by address and sends them
 *       with one {@code sendmmsg}; a packet without a route or whose TTL expired goes to the {@link IcmpResponder}, at
 *       most once per TUN frame (a super-packet's segments get one answer between them, as the kernel handed over
 *       one packet).</li>
 *   <li><b>UDP → TUN</b>: the {@link UdpPort} receives a batch with one {@code recvmmsg} and walks its datagrams;
 *       {@link PacketProcessor} checks each; the {@link TunPort} writes it (or coalesces it until the batch ends); one
 *       whose TTL expired is answered to its source's peer by the {@link IcmpResponder}.</li>
 * </ul>
 *
 * <p>Whether the TUN has a {@code virtio_net_hdr} (offloads) is decided once, by the port chosen in
 * {@link #create}. Datagrams on the wire are the same either way: one inner IPv4 packet of at most the MTU each, as
 * flanneld sends. Every drop is counted by {@code DropReason}; steady state allocates nothing and takes no lock. All
 * methods except {@link #counters()} and {@link #gsoActive()} run on the loop's thread; the local subnet changes by a
 * command the loop executes ({@link #onLocalSubnet}).
 */
final class ForwardingLoop {
    /**
     * Full passes of one direction per readiness event before returning to epoll, so the other fd (and loop tasks)
     * get their turn: under two-way load the TUN is never served for more than this many batches while datagrams
     * wait in the socket's receive buffer, and the other way round. epoll is level-triggered, so work left over
     * fires again at once.
     */
    static final int MAX_ROUNDS = 4;
    /**
     * Bound of {@link #drainUdp}: more batches than a {@link UdpPacketEngine#SOCKET_BUFFER_BYTES} receive buffer holds,
     * so it ends on an empty socket unless datagrams keep arriving as fast as they are read.
     */
    static final int DRAIN_ROUNDS = 1024;

    private final TunPort tun;
    private final PacketBatch in;
    private final UdpPort udp;
    private final IcmpResponder icmp;
    private final PacketProcessor processor;
    private final LoopCounters counters;
    private final int batch;
    /** The encryption step, or {@code null} when encryption is off (flannel's datagrams, untouched). */
    private final LoopSealing sealing;
    private boolean tunFailed;
    /** Whether the last {@code recvmmsg} filled every slot, so more datagrams may be waiting. */
    private boolean lastReceiveFull;

    private ForwardingLoop(final TunPort tun, final UdpPort udp, final IcmpResponder icmp,
                           final PacketProcessor processor, final LoopCounters counters, final int batch,
                           final LoopSealing sealing) {
        this.tun = tun;
        this.in = tun.batch();
        this.udp = udp;
        this.icmp = icmp;
        this.processor = processor;
        this.counters = counters;
        this.batch = batch;
        this.sealing = sealing;
    }

    /**
     * Creates a loop and its ports.
     *
     * @param tunFd the TUN queue's descriptor (not owned)
     * @param udpFd the bound UDP socket (owned by the engine)
     * @param routes the route table
     * @param config what the loop forwards and how
     * @return the loop
     */
    static ForwardingLoop create(final FileDescriptor tunFd, final int udpFd, final RouteTable routes,
                                 final LoopConfig config) {
        return create(tunFd, udpFd, udpFd, 0, routes, config, null);
    }

    /**
     * Creates a loop and its ports, sealing to peers with a session when {@code sessions} is not null.
     *
     * @param tunFd the TUN queue's descriptor (not owned)
     * @param udpFd the bound UDP socket (owned by the engine)
     * @param routes the route table
     * @param config what the loop forwards and how
     * @param sessions the peer sessions, or {@code null} when encryption is off
     * @return the loop
     */
    static ForwardingLoop create(final FileDescriptor tunFd, final int udpFd, final RouteTable routes,
                                 final LoopConfig config, final PeerSessions sessions) {
        return create(tunFd, udpFd, udpFd, 0, routes, config, sessions);
    }

    /**
     * Creates a loop and its ports, sending from a socket of its own and sealing to peers with a session when
     * {@code sessions} is not null.
     *
     * @param tunFd the TUN queue's descriptor (not owned)
     * @param udpFd the bound UDP socket it receives on (owned by the engine)
     * @param sendFd the bound UDP socket it sends from (owned by the engine; may be {@code udpFd})
     * @param index the loop's index, 0..: the top byte of every counter it seals
     * @param routes the route table
     * @param config what the loop forwards and how
     * @param sessions the peer sessions, or {@code null} when encryption is off
     * @return the loop
     */
    static ForwardingLoop create(final FileDescriptor tunFd, final int udpFd, final int sendFd, final int index,
                                 final RouteTable routes, final LoopConfig config, final PeerSessions sessions) {
        final LoopCounters counters = new LoopCounters();
        final boolean vnet = config.vnetHeaderLength() == VirtioNetHdr.LENGTH;
        final int batch = config.batchSize();
        final TunPort tun = vnet ? new VnetTunPort(tunFd, batch, config.mtu(), counters,
            VnetTunPort.SPLIT_SEGMENTS && sessions == null)
            : new PlainTunPort(tunFd, batch, config.mtu(), counters);
        // with offloads one read pass may yield batch - 1 plain packets and then a super-packet's segments
        final int sendCapacity = vnet ? batch + VnetTunPort.MAX_SEGMENTS : batch;
        // a sealing host receives frames up to MTU + overhead, and clear text up to flannel's MTU (the same size)
        final int wireMtu = sessions == null ? config.mtu()
            : Math.min(65535, config.mtu() + SealedFrame.OVERHEAD);
        final UdpPort udp = new UdpPort(udpFd, sendFd, sendCapacity, batch, PlainTunPort.slotSize(wireMtu),
            config.udpGso(), config.udpGro(), counters);
        final IcmpResponder icmp = new IcmpResponder(tunFd, tun.headerLength(), counters,
            config.localSubnet() == null ? 32 : config.localSubnet().length(), config.mtu(), System.nanoTime());
        final PacketProcessor processor = new PacketProcessor(routes, config.network(), config.localSubnet(),
            wireMtu, config.acceptOnlyKnownPeers(), config.strictSource(), counters);
        final LoopSealing sealing = sessions == null ? null
            : new LoopSealing(sessions, index, sendCapacity, config.mtu(), counters);
        return new ForwardingLoop(tun, udp, icmp, processor, counters, batch, sealing);
    }

    /**
     * Sets the local subnet: datagrams are accepted only for destinations inside it. Loop thread only.
     *
     * @param subnet the new local subnet, or {@code null} for none
     */
    void onLocalSubnet(final Ipv4Prefix subnet) {
        processor.onLocalSubnet(subnet);
    }

    /**
     * Takes other sockets (the engine moved to another underlay address): receives from {@code udpFd} and sends from
     * {@code sendFd} from the next batch on. Loop thread only, between batches (nothing is queued).
     *
     * @param udpFd the new bound UDP socket to receive on (owned by the engine)
     * @param sendFd the new bound UDP socket to send from (owned by the engine; may be {@code udpFd})
     * @param gro whether {@code UDP_GRO} is on for {@code udpFd}
     */
    void onRebind(final int udpFd, final int sendFd, final boolean gro) {
        udp.rebind(udpFd, sendFd, gro);
    }

    /** This loop's counters (readable from any thread). */
    LoopCounters counters() {
        return counters;
    }

    /** Whether this loop still sends with UDP GSO (any thread). */
    boolean gsoActive() {
        return udp.gsoActive();
    }

    /** Whether this loop receives with UDP GRO on its current socket (any thread). */
    boolean groActive() {
        return udp.groActive();
    }

    /** Whether this loop was set up to receive with UDP GRO (its buffers are), so a new socket is asked for it. */
    boolean groBuffers() {
        return udp.groBuffers();
    }

    /** Whether this loop's TUN has a {@code virtio_net_hdr} (offloads). */
    boolean offloads() {
        return tun.headerLength() > 0;
    }

    /**
     * Serves a readable TUN queue: TUN → UDP passes while each pass reads a whole batch (more may be queued), at most
     * {@link #MAX_ROUNDS}. The UDP socket is not polled here: it has its own readiness event. A pass that is not full
     * ended on EAGAIN, so the queue is known to be empty and no further read is tried.
     *
     * @return {@code false} if the last TUN read failed (EIO while the link is down, or the device is gone)
     */
    boolean onTunReadable() {
        for (int round = 0; round < MAX_ROUNDS; round++) {
            if (tunToUdp() < batch) {
                break;
            }
        }
        return !tunFailed;
    }

    /**
     * Serves a readable UDP socket: UDP → TUN passes while each {@code recvmmsg} fills every slot (more may be
     * queued), at most {@link #MAX_ROUNDS}. A {@code recvmmsg} that returns fewer messages than slots emptied the
     * receive queue (or met an error, which the kernel keeps for the next call), so no second call is made; the TUN is
     * not polled here either. No system call is spent on a fd that has nothing, which bounds the latency of a lightly
     * loaded overlay.
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
     * Reads the UDP socket until a {@code recvmmsg} leaves it empty, at most {@link #DRAIN_ROUNDS} passes: before the
     * loop leaves a socket ({@link #onRebind}), whose queued datagrams would otherwise be closed away with it. Loop
     * thread only, between batches.
     */
    void drainUdp() {
        for (int round = 0; round < DRAIN_ROUNDS; round++) {
            udpToTun();
            if (!lastReceiveFull) {
                return;
            }
        }
    }

    /**
     * One TUN → UDP pass: up to a batch of TUN frames, forwarded as they come.
     *
     * @return TUN frames read (forwarded or dropped)
     */
    int tunToUdp() {
        int frames = 0;
        int status;
        do {
            status = tun.read(batch - frames);
            frames += in.frames();
            forward();
        } while (status == TunPort.MORE && frames < batch);
        tunFailed = status == TunPort.FAILED;
        return frames;
    }

    /** Routes, queues and sends the packets of the last TUN read; answers unrouted and expired ones once per frame. */
    private void forward() {
        final ByteBuffer buf = in.buffer();
        final long address = in.address();
        int answered = -1;
        for (int i = 0; i < in.count(); i++) {
            final int offset = in.offset(i);
            final int length = in.length(i);
            final long peer = processor.tunToUdp(buf, offset, length);
            if (peer >= 0) {
                final int tail = in.tailLength(i);
                if (sealing != null) {
                    sealing.queue(udp, buf, address, offset, length, peer); // whole packets: no split when sealing
                } else if (tail == 0) {
                    udp.queue(address + offset, length, peer);
                } else {
                    udp.queueSplit(address + offset, length - tail, in.tailAddress(i), tail, peer);
                }
            } else if (peer == PacketProcessor.NO_ROUTE && in.frame(i) != answered) {
                answered = in.frame(i);
                icmp.answer(buf, offset, in.headLength(i)); // a split segment: only its headers are here
            } else if (peer == PacketProcessor.TTL_EXCEEDED && in.frame(i) != answered) {
                answered = in.frame(i);
                icmp.timeExceeded(buf, offset, in.headLength(i));
            }
        }
        udp.flush(); // before the next read: the vnet port's segment area is reused by it
        if (sealing != null) {
            sealing.flushed();
        }
    }

    /**
     * One UDP → TUN pass: one {@code recvmmsg}, every datagram checked and written.
     *
     * @return datagrams received (delivered or dropped)
     */
    int udpToTun() {
        final int received = udp.receive();
        lastReceiveFull = received == udp.receiveSlots();
        if (received <= 0) {
            return 0;
        }
        int datagrams = 0;
        while (udp.next()) {
            datagrams++;
            final int length = sealing == null ? udp.length()
                : sealing.open(udp.buffer(), udp.offset(), udp.length(), udp.sender());
            if (length < 0) {
                continue;
            }
            final long verdict = processor.udpToTun(udp.buffer(), udp.offset(), length, udp.sender());
            if (verdict == PacketProcessor.DELIVER) {
                tun.write(udp.buffer(), udp.address(), udp.offset(), length);
            } else if (verdict == PacketProcessor.TTL_EXCEEDED) {
                icmp.timeExceededToPeer(udp.buffer(), udp.offset(), length, processor, udp, sealing);
            }
        }
        tun.flush();
        return datagrams;
    }
}
