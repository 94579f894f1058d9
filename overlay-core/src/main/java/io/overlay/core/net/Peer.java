package io.overlay.core.net;

/**
 * Where packets for a peer's subnet go on the underlay: the peer's PublicIP and UDP port. flannel's udp backend sends
 * to the lease's {@code PublicIP} and the local {@code Backend.Port} (all hosts use the same port;
 * {@code docs/flannel-compatibility.md#wire-format}).
 *
 * @param publicIp the peer's PublicIP, int form (see {@link Ipv4})
 * @param port the UDP port, 1..65535
 */
public record Peer(int publicIp, int port) {
    /**
     * Validates the port.
     *
     * @throws IllegalArgumentException if the port is outside 1..65535
     */
    public Peer {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("peer UDP port must be 1..65535, got " + port);
        }
    }

    /**
     * Packs the peer into one long, {@code publicIp << 16 | port}, the form {@link RouteTable#lookup} returns.
     *
     * @return the packed peer, never negative
     */
    public long packed() {
        return ((publicIp & 0xffffffffL) << 16) | port;
    }

    /**
     * Unpacks a value made by {@link #packed()}.
     *
     * @param packed the packed peer (not {@link RouteTable#NO_ROUTE})
     * @return the peer
     */
    public static Peer unpack(final long packed) {
        return new Peer((int) (packed >>> 16), (int) (packed & 0xffff));
    }

    /**
     * Returns the IPv4 part of a packed peer.
     *
     * @param packed a value from {@link #packed()}
     * @return the PublicIP, int form
     */
    public static int ipOf(final long packed) {
        return (int) (packed >>> 16);
    }

    /**
     * Returns the port part of a packed peer.
     *
     * @param packed a value from {@link #packed()}
     * @return the UDP port
     */
    public static int portOf(final long packed) {
        return (int) (packed & 0xffff);
    }

    @Override
    public String toString() {
        return Ipv4.format(publicIp) + ":" + port;
    }
}
