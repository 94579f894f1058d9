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
 * Answers a packet that {@link PacketProcessor#tunToUdp} found {@link PacketProcessor#NO_ROUTE no route} for with an
 * ICMP net unreachable written back into the TUN ({@link IcmpError}: only where RFC 1812 §4.3.2.7 allows one),
 * rate-limited like Linux by an {@link IcmpRateLimiter} (1000/s, burst 50; RFC 1812 §4.3.2.8). A due message the
 * limit refuses is counted as {@link Counter#ICMP_UNREACHABLE_SUPPRESSED}. The clock is read only here.
 *
 * <p>The answer is built in its own buffer behind the TUN's device header, which for a TUN with a
 * {@code virtio_net_hdr} is written once, explicitly, as all zero (no offload). Loop thread only; nothing allocated.
 */
final class IcmpResponder {
    private static final Logger LOG = LoggerFactory.getLogger(IcmpResponder.class);

    private final FileDescriptor tun;
    private final int headerLength;
    private final LoopCounters counters;
    private final IcmpRateLimiter limit;
    private final int hostMask;
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
     * @param nowNanos the current {@link System#nanoTime()}: the rate limit starts full
     */
    IcmpResponder(final FileDescriptor tun, final int headerLength, final LoopCounters counters,
                  final int subnetLength, final long nowNanos) {
        this.tun = tun;
        this.hostMask = subnetLength >= 32 ? 0 : -1 >>> subnetLength;
        this.headerLength = headerLength;
        this.counters = counters;
        this.limit = new IcmpRateLimiter(nowNanos);
        this.out = ByteBuffer.allocateDirect(headerLength + IcmpError.MAX_LENGTH).order(ByteOrder.BIG_ENDIAN);
        this.outAddress = Buffer.memoryAddress(out);
        if (headerLength > 0) {
            new VirtioNetHdr().wrap(out, 0).clear(); // GSO_NONE, no checksum offload
        }
    }

    /**
     * Answers the packet, if an answer is due and the rate limit allows it, and counts what happened.
     *
     * @param buf the buffer holding the packet, as {@link PacketProcessor#tunToUdp} left it
     * @param offset the packet's absolute index
     */
    void answer(final ByteBuffer buf, final int offset) {
        if (!IcmpError.mayAnswer(offender.wrap(buf, offset), buf, offset, hostMask)) {
            return;
        }
        if (!limit.tryAcquire(System.nanoTime())) {
            counters.add(Counter.ICMP_UNREACHABLE_SUPPRESSED, 1);
            return;
        }
        final int length = headerLength + IcmpError.write(offender, buf, offset, out, headerLength);
        try {
            if (tun.writeAddress(outAddress, 0, length) == length) {
                counters.add(Counter.ICMP_UNREACHABLE_SENT, 1);
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
     * @return the answer's length without the device header, or 0 if none is due
     */
    int build(final ByteBuffer buf, final int offset) {
        if (!IcmpError.mayAnswer(offender.wrap(buf, offset), buf, offset, hostMask)) {
            return 0;
        }
        return IcmpError.write(offender, buf, offset, out, headerLength);
    }

    /** The buffer answers are built in, after the device header, for tests. */
    ByteBuffer buffer() {
        return out;
    }
}
