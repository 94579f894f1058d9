package io.overlay.tun;

import java.io.IOException;

/**
 * A TUN device could not be opened or configured. The message names the device and the step and says what to do;
 * {@link #reason()} classifies the failure for callers that branch on it, {@link #errno()} keeps the kernel's error
 * number.
 */
public final class TunException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Why opening or configuring failed. */
    public enum Reason {
        /** TUN is not usable here: not Linux, no {@code /dev/net/tun}, or the native libraries did not load. */
        UNAVAILABLE,
        /** EPERM/EACCES: the process needs root or CAP_NET_ADMIN. */
        PERMISSION_DENIED,
        /** The name is not a valid Linux interface name or template (e.g. longer than 15 bytes). */
        INVALID_NAME,
        /** An interface of another kind (veth, bridge, dummy, TAP...) already has this name. */
        NAME_TAKEN,
        /** A TUN device with this name exists with other flags (multi_queue or not). */
        FLAGS_MISMATCH,
        /** A single-queue TUN device with this name is already attached to another descriptor. */
        DEVICE_BUSY,
        /** A configuration step (address, MTU, link up, route) was refused by the kernel. */
        CONFIGURATION_FAILED,
        /** Any other failure; see the message and {@link #errno()}. */
        OTHER
    }

    /** Why it failed. */
    private final Reason reason;
    /** The kernel's error number, 0 if none. */
    private final int errno;

    /**
     * Creates the exception.
     *
     * @param reason the classification
     * @param errno the kernel's error number, 0 when the failure was detected before any system call
     * @param message what failed and what to do
     */
    public TunException(final Reason reason, final int errno, final String message) {
        super(message);
        this.reason = reason;
        this.errno = errno;
    }

    /**
     * Creates the exception with a cause.
     *
     * @param reason the classification
     * @param errno the kernel's error number, 0 when none
     * @param message what failed and what to do
     * @param cause the underlying failure
     */
    public TunException(final Reason reason, final int errno, final String message, final Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.errno = errno;
    }

    /**
     * Returns why the operation failed.
     *
     * @return the reason, never null
     */
    public Reason reason() {
        return reason;
    }

    /**
     * Returns the kernel's error number.
     *
     * @return errno (e.g. 1 for EPERM, 22 for EINVAL), or 0 if the failure was detected before any system call
     */
    public int errno() {
        return errno;
    }
}
