package io.overlay.udp.offload;

/**
 * The outcome of checking or segmenting one TUN frame ({@code virtio_net_hdr} + IPv4 packet). {@link #OK} means the
 * frame was accepted; every other value names why it was refused, so the packet engine can drop the frame and count it
 * under that reason. Returned as enum constants, never thrown: no allocation on the packet path.
 */
public enum OffloadVerdict {
    /** The frame is well formed and was handled. */
    OK("ok"),
    /** The frame is shorter than the 10-byte {@code virtio_net_hdr}. */
    FRAME_TOO_SHORT("frame shorter than the virtio_net_hdr"),
    /** {@code flags} has bits other than NEEDS_CSUM (1) and DATA_VALID (2) (e.g. RSC_INFO, UDP_TUNNEL_CSUM). */
    UNKNOWN_FLAGS("unknown virtio_net_hdr flags"),
    /** {@code gso_type} is not one of NONE, TCPV4, UDP, TCPV6, UDP_L4 (with ECN/ACCECN only on TCP types). */
    UNKNOWN_GSO_TYPE("unknown virtio_net_hdr gso_type"),
    /** {@code gso_type} is known but not handled here: TCPV6, UDP (UFO, fragments), or UDP_L4 over IPv6. */
    UNSUPPORTED_GSO_TYPE("unsupported gso_type (only TCPV4 and IPv4 UDP_L4 are segmented)"),
    /** A GSO type with {@code gso_size} 0 (the kernel rejects it too: virtio_net_hdr_to_skb). */
    ZERO_GSO_SIZE("gso_size 0 with a GSO type"),
    /** {@code hdr_len} is larger than the packet (tun_get_user rejects it). */
    BAD_HDR_LEN("hdr_len beyond the packet"),
    /** NEEDS_CSUM with {@code csum_start}/{@code csum_offset} outside the packet or before the transport header. */
    BAD_CSUM_OFFSETS("csum_start/csum_offset outside the packet"),
    /** The packet is larger than 65535 bytes, the largest IPv4 total length. */
    PACKET_TOO_LARGE("super-packet larger than 65535 bytes"),
    /** The packet is not a well-formed IPv4 packet (version, IHL, total length, fragment, header checksum). */
    BAD_IPV4("malformed IPv4 packet"),
    /** The IPv4 protocol or transport header does not match the GSO type, or the transport header is truncated. */
    BAD_TRANSPORT("transport header missing, truncated or not matching the gso_type"),
    /** One segment (IPv4 header + transport header + gso_size) would be larger than the MTU. */
    SEGMENT_EXCEEDS_MTU("segment larger than the MTU"),
    /** The packet would need more segments than the output batch has slots. */
    TOO_MANY_SEGMENTS("more segments than the output batch holds");

    private final String description;

    OffloadVerdict(final String description) {
        this.description = description;
    }

    /**
     * Returns a short human description, for logs and counter names.
     *
     * @return the description
     */
    public String description() {
        return description;
    }
}
