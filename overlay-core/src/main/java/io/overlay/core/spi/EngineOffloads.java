package io.overlay.core.spi;

/**
 * The offloads a running packet engine actually uses, after the TUN device, the engine's tuning and the kernel have
 * each had their say. None of them changes what goes on the wire: every datagram carries one inner IPv4 packet of at
 * most the MTU either way.
 *
 * @param tunVnetHeader the TUN hands over and takes {@code virtio_net_hdr} frames: TSO super-packets are segmented in
 *     software and received TCP segments are coalesced into super-packets for the TUN
 * @param udpGso runs of equal-size packets to one peer are sent as one UDP GSO message ({@code UDP_SEGMENT}); false
 *     also once the kernel refused a GSO send and a loop fell back to one datagram per packet
 * @param udpGro datagrams are received with UDP GRO ({@code UDP_GRO}) and split again
 */
public record EngineOffloads(boolean tunVnetHeader, boolean udpGso, boolean udpGro) {
    /** No offloads: an engine before start, or one that does not implement any. */
    public static final EngineOffloads NONE = new EngineOffloads(false, false, false);
}
