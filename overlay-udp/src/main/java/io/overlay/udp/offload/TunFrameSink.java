package io.overlay.udp.offload;

import java.nio.ByteBuffer;

/**
 * Receives frames ready to be written to a TUN opened with {@code IFF_VNET_HDR}: a 10-byte {@link VirtioNetHdr}
 * followed by one IPv4 packet. Implemented once by the packet engine (typically a {@code write} on the TUN fd) and
 * called on its loop thread; the bytes are valid only during the call.
 */
@FunctionalInterface
public interface TunFrameSink {
    /**
     * Takes one frame.
     *
     * @param buffer the buffer holding the frame (absolute indexes; position and limit are not meaningful)
     * @param offset index of the frame's first byte (the virtio header)
     * @param length the frame length in bytes: {@link VirtioNetHdr#LENGTH} + the IPv4 packet's total length
     */
    void frame(ByteBuffer buffer, int offset, int length);
}
