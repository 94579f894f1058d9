package io.overlay.udp;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.DropReason;
import io.overlay.udp.wire.Ipv4Header;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * The per-packet decisions of the engine, free of I/O: what {@link ForwardingLoop} does to each inner IPv4 packet
 * between reading it and writing it (the checks of {@code tun_to_udp}/{@code udp_to_tun} in flannel v0.20.2
 * {@code backend/udp/proxy_amd64.c}, made stricter).
 *
 * <p><b>TUN → UDP</b> ({@link #tunToUdp}): validate the packet ({@link Ipv4Header#validate}, at most the MTU) and its
 * header checksum (the kernel's own packets always verify, but a packet socket on the TUN, {@code AF_PACKET} with
 * {@code CAP_NET_RAW}, writes any bytes, and the wire must carry only well-formed packets), drop a destination
 * outside the overlay Network, look it up in the {@link RouteTable} (no route: {@link #NO_ROUTE}, for
 * the caller's {@link IcmpResponder}), drop TTL ≤ 1 ({@link #TTL_EXCEEDED}, for the same), else decrement the TTL in
 * place with an RFC 1624 incremental checksum patch. Returns the peer ({@link Peer#packed() packed} IP and port) to
 * send the packet to.
 *
 * <p><b>UDP → TUN</b> ({@link #udpToTun}): drop a sender that is not a known peer's PublicIP (when
 * {@code acceptOnlyKnownPeers}), a malformed or larger-than-MTU packet (a truncated datagram included), a header whose
 * checksum does not verify (the kernel would drop it too), a destination outside the local subnet, in strict source
 * mode an inner source outside the sending peer's subnet (one more route lookup), TTL ≤ 1 ({@link #TTL_EXCEEDED},
 * for the caller's {@link IcmpResponder}); else decrement the TTL in place ({@link #DELIVER}). Both directions
 * answer with a result code, so the caller's next step never depends on state left behind by an earlier call.
 *
 * <p>Every drop is counted by {@link DropReason} ({@link #drops}). Nothing is allocated and no lock taken per packet;
 * buffers are read and patched at absolute indexes in big-endian order (position, limit and byte order are ignored; a
 * buffer must be {@link java.nio.ByteOrder#BIG_ENDIAN}, the default). Not thread-safe: one instance per event loop,
 * used by that loop's thread only ({@link #drops} may be read from any thread).
 *
 * <p>Internal to the engine: public for the benchmarks, not a supported API.
 */
public final class PacketProcessor {
    /** {@link #udpToTun} result: the packet is to be written to the TUN (its TTL decremented). */
    public static final long DELIVER = 0;
    /** {@link #tunToUdp} and {@link #udpToTun} result: the packet is dropped (counted). */
    public static final long DROP = -1;
    /** {@link #tunToUdp} result: dropped for {@link DropReason#NO_ROUTE} (counted); an ICMP answer may be due. */
    public static final long NO_ROUTE = -2;
    /**
     * {@link #tunToUdp} and {@link #udpToTun} result: dropped for {@link DropReason#TTL_EXPIRED} (counted; the packet
     * is unchanged, to be quoted); an ICMP time exceeded may be due.
     */
    public static final long TTL_EXCEEDED = -3;

    private final RouteTable routes;
    private final int networkAddress;
    private final int networkMask;
    private final int mtu;
    private final boolean acceptOnlyKnownPeers;
    private final boolean strictSource;
    private final LoopCounters counters;
    private final Ipv4Header header = new Ipv4Header();
    private int localAddress;
    private int localMask;

    /**
     * Creates a processor with its own counters.
     *
     * @param routes the route table (read lock-free per packet)
     * @param network the overlay Network: TUN packets to destinations outside it are dropped
     * @param localSubnet this host's subnet: datagrams for destinations outside it are dropped ({@code null}: all)
     * @param mtu the TUN MTU in bytes (68..65535): the largest inner packet accepted in either direction
     * @param acceptOnlyKnownPeers whether datagrams from senders that are not a known peer's PublicIP are dropped
     * @throws NullPointerException if {@code routes} or {@code network} is null
     * @throws IllegalArgumentException if {@code mtu} is outside 68..65535
     */
    public PacketProcessor(final RouteTable routes, final Ipv4Prefix network, final Ipv4Prefix localSubnet,
                           final int mtu, final boolean acceptOnlyKnownPeers) {
        this(routes, network, localSubnet, mtu, acceptOnlyKnownPeers, new LoopCounters());
    }

    /**
     * Creates a processor with its own counters, optionally in strict source mode.
     *
     * @param routes the route table (read lock-free per packet)
     * @param network the overlay Network: TUN packets to destinations outside it are dropped
     * @param localSubnet this host's subnet: datagrams for destinations outside it are dropped ({@code null}: all)
     * @param mtu the TUN MTU in bytes (68..65535): the largest inner packet accepted in either direction
     * @param acceptOnlyKnownPeers whether datagrams from senders that are not a known peer's PublicIP are dropped
     * @param strictSource whether a datagram whose inner source is not in the sending peer's subnet is dropped
     *     ({@link DropReason#SPOOFED_SOURCE}; see {@link io.overlay.core.spi.EngineSettings#strictSource()})
     * @throws NullPointerException if {@code routes} or {@code network} is null
     * @throws IllegalArgumentException if {@code mtu} is outside 68..65535
     */
    public PacketProcessor(final RouteTable routes, final Ipv4Prefix network, final Ipv4Prefix localSubnet,
                           final int mtu, final boolean acceptOnlyKnownPeers, final boolean strictSource) {
        this(routes, network, localSubnet, mtu, acceptOnlyKnownPeers, strictSource, new LoopCounters());
    }

    PacketProcessor(final RouteTable routes, final Ipv4Prefix network, final Ipv4Prefix localSubnet, final int mtu,
                    final boolean acceptOnlyKnownPeers, final LoopCounters counters) {
        this(routes, network, localSubnet, mtu, acceptOnlyKnownPeers, false, counters);
    }

    PacketProcessor(final RouteTable routes, final Ipv4Prefix network, final Ipv4Prefix localSubnet, final int mtu,
                    final boolean acceptOnlyKnownPeers, final boolean strictSource, final LoopCounters counters) {
        this.routes = Objects.requireNonNull(routes, "routes");
        Objects.requireNonNull(network, "network");
        Ipv4.checkMtu("mtu", mtu);
        this.networkAddress = network.address();
        this.networkMask = network.mask();
        this.mtu = mtu;
        this.acceptOnlyKnownPeers = acceptOnlyKnownPeers;
        this.strictSource = strictSource;
        this.counters = Objects.requireNonNull(counters, "counters");
        onLocalSubnet(localSubnet);
    }

    /**
     * Sets the local subnet: datagrams are accepted only for destinations inside it. {@code null} (the lease was
     * lost) accepts none: every datagram is then dropped as {@link DropReason#FOREIGN_DESTINATION}, with no extra
     * per-packet test (mask 0 and address 1 never match).
     *
     * @param subnet the new local subnet, or {@code null} for none
     */
    public void onLocalSubnet(final Ipv4Prefix subnet) {
        this.localAddress = subnet == null ? 1 : subnet.address();
        this.localMask = subnet == null ? 0 : subnet.mask();
    }

    /**
     * Returns the MTU this processor enforces.
     *
     * @return the TUN MTU in bytes
     */
    public int mtu() {
        return mtu;
    }

    /**
     * Decides the fate of one packet read from the TUN: validates it, routes it and decrements its TTL in place.
     *
     * @param buf the buffer holding the packet (big-endian)
     * @param offset absolute index of the packet's first byte
     * @param length the packet's length in bytes (as read)
     * @return the peer to send it to (≥ 0), packed as by {@link Peer#packed()}; {@link #NO_ROUTE} if no peer owns the
     *     destination, {@link #TTL_EXCEEDED} if its TTL is 1 or 0 (in both cases the packet is unchanged); {@link #DROP}
     *     if it is dropped for another reason
     */
    public long tunToUdp(final ByteBuffer buf, final int offset, final int length) {
        header.wrap(buf, offset);
        final DropReason invalid = header.validate(length, mtu);
        if (invalid != null) {
            counters.drop(invalid);
            return DROP;
        }
        if (!header.checksumValid()) {
            counters.drop(DropReason.BAD_HEADER_CHECKSUM);
            return DROP;
        }
        final int destination = header.destination();
        if ((destination & networkMask) != networkAddress) {
            counters.drop(DropReason.OUTSIDE_NETWORK);
            return DROP;
        }
        final long peer = routes.lookup(destination);
        if (peer < 0) {
            counters.drop(DropReason.NO_ROUTE);
            return NO_ROUTE;
        }
        if (header.ttl() <= 1) {
            counters.drop(DropReason.TTL_EXPIRED);
            return TTL_EXCEEDED;
        }
        header.decrementTtl();
        return peer;
    }

    /**
     * Decides the fate of one packet received as a UDP datagram: checks the sender, validates the packet and its
     * destination and decrements its TTL in place.
     *
     * @param buf the buffer holding the datagram's payload (big-endian)
     * @param offset absolute index of the payload's first byte
     * @param length the payload's length in bytes; may exceed the bytes present (a datagram the kernel truncated,
     *     {@link UdpPort#TRUNCATED}): it is then dropped as {@link DropReason#OVERSIZED} before any byte is read
     * @param senderIp the datagram's source IPv4 address (as an int, network order value)
     * @return {@link #DELIVER} if the packet is to be written to the TUN; {@link #TTL_EXCEEDED} if its TTL is 1 or 0
     *     (the packet is unchanged); {@link #DROP} if it is dropped for another reason
     */
    public long udpToTun(final ByteBuffer buf, final int offset, final int length, final int senderIp) {
        if (acceptOnlyKnownPeers && !routes.hasPeer(senderIp)) {
            counters.drop(DropReason.UNKNOWN_SENDER);
            return DROP;
        }
        header.wrap(buf, offset);
        final DropReason invalid = header.validate(length, mtu);
        if (invalid != null) {
            counters.drop(invalid);
            return DROP;
        }
        if (!header.checksumValid()) {
            counters.drop(DropReason.BAD_HEADER_CHECKSUM);
            return DROP;
        }
        if ((header.destination() & localMask) != localAddress) {
            counters.drop(DropReason.FOREIGN_DESTINATION);
            return DROP;
        }
        if (strictSource) {
            final long owner = routes.lookup(header.source());
            if (owner < 0 || Peer.ipOf(owner) != senderIp) {
                counters.drop(DropReason.SPOOFED_SOURCE);
                return DROP;
            }
        }
        if (header.ttl() <= 1) {
            counters.drop(DropReason.TTL_EXPIRED);
            return TTL_EXCEEDED;
        }
        header.decrementTtl();
        return DELIVER;
    }

    /**
     * Returns the local subnet's network address: this host's TUN address, as flannel assigns it (the source of the
     * messages the engine originates for its host).
     *
     * @return the address, int form; 1 (no subnet's) while there is none
     */
    int localAddress() {
        return localAddress;
    }

    /**
     * Looks up the peer that owns {@code address}, as for a packet read from the TUN.
     *
     * @param address an IPv4 address, int form
     * @return the peer, packed as by {@link Peer#packed()}, or a negative value if none owns it
     */
    long route(final int address) {
        return routes.lookup(address);
    }

    /**
     * Returns how many packets were dropped for {@code reason} (by this processor and, when shared, its loop).
     * Any thread.
     *
     * @param reason the reason
     * @return the drop count
     */
    public long drops(final DropReason reason) {
        return counters.drops(reason);
    }

    /** The counters this processor writes (shared with its loop). */
    LoopCounters counters() {
        return counters;
    }
}
