package io.overlay.core.spi;

import java.io.Closeable;
import java.io.IOException;
import java.util.List;

/**
 * A Linux TUN device opened {@code IFF_TUN|IFF_NO_PI}: every read yields one raw IP packet and every write injects one.
 * Implemented by {@code overlay-tun}; read and written by the packet engine ({@code overlay-udp}) through the raw,
 * non-blocking file descriptors, which it registers on its own event loop.
 *
 * <p>With {@code IFF_MULTI_QUEUE} a device has several queues, each its own file descriptor; the kernel spreads flows
 * over them. Closing the device releases the descriptors and everything {@link #configure} set up; a non-persistent
 * device disappears with its address and routes.
 */
public interface TunDevice extends Closeable {
    /**
     * Returns the interface name the kernel gave the device (a template such as {@code flannel%d} resolved, e.g.
     * {@code flannel0}).
     *
     * @return the interface name, at most 15 bytes
     */
    String name();

    /**
     * Returns the number of queues (file descriptors) of this device.
     *
     * @return 1 for a single-queue device, N for a multi-queue device opened with N queues
     */
    int queueCount();

    /**
     * Returns the raw, non-blocking, close-on-exec file descriptor of queue {@code queue}. The device owns it: callers
     * must not close it.
     *
     * @param queue 0..queueCount()-1
     * @return the file descriptor number
     * @throws IndexOutOfBoundsException if there is no such queue
     */
    int fileDescriptor(int queue);

    /**
     * Configures the device the way flannel configures {@code flannel0} ({@code configureIface} in flannel
     * v0.28.9 {@code pkg/backend/udp/udp_network_amd64.go}): address, MTU, link up, then routes; plus the transmit
     * queue length unless {@link TunSetup#txQueueLength()} is 0 (an overlay setting; flanneld leaves the kernel's 500).
     * Routes that already exist are tolerated. May be called again after a subnet change; the old address is then
     * replaced.
     *
     * @param setup the address, MTU, routes and transmit queue length
     * @throws IOException if the kernel refuses a step; the message names the step and the device
     */
    void configure(TunSetup setup) throws IOException;

    /**
     * Compares the device with what {@link #configure} set up, for the overlay's periodic re-check of the host: other
     * software (NetworkManager, {@code systemctl restart networking}, an administrator, {@code ip route flush}) may
     * take the link down (which also drops its routes), remove the address or the route, or change the MTU. Only
     * reads the kernel's state; {@link #configure} with the same setup puts it back. The default knows nothing and
     * reports no difference.
     *
     * @param setup what the device was configured with
     * @return one short phrase per difference, e.g. {@code link down}, {@code route 100.64.0.0/16 missing},
     *     {@code address 100.64.7.0/32 missing}, {@code MTU 9000 instead of 1472}; empty when the device is as set up
     * @throws TunDeviceGoneException if the device no longer exists (deleted): it cannot be restored in place
     * @throws IOException if the kernel cannot be asked
     */
    default List<String> drift(final TunSetup setup) throws IOException {
        return List.of();
    }

    /**
     * The most segments a TSO super-packet read from a device with offloads may hold: the device's
     * {@code gso_max_segs} is set to this when TSO is switched on, so the kernel's TCP never builds a larger one, and
     * the packet engine sizes its segmentation batch with it. Without the limit the kernel builds 64 KiB
     * super-packets whatever the MSS (over 128 segments below an MSS of about 510 bytes).
     */
    int MAX_GSO_SEGMENTS = 128;

    /** {@code TUN_F_CSUM} (linux/if_tun.h): the device takes and gives packets with partial checksums. */
    int TUN_F_CSUM = 0x01;
    /** {@code TUN_F_TSO4}: TCP over IPv4 GSO super-packets. */
    int TUN_F_TSO4 = 0x02;
    /** {@code TUN_F_TSO6}: TCP over IPv6 GSO super-packets. */
    int TUN_F_TSO6 = 0x04;
    /** {@code TUN_F_USO4}: UDP (UDP_L4) over IPv4 GSO super-packets; the kernel accepts it only with USO6. */
    int TUN_F_USO4 = 0x20;
    /** {@code TUN_F_USO6}: UDP (UDP_L4) over IPv6 GSO super-packets. */
    int TUN_F_USO6 = 0x40;

    /**
     * Returns the length of the {@code virtio_net_hdr} that prefixes every read and write on this device's queues:
     * 10 bytes when it was opened with {@code IFF_VNET_HDR} (see {@link TunDeviceFactory#openWithOffloads}), else 0.
     *
     * @return bytes, 0 or 10
     */
    default int vnetHeaderLength() {
        return 0;
    }

    /**
     * Returns the offloads switched on with {@code TUNSETOFFLOAD}: a mask of {@link #TUN_F_CSUM},
     * {@link #TUN_F_TSO4}, {@link #TUN_F_USO4}... (0 for a device without a {@code virtio_net_hdr}).
     *
     * @return the {@code TUN_F_*} bits
     */
    default int offloadFlags() {
        return 0;
    }

    /**
     * Closes every queue. Idempotent.
     *
     * @throws IOException if closing fails
     */
    @Override
    void close() throws IOException;
}
