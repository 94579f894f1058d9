package io.overlay.udp;

import com.sun.jna.Native;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import java.nio.ByteBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The loop's UDP socket: batched sends with UDP GSO runs and the GSO-refusal fallback, and batched receives with the
 * {@code MSG_TRUNC} flag and the UDP GRO split, over two pre-linked {@link MessageBatch}es and {@link LinuxUdp}.
 *
 * <p><b>Send.</b> {@link #queue} records a packet by address (it stays where the TUN port read it) and its peer;
 * {@link #flush} sends them with one {@code sendmmsg}, runs of equal-size packets to one peer as one UDP GSO message
 * when GSO is on. {@code EAGAIN} (socket buffer full) drops the rest of the batch; another error drops that message
 * (all its datagrams), except a GSO refusal ({@link LinuxUdp#isGsoRefusal}), which turns GSO off for this socket and
 * resends one datagram per packet, and {@code EMSGSIZE} for a run (or {@code EINVAL} once a GSO send worked, older
 * kernels' answer): its datagrams exceed the path MTU to that peer, so the kernel must fragment them, which it does
 * only for datagrams sent singly; that run is resent one datagram per message. Datagrams on the wire are the same
 * either way: one inner packet each.
 *
 * <p><b>Receive.</b> {@link #receive} runs one {@code recvmmsg}; {@link #next} then walks the datagrams one by one:
 * a GRO buffer is split at its segment size, and a datagram the kernel truncated ({@code MSG_TRUNC}) is handed on
 * with length {@link #TRUNCATED}, larger than any MTU, so that {@link PacketProcessor#udpToTun} drops it like any
 * oversized datagram (after its sender check, in the one place that makes it).
 *
 * <p>Loop thread only, except {@link #gsoActive()}. Nothing is allocated per packet.
 */
final class UdpPort {
    /** The length {@link #next} reports for a truncated datagram: more than any MTU. */
    static final int TRUNCATED = Integer.MAX_VALUE;
    /** Receive slots per {@code recvmmsg} with UDP GRO; each holds up to 64 KiB of coalesced datagrams. */
    static final int GRO_SLOTS = 8;
    /** Bytes per receive slot with UDP GRO (a GRO buffer is at most 65535 bytes). */
    static final int GRO_SLOT_SIZE = 65536;

    private static final Logger LOG = LoggerFactory.getLogger(UdpPort.class);

    /** The socket received on; changed only by {@link #rebind}, on the loop thread. */
    private int fd;
    /** The socket sent from; changed only by {@link #rebind}, on the loop thread. */
    private int sendFd;
    private final LoopCounters counters;
    private final MessageBatch outgoing;
    private final MessageBatch incoming;
    /** Whether the receive buffers are laid out for UDP GRO (with a control buffer each); fixed at creation. */
    private final boolean gro;
    /**
     * Whether the kernel has {@code UDP_GRO} on for the current receiving socket (a new socket may refuse it; its
     * datagrams then arrive one per GRO slot, without a control message). Written on the loop thread, read anywhere.
     */
    private volatile boolean groOn;
    private final int receiveSlots;
    private final ByteBuffer received;
    private final long receivedAddress;
    private volatile boolean gso;
    /**
     * Whether a UDP GSO message was ever sent from this socket: after that, {@code EINVAL} for a run means the path MTU
     * to its peer, as {@code EMSGSIZE} does on recent kernels (older ones answer {@code EINVAL} when
     * {@code hlen + gso_size > fragsize} in {@code udp_send_skb}, net/ipv4/udp.c), not a refusal of GSO itself. Loop
     * thread only.
     */
    private boolean gsoSent;
    private int queued;
    /** What the last {@link #send} sent: datagrams and their bytes. */
    private int sentPackets;
    private long sentBytes;
    // the receive cursor
    private int messages;
    private int message;
    private int sender;
    private int offset;
    private int length;
    private int segmentSize;
    private int nextSegment;
    private int end;

    /**
     * Creates the port.
     *
     * @param fd the bound, non-blocking UDP socket (not owned)
     * @param sendCapacity the most packets queued before a {@link #flush}
     * @param batchSize datagrams per {@code recvmmsg} without GRO
     * @param slotSize bytes per receive slot without GRO (more than the MTU)
     * @param gso whether to send runs with UDP GSO
     * @param gro whether {@code UDP_GRO} is on for the socket
     * @param counters the loop's counters
     */
    UdpPort(final int fd, final int sendCapacity, final int batchSize, final int slotSize, final boolean gso,
            final boolean gro, final LoopCounters counters) {
        this(fd, fd, sendCapacity, batchSize, slotSize, gso, gro, counters);
    }

    /**
     * Creates the port with a socket of its own for sending (another source port, see {@code UdpPacketEngine}).
     *
     * @param fd the bound, non-blocking UDP socket it receives on (not owned)
     * @param sendFd the bound, non-blocking UDP socket it sends from (not owned; may be {@code fd})
     * @param sendCapacity the most packets queued before a {@link #flush}
     * @param batchSize datagrams per {@code recvmmsg} without GRO
     * @param slotSize bytes per receive slot without GRO (more than the MTU)
     * @param gso whether to send runs with UDP GSO
     * @param gro whether {@code UDP_GRO} is on for the receiving socket
     * @param counters the loop's counters
     */
    UdpPort(final int fd, final int sendFd, final int sendCapacity, final int batchSize, final int slotSize,
            final boolean gso, final boolean gro, final LoopCounters counters) {
        this.fd = fd;
        this.sendFd = sendFd;
        this.counters = counters;
        this.gso = gso;
        this.gro = gro;
        this.groOn = gro;
        this.outgoing = MessageBatch.forSending(sendCapacity);
        this.receiveSlots = gro ? GRO_SLOTS : batchSize;
        this.incoming = gro ? new MessageBatch(GRO_SLOTS, GRO_SLOT_SIZE) : new MessageBatch(batchSize, slotSize);
        this.received = incoming.packets();
        this.receivedAddress = incoming.packetsAddress();
    }

    /**
     * Receives on and sends from other sockets from now on (the engine moved to another underlay address). Loop
     * thread only, between batches: nothing may be queued, and the receive cursor starts afresh.
     *
     * @param newFd the bound, non-blocking UDP socket to receive on (not owned)
     * @param newSendFd the bound, non-blocking UDP socket to send from (not owned; may be {@code newFd})
     * @param newGro whether {@code UDP_GRO} is on for {@code newFd} (only meaningful when the port was created with
     *     GRO: the buffers stay as they are)
     * @throws IllegalStateException if packets are queued
     */
    void rebind(final int newFd, final int newSendFd, final boolean newGro) {
        if (queued != 0) {
            throw new IllegalStateException(queued + " packets queued on the old socket");
        }
        this.fd = newFd;
        this.sendFd = newSendFd;
        this.groOn = gro && newGro;
        this.messages = 0;
        this.message = 0;
        this.end = 0;
        this.nextSegment = 0;
    }

    /**
     * Queues one packet for the next {@link #flush}; the memory must stay unchanged until then.
     *
     * @param address the packet's native address
     * @param length its length in bytes
     * @param peer the destination, packed as by {@link Peer#packed()}
     */
    void queue(final long address, final int length, final long peer) {
        outgoing.prepareSendFrom(queued++, address, length, Peer.ipOf(peer), Peer.portOf(peer));
    }

    /**
     * Queues one packet held in two parts (headers, then payload elsewhere) for the next {@link #flush}; sent as one
     * datagram from two iovecs. The memory must stay unchanged until then.
     *
     * @param head the native address of the packet's first bytes
     * @param headLength their length
     * @param tail the native address of the rest
     * @param tailLength its length
     * @param peer the destination, packed as by {@link Peer#packed()}
     */
    void queueSplit(final long head, final int headLength, final long tail, final int tailLength, final long peer) {
        outgoing.prepareSendSplit(queued++, head, headLength, tail, tailLength, Peer.ipOf(peer), Peer.portOf(peer));
    }

    /** Sends everything queued (packets read from the TUN) and counts it as sent or dropped. */
    void flush() {
        send();
        counters.add(Counter.TUN_TO_UDP_PACKETS, sentPackets);
        counters.add(Counter.TUN_TO_UDP_BYTES, sentBytes);
    }

    /**
     * Sends everything queued, the engine's own messages (not packets read from the TUN, so not counted as those);
     * failures are counted as {@link DropReason#SEND_FAILED}.
     *
     * @return the datagrams sent
     */
    int flushOwn() {
        send();
        return sentPackets;
    }

    /** Sends everything queued; leaves what was sent in {@link #sentPackets} and {@link #sentBytes}. */
    private void send() {
        final int count = queued;
        sentPackets = 0;
        sentBytes = 0;
        if (count == 0) {
            return;
        }
        queued = 0;
        long bytes = 0;
        int packets = 0;
        int from = 0;
        int singlesTo = 0; // slots before this one go one datagram per message: a GSO run the route refused
        while (from < count) {
            final boolean singles = from < singlesTo;
            final int to = singles ? singlesTo : count;
            final int built = outgoing.buildMessages(from, to, gso && !singles);
            from = to;
            int m = 0;
            while (m < built) {
                final int n = LinuxUdp.sendmmsg(sendFd, outgoing.messageAddress(m), built - m, LinuxUdp.MSG_DONTWAIT);
                if (n > 0) {
                    for (int i = m; i < m + n; i++) {
                        packets += outgoing.messageSlots(i);
                        bytes += outgoing.messageBytes(i);
                        gsoSent |= outgoing.messageSlots(i) > 1;
                    }
                    m += n;
                    continue;
                }
                final int errno = Native.getLastError();
                if (errno == LinuxUdp.EAGAIN) {
                    // socket buffer full: drop what is left of the batch
                    counters.drop(DropReason.SEND_FAILED, count - outgoing.messageFirst(m));
                    from = count;
                    break;
                }
                if (outgoing.messageSlots(m) > 1
                    && (errno == LinuxUdp.EMSGSIZE || errno == LinuxUdp.EINVAL && gsoSent)) {
                    // The run's datagrams are larger than the path MTU to this peer: the kernel fragments a single
                    // datagram but refuses to cut a GSO message into fragments (EMSGSIZE; EINVAL on older kernels,
                    // told apart from a refusal of GSO itself by an earlier GSO send that worked). Resend this run
                    // one datagram per message; GSO stays on for the rest (other peers' paths may carry them whole).
                    from = outgoing.messageFirst(m);
                    singlesTo = from + outgoing.messageSlots(m);
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
        sentPackets = packets;
        sentBytes = bytes;
    }

    private void disableGso(final int errno) {
        gso = false;
        LOG.warn("UDP GSO send failed (errno {}); this loop sends one datagram per packet from now on", errno);
    }

    /** Whether this socket still sends with UDP GSO (false if off or after a refused GSO send). Any thread. */
    boolean gsoActive() {
        return gso;
    }

    /** Whether the current socket receives with UDP GRO (false after a new socket refused it). Any thread. */
    boolean groActive() {
        return groOn;
    }

    /** Whether the receive buffers are laid out for UDP GRO, i.e. a new socket should be asked for it. */
    boolean groBuffers() {
        return gro;
    }

    /** Receive slots per {@link #receive}: a receive that fills them all may have left more datagrams queued. */
    int receiveSlots() {
        return receiveSlots;
    }

    /**
     * Receives one batch with {@code recvmmsg} and puts the cursor before its first datagram.
     *
     * @return messages received (a GRO message may hold many datagrams), 0 or -1 when there were none
     */
    int receive() {
        if (gro) {
            incoming.resetForGroReceive(receiveSlots);
        } else {
            incoming.resetForReceive(receiveSlots);
        }
        final int n = LinuxUdp.recvmmsg(fd, incoming.messageAddress(0), receiveSlots, LinuxUdp.MSG_DONTWAIT, 0);
        messages = Math.max(n, 0);
        message = -1;
        nextSegment = 0;
        end = 0;
        return n;
    }

    /**
     * Moves the cursor to the next datagram of the last {@link #receive}.
     *
     * @return {@code false} when there is none left
     */
    boolean next() {
        if (nextSegment < end) {
            offset = nextSegment;
            length = Math.min(segmentSize, end - nextSegment);
            nextSegment += segmentSize;
            return true;
        }
        if (++message >= messages) {
            return false;
        }
        sender = incoming.senderAddress(message);
        offset = incoming.slotOffset(message);
        end = 0;
        if (incoming.truncated(message)) {
            length = TRUNCATED;
            return true;
        }
        final int total = incoming.receivedLength(message);
        final int size = gro ? incoming.groSegmentSize(message) : 0;
        if (size <= 0 || size >= total) {
            length = total;
            return true;
        }
        segmentSize = size;
        length = size;
        nextSegment = offset + size;
        end = offset + total;
        return true;
    }

    /** The buffer the current datagram is in. */
    ByteBuffer buffer() {
        return received;
    }

    /** The native address of {@link #buffer()}'s index 0. */
    long address() {
        return receivedAddress;
    }

    /** The current datagram's absolute index in {@link #buffer()}. */
    int offset() {
        return offset;
    }

    /** The current datagram's length in bytes, or {@link #TRUNCATED}. */
    int length() {
        return length;
    }

    /** The current datagram's sender IPv4 address, int form. */
    int sender() {
        return sender;
    }
}
