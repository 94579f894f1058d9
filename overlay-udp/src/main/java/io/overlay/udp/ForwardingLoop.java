package io.overlay.udp;

import com.sun.jna.Native;
import io.netty.channel.unix.Buffer;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.DropReason;
import io.overlay.core.Ipv4Prefix;
import io.overlay.core.Peer;
import io.overlay.core.RouteTable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The packet path of one event loop: one TUN queue and one UDP socket, both on the same Netty epoll thread, served by
 * {@link #drain()} until neither has work (flannel's proxy loop, flannel reference §2.6, with batches).
 *
 * <p><b>TUN → UDP</b>: read up to {@link #BATCH} packets (one {@code read} each, the TUN has no batch read) into the
 * slots of a reused direct buffer; validate each ({@link Ipv4Header#validate}); drop a destination outside the overlay
 * Network; look the destination up in the {@link RouteTable} (lock-free); without a route write an ICMP net
 * unreachable back into the TUN ({@link IcmpUnreachable}); drop at TTL 1, else decrement the TTL with an RFC 1624
 * checksum patch; then send the whole batch with one {@code sendmmsg}, each packet as the raw payload of a datagram to
 * the peer's PublicIP and port (flannel's wire format, flannel reference §2.2); runs of equal-size packets to one peer
 * go as one UDP GSO message that the kernel cuts into those same datagrams ({@link #GSO_ENABLED}).
 *
 * <p><b>UDP → TUN</b>: receive up to {@link #BATCH} datagrams with one {@code recvmmsg}; drop a sender that is not a
 * known peer's PublicIP (when {@code acceptOnlyKnownPeers}), a truncated ({@code MSG_TRUNC}) or larger-than-MTU
 * datagram, a malformed packet, a destination outside the local subnet, TTL 1; decrement the TTL and write each to the
 * TUN.
 *
 * <p>The per-packet decisions of both directions are {@link PacketProcessor}'s; this class does the I/O.
 *
 * <p>Every drop is counted by {@link DropReason}. Steady state allocates nothing and takes no lock. All methods except
 * {@link #counters()} run on the loop's thread; the local subnet is changed by a command the loop executes
 * ({@link #onLocalSubnet}).
 */
final class ForwardingLoop {
    /** Datagrams per recvmmsg/sendmmsg and packets read from the TUN per pass. */
    static final int BATCH = 32;
    /** Passes over both directions per readiness event before returning to epoll (lets loop tasks run). */
    static final int MAX_ROUNDS = 16;

    /**
     * Whether TUN → UDP batches are sent with UDP GSO ({@code UDP_SEGMENT}; see {@link MessageBatch}): system property
     * {@code overlay.udp.gso}, default {@code true}. Datagrams on the wire are the same either way; a loop falls back
     * to plain datagrams by itself if the kernel refuses a GSO send.
     */
    static final boolean GSO_ENABLED = Boolean.parseBoolean(System.getProperty("overlay.udp.gso", "true"));

    private static final Logger LOG = LoggerFactory.getLogger(ForwardingLoop.class);

    private final FileDescriptor tun;
    private final int udpFd;
    private final RouteTable routes;
    private final boolean acceptOnlyKnownPeers;
    private final MessageBatch outgoing;
    private final MessageBatch incoming;
    private final ByteBuffer icmp = ByteBuffer.allocateDirect(IcmpUnreachable.MAX_LENGTH).order(ByteOrder.BIG_ENDIAN);
    private final long icmpAddress = Buffer.memoryAddress(icmp);
    private final LoopCounters counters = new LoopCounters();
    private final PacketProcessor processor;
    private boolean tunErrorLogged;
    private boolean tunReadFailed;
    private boolean gso = GSO_ENABLED;

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
        this.tun = tun;
        this.udpFd = udpFd;
        this.routes = routes;
        this.acceptOnlyKnownPeers = acceptOnlyKnownPeers;
        // One byte more than the MTU: a longer TUN read or datagram is then seen as oversized, never silently cut.
        final int slot = (mtu + 1 + 7) & ~7;
        this.outgoing = new MessageBatch(BATCH, slot);
        this.incoming = new MessageBatch(BATCH, slot);
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
     * Moves packets in both directions until neither has work or {@link #MAX_ROUNDS} passes are done (the fds are
     * level-triggered, so remaining work fires again).
     */
    void drain() {
        for (int round = 0; round < MAX_ROUNDS; round++) {
            if (tunToUdp() + udpToTun() == 0) {
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

    private void answerNetUnreachable(final ByteBuffer packets, final int offset) {
        final int length = processor.writeNetUnreachable(packets, offset, icmp, 0);
        if (length == 0) {
            return;
        }
        try {
            if (tun.writeAddress(icmpAddress, 0, length) == length) {
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
                if (outgoing.messageSlots(m) > 1) {
                    disableGso(errno); // resend this run and the rest of the batch one datagram per packet
                    from = outgoing.messageFirst(m);
                    break;
                }
                counters.drop(DropReason.SEND_FAILED); // e.g. no underlay route to this peer: skip it
                m++;
            }
        }
        counters.add(LoopCounters.TUN_TO_UDP_PACKETS, packets);
        counters.add(LoopCounters.TUN_TO_UDP_BYTES, bytes);
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
        incoming.resetForReceive(BATCH);
        final int received = LinuxUdp.recvmmsg(udpFd, incoming.messageAddress(0), BATCH, LinuxUdp.MSG_DONTWAIT, 0);
        if (received <= 0) {
            return 0;
        }
        long bytes = 0;
        int packets = 0;
        for (int i = 0; i < received; i++) {
            final int length = deliver(i);
            if (length > 0) {
                bytes += length;
                packets++;
            }
        }
        counters.add(LoopCounters.UDP_TO_TUN_PACKETS, packets);
        counters.add(LoopCounters.UDP_TO_TUN_BYTES, bytes);
        return received;
    }

    /** Checks datagram {@code slot} and writes it to the TUN; returns its length, or 0 when dropped (counted). */
    private int deliver(final int slot) {
        if (incoming.truncated(slot)) {
            if (acceptOnlyKnownPeers && !routes.hasPeer(incoming.senderAddress(slot))) {
                counters.drop(DropReason.UNKNOWN_SENDER);
            } else {
                counters.drop(DropReason.OVERSIZED);
            }
            return 0;
        }
        final int length = incoming.receivedLength(slot);
        final int offset = incoming.slotOffset(slot);
        if (!processor.udpToTun(incoming.packets(), offset, length, incoming.senderAddress(slot))) {
            return 0;
        }
        try {
            if (tun.writeAddress(incoming.packetsAddress(), offset, offset + length) == length) {
                return length;
            }
        } catch (IOException e) {
            logTunError("write", e);
        }
        counters.drop(DropReason.TUN_WRITE_FAILED);
        return 0;
    }

    private void logTunError(final String what, final IOException e) {
        if (!tunErrorLogged) {
            tunErrorLogged = true;
            LOG.warn("TUN {} failed (logged once per loop; drops are counted): {}", what, e.toString());
        }
    }
}
