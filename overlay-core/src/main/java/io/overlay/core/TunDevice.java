package io.overlay.core;

import java.io.Closeable;
import java.io.IOException;

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
     * Configures the device the way flannel configures {@code flannel0} (flannel reference §2.1): address, MTU, link
     * up, then routes. Routes that already exist are tolerated. May be called again after a subnet change; the old
     * address is then replaced.
     *
     * @param setup the address, MTU and routes
     * @throws IOException if the kernel refuses a step; the message names the step and the device
     */
    void configure(TunSetup setup) throws IOException;

    /**
     * Closes every queue. Idempotent.
     *
     * @throws IOException if closing fails
     */
    @Override
    void close() throws IOException;
}
