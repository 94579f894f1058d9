package io.overlay.tun;

/**
 * Turns a failed {@code open("/dev/net/tun")} or {@code TUNSETIFF} into a {@link TunException} whose message says
 * what to do. The kernel's own answers are terse (EINVAL covers "a veth has that name" as well as "multi_queue does
 * not match", see {@code tun_set_iff} in {@code drivers/net/tun.c}), so the caller also passes what rtnetlink reports
 * about an existing interface of that name.
 */
final class TunErrors {
    private TunErrors() {
    }

    /**
     * Maps a failed {@code open("/dev/net/tun", O_RDWR|O_NONBLOCK|O_CLOEXEC)}.
     *
     * @param errno the errno of the failure
     * @return the exception to throw
     */
    static TunException openFailed(final int errno) {
        final String what = "cannot open /dev/net/tun: " + LibC.describe(errno);
        return switch (errno) {
            case LibC.ENOENT, LibC.ENODEV -> new TunException(TunException.Reason.UNAVAILABLE, errno,
                what + ": the TUN driver is missing; load it (modprobe tun) or, in a container, pass the device"
                    + " (--device /dev/net/tun)");
            case LibC.EPERM, LibC.EACCES -> permission(errno, what);
            case LibC.EMFILE, LibC.ENFILE -> new TunException(TunException.Reason.OTHER, errno,
                what + ": too many open files; raise the descriptor limit (ulimit -n)");
            default -> new TunException(TunException.Reason.OTHER, errno, what);
        };
    }

    /**
     * Maps a failed {@code TUNSETIFF}.
     *
     * @param name the requested name or template
     * @param multiQueue whether {@code IFF_MULTI_QUEUE} was requested
     * @param errno the errno of the failure
     * @param existing what rtnetlink reports about an interface with that name, or {@code null} if there is none
     *     (or the name is a template)
     * @return the exception to throw
     */
    static TunException setIffFailed(final String name, final boolean multiQueue, final int errno,
                                     final LinkInfo existing) {
        final String what = "cannot create or attach TUN device \"" + name + "\" (TUNSETIFF: "
            + LibC.describe(errno) + ")";
        if (errno == LibC.EPERM || errno == LibC.EACCES) {
            return permission(errno, what);
        }
        if (existing != null && !existing.isTun()) {
            return new TunException(TunException.Reason.NAME_TAKEN, errno, what + ": the name is taken by "
                + existing.describeKind() + " (ifindex " + existing.index() + "); choose another name or delete"
                + " that interface");
        }
        if (existing != null && existing.multiQueue() != multiQueue) {
            return new TunException(TunException.Reason.FLAGS_MISMATCH, errno, what + ": the existing TUN device is "
                + (existing.multiQueue() ? "multi-queue" : "single-queue") + " but it was opened "
                + (multiQueue ? "with" : "without") + " IFF_MULTI_QUEUE; open it with multiQueue="
                + existing.multiQueue() + " (LinuxTunDeviceFactory.attach picks the flags of an existing device)"
                + " or recreate it" + (multiQueue ? " with 'ip tuntap add mode tun multi_queue'" : ""));
        }
        if (errno == LibC.EBUSY) {
            return new TunException(TunException.Reason.DEVICE_BUSY, errno, what + ": "
                + (existing != null && !existing.multiQueue()
                ? "the single-queue device is already attached to another descriptor (another process, or an"
                    + " earlier open that is still open); close that first, or create the device multi_queue"
                : "the device is busy (its queues are in use or IFF_TUN_EXCL was requested)"));
        }
        if (errno == LibC.ENFILE) {
            return new TunException(TunException.Reason.OTHER, errno, what + ": no free index for the template;"
                + " delete unused devices or choose another template");
        }
        if (errno == LibC.EINVAL) {
            return new TunException(TunException.Reason.INVALID_NAME, errno, what + ": the kernel refused the name"
                + " or flags; use a name of 1..15 bytes without '/', ':' or whitespace");
        }
        return new TunException(TunException.Reason.OTHER, errno, what);
    }

    private static TunException permission(final int errno, final String what) {
        return new TunException(TunException.Reason.PERMISSION_DENIED, errno, what + ": creating or attaching a TUN"
            + " device needs root or the CAP_NET_ADMIN capability (e.g. setcap cap_net_admin+ep on the java binary,"
            + " or --cap-add NET_ADMIN for a container)");
    }
}
