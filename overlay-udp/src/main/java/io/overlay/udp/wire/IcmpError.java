package io.overlay.udp.wire;

import java.nio.ByteBuffer;

/**
 * Builds the ICMP error messages the engine originates about an inner packet (RFC 792): Destination Unreachable,
 * code 0 (net unreachable), written back into the TUN when a packet read from it has no route ({@code tun_to_udp} in
 * flannel v0.20.2 {@code backend/udp/proxy_amd64.c}), and Time Exceeded, code 0 (TTL exceeded in transit), for a
 * packet whose TTL the engine cannot decrement (RFC 1812 §5.3.1; flannel drops it silently: "TODO: send back ICMP
 * Time Exceeded").
 *
 * <p>Layout: a 20-byte IPv4 header (identification and flags 0, protocol ICMP, destination = the offender's source),
 * then the ICMP type and code, checksum, 4 unused bytes, then the offender from its first byte (its IP header,
 * options included) for as much of it as fits in a message of at most {@link #MAX_LENGTH} = 576 bytes: RFC 1812
 * §4.3.2.3 (a router's error SHOULD carry as much of the original datagram as possible without exceeding 576 bytes),
 * as Linux's {@code icmp_send} ({@code net/ipv4/icmp.c}: room = min(route MTU, 576) - 20 - 8) quotes it. So up to 548
 * bytes, the whole offender when it is shorter, never past its total length nor past the bytes of it the caller holds
 * ({@code present}), and never less than its header and 8 bytes of payload (RFC 792's minimum, all flannel v0.20.2's
 * proxy quotes) when it has them. A caller may lower the 576 ({@code maxLength}: the MTU of the path back, as Linux
 * does). Both checksums are computed. TTL
 * 8 for the unreachable (flannel's: it only ever goes into the local TUN), 64 for the time exceeded (Linux's
 * {@code net.ipv4.ip_default_ttl}: it may cross the overlay back to the sender, two more forwarding hops or four).
 * TOS 0 for the unreachable (flannel's), precedence 6 and the offender's TOS bits for the time exceeded (RFC 1812
 * §4.3.2.5, as Linux answers; {@code 0xd8} for an offender's {@code 0xb8}).
 *
 * <p><b>Source address (differs from flannel).</b> flannel uses flannel0's own address (the local subnet's network
 * address). That address is local to the host, so Linux drops the injected message as a martian ("local source"
 * unless {@code accept_local} is set on the TUN) and the sender never sees it. The unreachable therefore comes from
 * the offender's <em>destination</em>: the kernel routed that address into the TUN, so it is never a local address,
 * and the reverse path of the reply points back into the TUN, so strict {@code rp_filter} passes too. {@code ping}
 * then prints {@code From <dst> icmp_seq=1 Destination Net Unreachable}. The source of a time exceeded is the
 * caller's choice ({@link #writeTimeExceeded}). A namespace test checks that each arrives.
 *
 * <p><b>When one is sent.</b> Like flannel: never for a non-first fragment. Unlike flannel, which skips every ICMP
 * packet, only ICMP <em>error</em> messages (types 3, 4, 5, 11, 12) are exempt, as RFC 1122 §3.2.2 requires, so
 * an echo request (ping) gets an answer. Also never about a datagram whose source is not a single host (0.0.0.0,
 * loopback 127/8, multicast, class E, limited broadcast) or whose destination is a multicast or broadcast address
 * (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7). Besides 255.255.255.255 a broadcast address here is any address whose host
 * part for the network config's {@code SubnetLen} is all ones ({@code 100.64.5.255} with SubnetLen 24, which is also
 * the Network's own broadcast address {@code 100.64.255.255} of a /16): the engine does not know the prefix of a
 * subnet it has no route for, and every lease is a SubnetLen subnet (flannel v0.28.9 {@code pkg/subnet/config.go}).
 * Answering one would source the message from that broadcast address.
 *
 * <p>Internal to the engine: public for the benchmarks, not a supported API.
 */
public final class IcmpError {
    /** ICMP type Destination Unreachable. */
    public static final int TYPE_DESTINATION_UNREACHABLE = 3;
    /** ICMP code net unreachable. */
    public static final int CODE_NET_UNREACHABLE = 0;
    /** ICMP type Time Exceeded. */
    public static final int TYPE_TIME_EXCEEDED = 11;
    /** ICMP code TTL exceeded in transit. */
    public static final int CODE_TTL_EXCEEDED = 0;
    /** TTL of a net unreachable (flannel uses 8). */
    public static final int TTL = 8;
    /** TTL of a time exceeded: Linux's {@code net.ipv4.ip_default_ttl}. */
    public static final int TIME_EXCEEDED_TTL = 64;
    /** IP precedence 6, INTERNETWORK CONTROL, in the TOS byte ({@code IPTOS_PREC_INTERNETCONTROL}). */
    static final int PRECEDENCE_INTERNETWORK_CONTROL = 0xc0;
    /** RFC 1349's four TOS bits in the TOS byte, Linux's {@code IPTOS_TOS_MASK}: the precedence excluded. */
    static final int TOS_BITS = 0x1e;
    /** Bytes of the offender's payload always quoted after its header when it has them (RFC 792's minimum). */
    public static final int QUOTED_PAYLOAD = 8;
    /** Bytes before the quote: the message's IPv4 header (20, no options) and the ICMP header (8). */
    public static final int HEADERS = Ipv4Header.MIN_LENGTH + 8;
    /**
     * Largest message built, in bytes: 576, the limit of RFC 1812 §4.3.2.3 and of Linux's {@code icmp_send}; a quote
     * of up to 548 bytes. The RFC 792 minimum (a 60-byte header with options and 8 bytes: 96) fits well within it.
     */
    public static final int MAX_LENGTH = 576;

    private IcmpError() {
    }

    /**
     * Returns whether an ICMP error may be sent about the packet, knowing no subnet broadcast address
     * (see the class comment for the rules).
     *
     * @param offender a validated packet (see {@link Ipv4Header#validate}), wrapped at its first byte
     * @param buffer the buffer holding it
     * @param offset absolute index of its first byte
     * @return {@code true} if an ICMP error may be generated for it
     */
    public static boolean mayAnswer(final Ipv4Header offender, final ByteBuffer buffer, final int offset) {
        return mayAnswer(offender, buffer, offset, 0);
    }

    /**
     * Returns whether an ICMP error may be sent about the packet (see the class comment for the rules).
     *
     * @param offender a validated packet (see {@link Ipv4Header#validate}), wrapped at its first byte
     * @param buffer the buffer holding it
     * @param offset absolute index of its first byte
     * @param hostMask the host bits of a SubnetLen subnet ({@code 0xff} for /24; 0 for /32): an address with all of
     *     them set is a subnet's broadcast address
     * @return {@code true} if an ICMP error may be generated for it
     */
    public static boolean mayAnswer(final Ipv4Header offender, final ByteBuffer buffer, final int offset,
                                    final int hostMask) {
        if (offender.fragmentOffset() != 0) {
            return false;
        }
        final int src = offender.source();
        final int dst = offender.destination();
        if (src == 0 || (src >>> 24) == 127 || (src >>> 28) >= 0xe || (dst >>> 28) >= 0xe) {
            return false; // unspecified or loopback source, multicast (class D), class E and 255.255.255.255
        }
        if (hostMask != 0 && ((src & hostMask) == hostMask || (dst & hostMask) == hostMask)) {
            return false; // a subnet's broadcast address
        }
        if (offender.protocol() == Ipv4Header.PROTOCOL_ICMP) {
            final int headerLength = offender.headerLength();
            if (offender.totalLength() <= headerLength) {
                return false;
            }
            final int type = buffer.get(offset + headerLength) & 0xff;
            return !(type == 3 || type == 4 || type == 5 || type == 11 || type == 12);
        }
        return true;
    }

    /**
     * Writes the ICMP net-unreachable message about {@code offender} into {@code out}, from the offender's destination.
     *
     * @param offender a validated packet, wrapped at {@code offset} of {@code in}
     * @param in the buffer holding the offender
     * @param offset absolute index of the offender's first byte
     * @param present bytes of the offender held contiguously from {@code offset} (its length, or less for a packet
     *     whose payload lies elsewhere or that was truncated): no byte past them is read
     * @param out where to build the message (big-endian order), at least {@code maxLength} bytes from {@code at}
     * @param at absolute index in {@code out} of the message's first byte
     * @param maxLength the longest message wanted, at most {@link #MAX_LENGTH}: the quote is cut to fit it, but never
     *     below the offender's header and 8 bytes of payload
     * @return the message length in bytes (36..{@code max(maxLength, 96)})
     */
    public static int write(final Ipv4Header offender, final ByteBuffer in, final int offset, final int present,
                            final ByteBuffer out, final int at, final int maxLength) {
        return write(offender, in, offset, present, out, at, maxLength, TYPE_DESTINATION_UNREACHABLE,
            CODE_NET_UNREACHABLE, offender.destination(), TTL, 0);
    }

    /**
     * Writes the ICMP time-exceeded message (TTL exceeded in transit) about {@code offender} into {@code out}, with
     * precedence 6 (INTERNETWORK CONTROL, RFC 1812 §4.3.2.5) and the offender's TOS bits, as Linux's
     * {@code icmp_send} sends it ({@code RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL}, {@code net/ipv4/icmp.c}).
     *
     * @param offender a validated packet, wrapped at {@code offset} of {@code in}, its TTL as it arrived
     * @param in the buffer holding the offender
     * @param offset absolute index of the offender's first byte
     * @param present bytes of the offender held contiguously from {@code offset}: no byte past them is read
     * @param out where to build the message (big-endian order), at least {@code maxLength} bytes from {@code at}
     * @param at absolute index in {@code out} of the message's first byte
     * @param maxLength the longest message wanted, at most {@link #MAX_LENGTH}: the quote is cut to fit it, but never
     *     below the offender's header and 8 bytes of payload
     * @param source the message's source address, int form: one the offender's sender does not hold itself
     * @return the message length in bytes (36..{@code max(maxLength, 96)})
     */
    public static int writeTimeExceeded(final Ipv4Header offender, final ByteBuffer in, final int offset,
                                        final int present, final ByteBuffer out, final int at, final int maxLength,
                                        final int source) {
        return write(offender, in, offset, present, out, at, maxLength, TYPE_TIME_EXCEEDED, CODE_TTL_EXCEEDED, source,
            TIME_EXCEEDED_TTL, PRECEDENCE_INTERNETWORK_CONTROL | offender.tos() & TOS_BITS);
    }

    /**
     * Returns how many bytes of the offender a message quotes: as many as fit in {@code maxLength} (RFC 1812
     * §4.3.2.3), at least its header and {@link #QUOTED_PAYLOAD} bytes (RFC 792), at most its total length and the
     * bytes present.
     *
     * @param headerLength the offender's header length in bytes
     * @param totalLength the offender's total length in bytes
     * @param present bytes of the offender held from its first byte
     * @param maxLength the longest message wanted, at most {@link #MAX_LENGTH}
     * @return bytes to quote, 0..548 (more only for a {@code maxLength} above {@link #MAX_LENGTH})
     */
    static int quoteLength(final int headerLength, final int totalLength, final int present, final int maxLength) {
        final int room = Math.max(Math.min(maxLength, MAX_LENGTH) - HEADERS, headerLength + QUOTED_PAYLOAD);
        return Math.max(0, Math.min(room, Math.min(totalLength, present)));
    }

    private static int write(final Ipv4Header offender, final ByteBuffer in, final int offset, final int present,
                             final ByteBuffer out, final int at, final int maxLength, final int type, final int code,
                             final int source, final int ttl, final int tos) {
        final int quoted = quoteLength(offender.headerLength(), offender.totalLength(), present, maxLength);
        final int icmpLength = 8 + quoted;
        final int length = Ipv4Header.MIN_LENGTH + icmpLength;
        final int destination = offender.source();
        // IPv4 header
        out.put(at, (byte) 0x45);
        out.put(at + Ipv4Header.TOS_OFFSET, (byte) tos);
        out.putShort(at + Ipv4Header.TOTAL_LENGTH_OFFSET, (short) length);
        out.putInt(at + Ipv4Header.IDENTIFICATION_OFFSET, 0); // identification, flags, fragment offset
        out.put(at + Ipv4Header.TTL_OFFSET, (byte) ttl);
        out.put(at + Ipv4Header.PROTOCOL_OFFSET, (byte) Ipv4Header.PROTOCOL_ICMP);
        out.putShort(at + Ipv4Header.CHECKSUM_OFFSET, (short) 0);
        out.putInt(at + Ipv4Header.SOURCE_OFFSET, source);
        out.putInt(at + Ipv4Header.DESTINATION_OFFSET, destination);
        out.putShort(at + Ipv4Header.CHECKSUM_OFFSET,
            (short) InetChecksum.ipv4Header(out, at, Ipv4Header.MIN_LENGTH));
        // ICMP header: type, code, checksum, unused
        final int icmp = at + Ipv4Header.MIN_LENGTH;
        out.put(icmp, (byte) type);
        out.put(icmp + 1, (byte) code);
        out.putShort(icmp + 2, (short) 0);
        out.putInt(icmp + 4, 0);
        out.put(icmp + 8, in, offset, quoted); // bulk copy: no per-byte loop over up to 548 bytes
        out.putShort(icmp + 2, (short) InetChecksum.checksum(out, icmp, icmpLength));
        return length;
    }
}
