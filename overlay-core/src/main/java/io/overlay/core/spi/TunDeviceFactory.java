package io.overlay.core.spi;

import io.overlay.core.Overlay;
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

    /**
     * Like {@link #open} but asks for offloads: {@code IFF_VNET_HDR} (a 10-byte {@code virtio_net_hdr} before every
     * packet) and {@code TUNSETOFFLOAD} with {@link TunDevice#TUN_F_CSUM}|{@link TunDevice#TUN_F_TSO4} (plus
     * USO4|USO6 where the kernel has them), so the kernel hands over TCP super-packets of up to 64 KiB. Falls back to
     * a plain device when the kernel refuses: check {@link TunDevice#vnetHeaderLength()} and
     * {@link TunDevice#offloadFlags()} of the result. The default implementation opens a plain device.
     *
     * @param nameOrTemplate as for {@link #open}
     * @param queues as for {@link #open}
     * @return the open device, not yet configured
     * @throws IOException as for {@link #open}
     */
    default TunDevice openWithOffloads(String nameOrTemplate, int queues) throws IOException {
        return open(nameOrTemplate, queues);
    }
}
