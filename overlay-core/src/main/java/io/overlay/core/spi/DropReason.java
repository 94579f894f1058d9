package io.overlay.core.spi;

/**
 * Why the packet engine dropped a packet. Every drop is counted under exactly one reason
 * ({@link TrafficCounters#drops(DropReason)}); nothing is dropped silently.
 */
public enum DropReason {
    /** Shorter than a 20-byte IPv4 header (either direction). */
    TOO_SHORT("shorter than an IPv4 header"),
    /** IP version is not 4 (e.g. an IPv6 router solicitation read from the TUN). */
    NOT_IPV4("not IPv4"),
    /** Header length field below 5 words or beyond the bytes read. */
    BAD_HEADER_LENGTH("bad IPv4 header length"),
    /** Total length field disagrees with the bytes read (truncated or padded packet). */
    BAD_TOTAL_LENGTH("IPv4 total length does not match the bytes read"),
    /**
     * The inner IPv4 header checksum does not verify (RFC 791). UDP → TUN: the kernel would drop the packet at
     * {@code ip_rcv} anyway, counting it in {@code InHdrErrors}. TUN → UDP: only a packet socket on the TUN writes
     * such a packet (the kernel's own always verify); it is not sent on.
     */
    BAD_HEADER_CHECKSUM("bad IPv4 header checksum"),
    /** A datagram larger than the receive buffer (TUN MTU): dropped whole, never truncated. */
    OVERSIZED("larger than the MTU"),
    /** TTL reached 0 on decrement (an ICMP time exceeded may have been sent to the source). */
    TTL_EXPIRED("TTL expired"),
    /** TUN → UDP: no peer owns the destination (an ICMP net unreachable may have been written back). */
    NO_ROUTE("no route to the destination subnet"),
    /** TUN → UDP: destination is outside the overlay Network (should not be routed to the TUN at all). */
    OUTSIDE_NETWORK("destination outside the overlay network"),
    /** UDP → TUN: the sender is not a known peer's PublicIP (when only known peers are accepted). */
    UNKNOWN_SENDER("sender is not a known peer"),
    /** UDP → TUN: the inner destination is not inside the local subnet. */
    FOREIGN_DESTINATION("destination outside the local subnet"),
    /**
     * UDP → TUN, in strict source mode only ({@link EngineSettings#strictSource()}): the inner source is not inside
     * the leased subnet of the peer whose PublicIP sent the datagram.
     */
    SPOOFED_SOURCE("inner source outside the sending peer's subnet"),
    /** The UDP send failed (e.g. no route on the underlay, socket buffer full). */
    SEND_FAILED("UDP send failed"),
    /** The TUN write failed or the device queue was full. */
    TUN_WRITE_FAILED("TUN write failed"),
    /**
     * A frame read from a TUN opened with {@code IFF_VNET_HDR} had a malformed {@code virtio_net_hdr} or a GSO
     * super-packet that cannot be segmented (bad offsets, unsupported GSO type, segment larger than the MTU...).
     */
    BAD_VNET_HEADER("malformed virtio_net_hdr or GSO super-packet"),
    /** TUN → UDP with encryption required: the peer advertises no key, so nothing is sent to it in clear text. */
    PEER_HAS_NO_KEY("encryption required but the peer advertises no key"),
    /**
     * UDP → TUN with encryption on: a clear-text datagram when encryption is required, or (preferred) from a sender
     * that advertises a key, which seals everything it sends.
     */
    CLEAR_TEXT_REFUSED("clear-text datagram refused (encryption required, or the sender has a key)"),
    /**
     * UDP → TUN with encryption on: a sealed datagram under a key this host does not hold (the sender's or this host's
     * old key pair, or a sender without a key in its lease). With encryption off a sealed datagram is {@link #NOT_IPV4}.
     */
    UNKNOWN_KEY("sealed under an unknown key"),
    /** UDP → TUN: a sealed datagram whose GCM tag did not verify, or too short to be one (modified, or another PSK). */
    TAMPERED("sealed datagram failed authentication"),
    /** UDP → TUN: a sealed datagram whose counter was seen already or is below the replay window. */
    REPLAYED("replayed or too old sealed datagram");

    private final String description;

    DropReason(final String description) {
        this.description = description;
    }

    /**
     * Returns a short human description.
     *
     * @return the description, e.g. "TTL expired"
     */
    public String description() {
        return description;
    }
}
