package io.overlay.core.spi;

import java.io.IOException;

/**
 * The TUN device an overlay holds no longer exists: someone deleted it ({@code ip link del flannel0}), or an interface
 * of another identity now has its name. The kernel detaches every queue descriptor of a deleted TUN ({@code tun_detach_all}
 * in the kernel's {@code drivers/net/tun.c}; reads and {@code TUNGETIFF} then fail with {@code EBADFD}), so nothing
 * the overlay holds can forward any more and nothing can be restored in place: the overlay must be closed and started
 * again, which opens a new device. Thrown by {@link TunDevice#drift}.
 */
public final class TunDeviceGoneException extends IOException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message names the device and what was found, e.g. {@code TUN device flannel0 was deleted}
     */
    public TunDeviceGoneException(final String message) {
        super(message);
    }
}
