package io.overlay.udp.offload;

import java.nio.ByteBuffer;

/**
 * Receives frames ready to be written to a TUN opened with {@code IFF_VNET_HDR}: a 10-byte {@link VirtioNetHdr}
 * followed by one IPv4 packet, with what the frame stands for on the wire, so that the sink counts without parsing
 * the frame again. Implemented once by the packet engine (a {@code write} on the TUN fd) and called on its loop
 * thread; the bytes are valid only during the call.
 */
@FunctionalInterface
public interface TunFrameSink {
    /**
     * Takes one frame.
     *
     * @param buffer the buffer holding the frame (absolute indexes; position and limit are not meaningful)
     * @param offset index of the frame's first byte (the virtio header)
     * @param length the frame length in bytes: {@link VirtioNetHdr#LENGTH} + the IPv4 packet's total length
     * @param packets the received packets the frame carries: 1, or the segments of a coalesced super-packet
     * @param packetBytes the bytes of those packets as received (each with its own headers)
     */
    void frame(ByteBuffer buffer, int offset, int length, int packets, int packetBytes);
}
