package io.overlay.udp;

import io.overlay.core.net.Ipv4Prefix;

/**
 * What one {@link ForwardingLoop} forwards and how, resolved by the engine from its settings, the TUN device and the
 * kernel's answers.
 *
 * @param network the overlay Network: TUN packets to destinations outside it are dropped
 * @param localSubnet this host's subnet: datagrams for destinations outside it are dropped ({@code null}: all)
 * @param mtu the TUN MTU in bytes: the largest inner packet accepted in either direction
 * @param acceptOnlyKnownPeers whether datagrams from senders that are not a known peer's PublicIP are dropped
 * @param vnetHeaderLength 10 if the TUN was opened with {@code IFF_VNET_HDR} (offloads), else 0
 * @param batchSize packets per batch
 * @param udpGso whether to send runs of equal-size packets with UDP GSO (the kernel supports it)
 * @param udpGro whether {@code UDP_GRO} is on for the socket
 * @param strictSource whether a datagram's inner source must lie in the sending peer's subnet
 */
record LoopConfig(Ipv4Prefix network, Ipv4Prefix localSubnet, int mtu, boolean acceptOnlyKnownPeers,
                  int vnetHeaderLength, int batchSize, boolean udpGso, boolean udpGro, boolean strictSource) {
    /**
     * Checks what the loop relies on.
     *
     * @throws IllegalArgumentException if {@code vnetHeaderLength} is neither 0 nor 10, or {@code batchSize} &lt; 1
     */
    LoopConfig {
        if (vnetHeaderLength != 0 && vnetHeaderLength != io.overlay.udp.offload.VirtioNetHdr.LENGTH) {
            throw new IllegalArgumentException("vnet header length must be 0 or "
                + io.overlay.udp.offload.VirtioNetHdr.LENGTH + " (struct virtio_net_hdr), got " + vnetHeaderLength);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
    }

    /** A config without strict source mode. */
    LoopConfig(final Ipv4Prefix network, final Ipv4Prefix localSubnet, final int mtu,
               final boolean acceptOnlyKnownPeers, final int vnetHeaderLength, final int batchSize,
               final boolean udpGso, final boolean udpGro) {
        this(network, localSubnet, mtu, acceptOnlyKnownPeers, vnetHeaderLength, batchSize, udpGso, udpGro, false);
    }
}
