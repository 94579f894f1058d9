package io.overlay.core;

import java.io.IOException;

/**
 * Opens TUN devices. Implemented by {@code overlay-tun}; the {@link Overlay} facade finds it through
 * {@link java.util.ServiceLoader} unless one is given to the builder.
 */
public interface TunDeviceFactory {
    /**
     * Creates (or attaches to) a TUN device with {@code IFF_TUN|IFF_NO_PI}.
     *
     * @param nameOrTemplate an interface name such as {@code flannel0}, or a template with {@code %d} such as
     *     {@code flannel%d} (the kernel picks the next free index)
     * @param queues the number of queues; more than 1 opens the device with {@code IFF_MULTI_QUEUE}
     * @return the open device, not yet configured
     * @throws IOException if the device cannot be opened; the message says what to do (missing CAP_NET_ADMIN,
     *     name invalid or taken by a device of another kind, flags that do not match an existing device)
     */
    TunDevice open(String nameOrTemplate, int queues) throws IOException;
}
