package io.overlay.udp;

import io.netty.channel.unix.Buffer;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.spi.Counter;
import io.overlay.udp.offload.VirtioNetHdr;
import io.overlay.udp.wire.IcmpError;
import io.overlay.udp.wire.Ipv4Header;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Originates the loop's ICMP errors ({@link IcmpError}: only where RFC 1812 §4.3.2.7 allows one), rate-limited like
 * Linux by one {@link IcmpRateLimiter} for both kinds (1000/s, burst 50; RFC 1812 §4.3.2.8); a due message the limit
 * refuses is counted as suppressed. The clock is read only here.
 *
 * <ul>
 *   <li>{@link #answer}: a packet that {@link PacketProcessor#tunToUdp} found {@link PacketProcessor#NO_ROUTE no route}
 *       for gets a net unreachable, written back into the TUN ({@link Counter#ICMP_UNREACHABLE_SENT}).</li>
 *   <li>{@link #timeExceeded}: a packet read from the TUN whose TTL expired
 *       ({@link PacketProcessor#TTL_EXCEEDED}) gets a time exceeded written back into the TUN, from the destination's
 *       SubnetLen network address: the TUN address of the host the packet was going to, which the kernel routed into
 *       the TUN too (never a local address, so neither a martian nor refused by {@code rp_filter}), and the address
 *       that host's own kernel answers an expired TTL from.</li>
 *   <li>{@link #timeExceededToPeer}: a packet received from a peer whose TTL expired
 *       ({@link PacketProcessor#udpToTun} answered {@link PacketProcessor#TTL_EXCEEDED}) gets a time exceeded from
 *       this host's TUN address, sent as a datagram (sealed when the loop seals) to the peer that owns the packet's
 *       source, as a packet read from the TUN would be: written into the local TUN, its source
 *       (an address of this host) would make it a martian, and any other source would need the kernel to forward it
 *       back out of the TUN it came in by, which a host without {@code ip_forward} does not. No peer owns the source:
 *       no message.</li>
 * </ul>
 * Either way the sender's traceroute sees the engine's hop, as it sees a kernel router's (flannel's proxy drops such
 * packets silently). Time exceeded messages count as {@link Counter#ICMP_TIME_EXCEEDED_SENT}, not as traffic.
 *
 * <p>A message is built in its own buffer behind the TUN's device header, which for a TUN with a
 * {@code virtio_net_hdr} is written once, explicitly, as all zero (no offload); one sent to a peer leaves from after
 * that header. The buffer is allocated once, for the longest message ({@link IcmpError#MAX_LENGTH}, 576 bytes). Loop
 * thread only; nothing allocated per packet.
 */
final class IcmpResponder {
    private static final Logger LOG = LoggerFactory.getLogger(IcmpResponder.class);

    private final FileDescriptor tun;
    private final int headerLength;
    private final LoopCounters counters;
    private final IcmpRateLimiter limit;
    private final int hostMask;
    /** The longest message: 576 (RFC 1812 §4.3.2.3), or the MTU if it is smaller, as Linux's {@code icmp_send}. */
    private final int maxLength;
    private final Ipv4Header offender = new Ipv4Header();
    private final ByteBuffer out;
    private final long outAddress;
    private boolean errorLogged;

    /**
     * Creates the responder.
     *
     * @param tun the TUN queue to write answers to (not owned)
     * @param headerLength the TUN's header before each packet: 0, or {@link VirtioNetHdr#LENGTH}
     * @param counters the loop's counters
     * @param subnetLength the network config's SubnetLen (the local subnet's prefix length), 0..32: destinations and
     *     sources whose host part is all ones are subnet broadcast addresses and never answered
     * @param mtu the TUN MTU in bytes: a message is at most {@code min(mtu, }{@link IcmpError#MAX_LENGTH}{@code )}
     *     long, so that one sent to a peer fits its MTU (and the sealing slot) as Linux fits its error to the route's
     *     MTU
     * @param nowNanos the current {@link System#nanoTime()}: the rate limit starts full
     */
    IcmpResponder(final FileDescriptor tun, final int headerLength, final LoopCounters counters,
                  final int subnetLength, final int mtu, final long nowNanos) {
        this.tun = tun;
        this.hostMask = subnetLength >= 32 ? 0 : -1 >>> subnetLength;
        this.headerLength = headerLength;
        this.maxLength = Math.min(mtu, IcmpError.MAX_LENGTH);
        this.counters = counters;
        this.limit = new IcmpRateLimiter(nowNanos);
        this.out = ByteBuffer.allocateDirect(headerLength + IcmpError.MAX_LENGTH).order(ByteOrder.BIG_ENDIAN);
        this.outAddress = Buffer.memoryAddress(out);
        if (headerLength > 0) {
            new VirtioNetHdr().wrap(out, 0).clear(); // GSO_NONE, no checksum offload
        }
    }

    /**
     * Answers a packet without a route with a net unreachable into the TUN, if an answer is due and the rate limit
     * allows it, and counts what happened.
     *
     * @param buf the buffer holding the packet, as {@link PacketProcessor#tunToUdp} left it
     * @param offset the packet's absolute index
     * @param present bytes of the packet at {@code offset}: its length, or its headers for a split TSO segment
     *     ({@link PacketBatch#headLength}); the quote stops there
     */
    void answer(final ByteBuffer buf, final int offset, final int present) {
        if (!IcmpError.mayAnswer(offender.wrap(buf, offset), buf, offset, hostMask)
            || !withinLimit(Counter.ICMP_UNREACHABLE_SUPPRESSED)) {
            return;
        }
        writeToTun(headerLength + IcmpError.write(offender, buf, offset, present, out, headerLength, maxLength),
            Counter.ICMP_UNREACHABLE_SENT);
    }

    /**
     * Answers a packet read from the TUN whose TTL expired with a time exceeded into the TUN, if an answer is due and
     * the rate limit allows it, and counts what happened.
     *
     * @param buf the buffer holding the packet, as {@link PacketProcessor#tunToUdp} left it (TTL unchanged)
     * @param offset the packet's absolute index
     * @param present bytes of the packet at {@code offset} (as for {@link #answer})
     */
    void timeExceeded(final ByteBuffer buf, final int offset, final int present) {
        if (!IcmpError.mayAnswer(offender.wrap(buf, offset), buf, offset, hostMask)
            || !withinLimit(Counter.ICMP_TIME_EXCEEDED_SUPPRESSED)) {
            return;
        }
        final int source = offender.destination() & ~hostMask;
        writeToTun(headerLength
            + IcmpError.writeTimeExceeded(offender, buf, offset, present, out, headerLength, maxLength, source),
            Counter.ICMP_TIME_EXCEEDED_SENT);
    }

    /**
     * Answers a packet received from a peer whose TTL expired with a time exceeded sent to the peer that owns its
     * source, if an answer is due, such a peer exists and the rate limit allows it, and counts what happened. Sends at
     * once: nothing else may be queued on {@code udp}.
     *
     * @param buf the buffer holding the packet, as {@link PacketProcessor#udpToTun} left it (TTL unchanged)
     * @param offset the packet's absolute index
     * @param present the packet's length as {@link PacketProcessor#udpToTun} validated it (a GRO segment's, or the
     *     opened inner packet's): the quote never reaches the next segment or a sealed frame's tag
     * @param processor the loop's processor: the route to the source and this host's TUN address
     * @param udp the loop's UDP port, with nothing queued
     * @param sealing the loop's encryption step, or {@code null} when encryption is off
     */
    void timeExceededToPeer(final ByteBuffer buf, final int offset, final int present, final PacketProcessor processor,
                            final UdpPort udp, final LoopSealing sealing) {
        if (!IcmpError.mayAnswer(offender.wrap(buf, offset), buf, offset, hostMask)) {
            return;
        }
        final long peer = processor.route(offender.source());
        if (peer < 0 || !withinLimit(Counter.ICMP_TIME_EXCEEDED_SUPPRESSED)) {
            return; // no peer owns the source: nobody to answer, and no token spent
        }
        final int length = IcmpError.writeTimeExceeded(offender, buf, offset, present, out, headerLength, maxLength,
            processor.localAddress());
        if (sealing == null) {
            udp.queue(outAddress + headerLength, length, peer);
        } else {
            sealing.queue(udp, out, outAddress, headerLength, length, peer);
        }
        final int sent = udp.flushOwn();
        if (sealing != null) {
            sealing.flushed();
        }
        counters.add(Counter.ICMP_TIME_EXCEEDED_SENT, sent);
    }

    /** Takes a token of the rate limit; when there is none, counts the message as {@code suppressed} instead. */
    private boolean withinLimit(final Counter suppressed) {
        if (limit.tryAcquire(System.nanoTime())) {
            return true;
        }
        counters.add(suppressed, 1);
        return false;
    }

    private void writeToTun(final int length, final Counter sent) {
        try {
            if (tun.writeAddress(outAddress, 0, length) == length) {
                counters.add(sent, 1);
            }
        } catch (IOException e) {
            if (!errorLogged) {
                errorLogged = true;
                LOG.warn("TUN write (ICMP) failed (logged once per loop): {}", e.toString());
            }
        }
    }

    /**
     * Builds the answer without the rate limit or a write, for tests.
     *
     * @param buf the buffer holding the packet
     * @param offset the packet's absolute index
     * @param present bytes of the packet at {@code offset}
     * @return the answer's length without the device header, or 0 if none is due
     */
    int build(final ByteBuffer buf, final int offset, final int present) {
        if (!IcmpError.mayAnswer(offender.wrap(buf, offset), buf, offset, hostMask)) {
            return 0;
        }
        return IcmpError.write(offender, buf, offset, present, out, headerLength, maxLength);
    }

    /** The buffer answers are built in, after the device header, for tests. */
    ByteBuffer buffer() {
        return out;
    }
}
