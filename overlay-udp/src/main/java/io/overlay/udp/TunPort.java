package io.overlay.udp;

import java.nio.ByteBuffer;

/**
 * The TUN queue as the loop sees it: batches of plain IPv4 packets in, single plain packets out, whatever the
 * device's framing (the boundary of wireguard-go's {@code tun.Device}: {@code Read(bufs, sizes, offset)} and
 * {@code Write(bufs, offset)} exchange packets "without any additional headers"). {@link PlainTunPort} serves a
 * plain TUN; {@link VnetTunPort} a TUN with a {@code virtio_net_hdr}, hiding segmentation and coalescing. A loop
 * picks one at construction; the call sites see one class per JVM in production.
 *
 * <p>Loop thread only. Nothing is allocated per packet; failures are counted or returned, never thrown.
 */
interface TunPort {
    /** {@link #read} result: stopped at the budget, or the queue is empty. */
    int DONE = 0;
    /** {@link #read} result: stopped early because the packet area is full; forward the batch, then read again. */
    int MORE = 1;
    /**
     * {@link #read} result: the last read failed (EIO while the link is down, or the device was deleted); the
     * packets read before it are in the batch. With {@code EPOLLERR} on the fd it means the device is gone.
     */
    int FAILED = -1;

    /**
     * Returns the batch {@link #read} fills; the same object for the port's life.
     *
     * @return the batch
     */
    PacketBatch batch();

    /**
     * Reads up to {@code budget} frames from the TUN into {@link #batch()} (cleared first).
     *
     * @param budget the most TUN reads with data, at least 1
     * @return {@link #DONE}, {@link #MORE} or {@link #FAILED}
     */
    int read(int budget);

    /**
     * Writes one IPv4 packet (received from a peer, checked, TTL decremented) towards the TUN: at once, or held for
     * coalescing until {@link #flush()}. Counts it as written or dropped. The packet's memory must stay unchanged
     * until the next {@link #flush()}: a coalescing port writes the payloads from where they are.
     *
     * @param buffer the buffer holding it
     * @param address the native address of {@code buffer}'s index 0
     * @param offset the packet's absolute index
     * @param length the packet's length in bytes
     */
    void write(ByteBuffer buffer, long address, int offset, int length);

    /** Writes whatever {@link #write} held back; called after every receive batch. */
    void flush();

    /**
     * Returns the bytes of device header before each packet, for the ICMP answers written directly.
     *
     * @return 0 for a plain TUN, 10 with a {@code virtio_net_hdr}
     */
    int headerLength();
}
