package io.overlay.core.spi;

/**
 * The packet engine's counters, each declared once with a description (the shape of Aeron's
 * {@code SystemCounterDescriptor}): an engine keeps one value per constant, {@code TrafficCounters} carries them, and
 * status pages and logs list them by {@link #name()} and {@link #description()}. Drops are counted separately, by
 * {@code DropReason}.
 *
 * <p>Packets and bytes count inner IPv4 packets (the UDP payload), not outer headers. Counters only grow; they are
 * cumulative since the engine started. Adding a constant here makes it appear everywhere counters are listed.
 */
public enum Counter {
    /** Inner packets read from the TUN and sent as UDP datagrams. */
    TUN_TO_UDP_PACKETS("packets read from the TUN and sent as UDP datagrams"),
    /** Bytes of {@link #TUN_TO_UDP_PACKETS}. */
    TUN_TO_UDP_BYTES("bytes of the packets sent as UDP datagrams"),
    /** Datagrams received and written to the TUN (a coalesced super-packet counts each of its segments). */
    UDP_TO_TUN_PACKETS("datagrams received and written to the TUN"),
    /** Bytes of {@link #UDP_TO_TUN_PACKETS}. */
    UDP_TO_TUN_BYTES("bytes of the datagrams written to the TUN"),
    /** ICMP destination-unreachable messages written back into the TUN for packets without a route. */
    ICMP_UNREACHABLE_SENT("ICMP net unreachable messages written to the TUN"),
    /**
     * ICMP destination-unreachable messages that were due but not sent because the rate limit was reached
     * (RFC 1812 §4.3.2.8); their packets still count as {@code NO_ROUTE} drops.
     */
    ICMP_UNREACHABLE_SUPPRESSED("ICMP net unreachable messages suppressed by the rate limit"),
    /**
     * ICMP time exceeded messages for packets whose TTL expired in the engine (RFC 1812 §5.3.1): written back into the
     * TUN for a packet read from it, sent to the source's peer for a packet received from one.
     */
    ICMP_TIME_EXCEEDED_SENT("ICMP time exceeded messages sent for packets whose TTL expired"),
    /**
     * ICMP time exceeded messages that were due but not sent because the rate limit was reached (shared with the
     * net unreachable ones); their packets still count as {@code TTL_EXPIRED} drops.
     */
    ICMP_TIME_EXCEEDED_SUPPRESSED("ICMP time exceeded messages suppressed by the rate limit"),
    /** GSO super-packets read from a TUN with a {@code virtio_net_hdr} and cut into MTU-sized packets. */
    TUN_SUPER_PACKETS("GSO super-packets read from the TUN and segmented"),
    /** Super-packets built from received TCP segments and written to the TUN (their segments count as packets). */
    TUN_COALESCED_FRAMES("coalesced TCP super-packets written to the TUN"),
    /**
     * Received packets written to a TUN with a {@code virtio_net_hdr} without being considered for coalescing (not
     * TCP data, SYN/RST/URG/CWR, IP options, bad checksum, ...).
     */
    COALESCER_PASSED_THROUGH("packets written to the TUN without coalescing"),
    /** Received TCP segments whose IPv4 or TCP checksum did not verify: passed through for the kernel to drop. */
    COALESCER_BAD_CHECKSUMS("TCP segments with a bad checksum, not coalesced"),
    /** Packets sealed (AES-256-GCM) for a peer with a key; counted when queued for sending. */
    SEALED_SENT("packets sealed for peers with a key"),
    /** Sealed datagrams that authenticated and were opened. */
    SEALED_RECEIVED("sealed datagrams opened"),
    /** With encryption preferred: packets sent in clear text to peers that advertise no key. */
    CLEAR_SENT("packets sent in clear text to peers without a key (encryption preferred)"),
    /** With encryption preferred: clear-text datagrams accepted. */
    CLEAR_RECEIVED("clear-text datagrams accepted (encryption preferred)");

    private final String description;

    Counter(final String description) {
        this.description = description;
    }

    /**
     * Returns a short human description.
     *
     * @return the description, e.g. "packets read from the TUN and sent as UDP datagrams"
     */
    public String description() {
        return description;
    }
}
