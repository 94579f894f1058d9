package io.overlay.udp;

import io.netty.channel.unix.Buffer;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.udp.crypto.PacketOpener;
import io.overlay.udp.crypto.PacketSealer;
import io.overlay.udp.crypto.PeerSession;
import io.overlay.udp.crypto.PeerSessions;
import io.overlay.udp.crypto.SealedFrame;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One loop's encryption step, between {@link PacketProcessor} and the {@link UdpPort}: sealing after the TUN port's
 * software segmentation (so the sealed datagrams of a segmented super-packet are still a run of equal sizes, one UDP
 * GSO send), opening before the processor's checks (so a GRO buffer's sealed segments are opened one by one, in
 * place, and coalesced as usual). Sealed frames are written to this loop's own area, one slot per packet queued
 * before a flush. Loop thread only; nothing is allocated here per packet (the JDK's {@code Cipher.init} does, see
 * {@link PacketSealer}).
 */
final class LoopSealing {
    private final PeerSessions sessions;
    private final boolean required;
    private final LoopCounters counters;
    private final PacketSealer sealer;
    private final PacketOpener opener = new PacketOpener();
    private final ByteBuffer area;
    private final long areaAddress;
    private final int slotSize;
    private final int slots;
    private int used;

    /**
     * Creates the step.
     *
     * @param sessions the peer sessions
     * @param index the loop's index: its counters' top byte ({@link io.overlay.udp.crypto.SealedFrame#counterOf})
     * @param slots most packets queued before a flush
     * @param mtu the TUN MTU: the largest packet sealed
     * @param counters the loop's counters
     */
    LoopSealing(final PeerSessions sessions, final int index, final int slots, final int mtu,
                final LoopCounters counters) {
        this.sealer = new PacketSealer(index);
        this.sessions = sessions;
        this.required = sessions.required();
        this.counters = counters;
        this.slots = slots;
        this.slotSize = mtu + SealedFrame.OVERHEAD;
        this.area = ByteBuffer.allocateDirect(slots * slotSize).order(ByteOrder.BIG_ENDIAN);
        this.areaAddress = Buffer.memoryAddress(area);
    }

    /**
     * Queues one routed packet on {@code udp}: sealed if the peer has a key, else in clear text (preferred) or
     * dropped as {@link DropReason#PEER_HAS_NO_KEY} (required).
     */
    void queue(final UdpPort udp, final ByteBuffer buf, final long address, final int offset, final int length,
               final long peer) {
        final PeerSession session = sessions.lookup(Peer.ipOf(peer));
        if (session == null) {
            if (required) {
                counters.drop(DropReason.PEER_HAS_NO_KEY);
                return;
            }
            counters.add(Counter.CLEAR_SENT, 1);
            udp.queue(address + offset, length, peer);
            return;
        }
        if (used == slots || length > slotSize - SealedFrame.OVERHEAD) {
            counters.drop(DropReason.OVERSIZED); // cannot happen: the port never queues more than its capacity
            return;
        }
        final int at = used * slotSize;
        final int n = sealer.seal(session, buf, offset, length, area, at);
        if (n < 0) {
            counters.drop(DropReason.SEND_FAILED);
            return;
        }
        used++;
        counters.add(Counter.SEALED_SENT, 1);
        udp.queue(areaAddress + at, n, peer);
    }

    /** The queued frames were sent: their slots may be reused. */
    void flushed() {
        used = 0;
    }

    /**
     * Opens a received datagram in place if it is sealed; refuses a clear-text one when encryption is required or the
     * sender has a session (it seals everything, so clear text from its address is spoofed), else accepts it.
     *
     * @return the inner packet's length at {@code offset} (a truncated datagram's {@link UdpPort#TRUNCATED} is passed
     *     on for the processor to drop), or -1 when dropped (counted)
     */
    int open(final ByteBuffer buf, final int offset, final int length, final int sender) {
        if (length == UdpPort.TRUNCATED) {
            return length;
        }
        final PeerSession session = sessions.lookup(sender);
        if (!SealedFrame.isSealed(buf, offset, length)) {
            // a peer that advertises a key seals everything it sends: clear text in its name is spoofed
            if (required || session != null) {
                counters.drop(DropReason.CLEAR_TEXT_REFUSED);
                return -1;
            }
            counters.add(Counter.CLEAR_RECEIVED, 1);
            return length;
        }
        if (session == null) {
            counters.drop(DropReason.UNKNOWN_KEY);
            return -1;
        }
        final int n = opener.open(session, buf, offset, length);
        if (n >= 0) {
            counters.add(Counter.SEALED_RECEIVED, 1);
            return n;
        }
        counters.drop(n == PacketOpener.UNKNOWN_KEY ? DropReason.UNKNOWN_KEY
            : n == PacketOpener.REPLAYED ? DropReason.REPLAYED : DropReason.TAMPERED);
        return -1;
    }
}
