package io.overlay.tun;

import com.sun.jna.LastErrorException;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.spi.TunDevice;
import io.overlay.core.spi.TunDeviceFactory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens Linux TUN devices: {@code open("/dev/net/tun", O_RDWR|O_NONBLOCK|O_CLOEXEC)} once per queue, then
 * {@code TUNSETIFF} with {@code IFF_TUN|IFF_NO_PI} (plus {@code IFF_MULTI_QUEUE} for several queues) and the name,
 * as flannel does with {@code flannel%d} ({@code OpenTun} in flannel v0.28.9 {@code pkg/ip/tun.go}). The device is
 * created in the calling thread's network namespace (see {@link NetnsThread} to pick another) and stays there;
 * configuring it later from any thread acts on that namespace.
 *
 * <p>Found by {@link java.util.ServiceLoader} as the {@link TunDeviceFactory} of {@code overlay-tun}. Stateless and
 * thread-safe.
 */
public final class LinuxTunDeviceFactory implements TunDeviceFactory {
    /** The kernel's limit of queues per multi-queue device ({@code MAX_TAP_QUEUES}). */
    public static final int MAX_QUEUES = 256;

    private static final String TUN_PATH = "/dev/net/tun";
    private static final Logger LOG = LoggerFactory.getLogger(LinuxTunDeviceFactory.class);
    /** Length of {@code struct virtio_net_hdr}, bytes. */
    private static final int VNET_HDR_LENGTH = 10;
    /** Offload masks tried in order with {@code TUNSETOFFLOAD}. */
    private static final int[] OFFLOAD_SETS = {
        TunDevice.TUN_F_CSUM | TunDevice.TUN_F_TSO4 | TunDevice.TUN_F_USO4 | TunDevice.TUN_F_USO6,
        TunDevice.TUN_F_CSUM | TunDevice.TUN_F_TSO4,
    };

    /** Creates the factory. Nothing is checked until {@link #open}. */
    public LinuxTunDeviceFactory() {
    }

    /**
     * Creates a TUN device, or attaches to an existing one of the same name and flags. One queue opens a
     * single-queue device; more open it with {@code IFF_MULTI_QUEUE}.
     *
     * @param nameOrTemplate an interface name such as {@code flannel0} (1..15 bytes) or a template with one
     *     {@code %d} such as {@code flannel%d}
     * @param queues the number of queues (descriptors), 1..{@value #MAX_QUEUES}
     * @return the open, unconfigured device
     * @throws TunException (an {@link IOException}) if the device cannot be opened; {@link TunException#reason()}
     *     tells why: {@code INVALID_NAME}, {@code PERMISSION_DENIED} (needs root or CAP_NET_ADMIN),
     *     {@code NAME_TAKEN} (an interface of another kind has the name), {@code FLAGS_MISMATCH} (an existing TUN
     *     device is multi-queue and this open is not, or the reverse), {@code DEVICE_BUSY}, {@code UNAVAILABLE}
     * @throws IllegalArgumentException if {@code queues} is outside 1..{@value #MAX_QUEUES}
     */
    @Override
    public LinuxTunDevice open(final String nameOrTemplate, final int queues) throws IOException {
        return open(nameOrTemplate, queues, queues > 1);
    }

    /**
     * Like {@link #open(String, int)} but chooses {@code IFF_MULTI_QUEUE} explicitly, e.g. to attach one queue to a
     * device created with {@code ip tuntap add ... multi_queue}.
     *
     * @param nameOrTemplate an interface name or template, see {@link #open(String, int)}
     * @param queues the number of queues, 1..{@value #MAX_QUEUES}; more than 1 requires {@code multiQueue}
     * @param multiQueue whether to pass {@code IFF_MULTI_QUEUE}
     * @return the open, unconfigured device
     * @throws TunException as for {@link #open(String, int)}
     * @throws IllegalArgumentException if {@code queues} is out of range, or above 1 without {@code multiQueue}
     */
    public LinuxTunDevice open(final String nameOrTemplate, final int queues, final boolean multiQueue)
        throws IOException {
        return open(nameOrTemplate, queues, multiQueue, false);
    }

    /**
     * Opens the device with {@code IFF_VNET_HDR} and switches offloads on with {@code TUNSETOFFLOAD}:
     * {@code TUN_F_CSUM|TUN_F_TSO4|TUN_F_USO4|TUN_F_USO6}, or {@code TUN_F_CSUM|TUN_F_TSO4} when the kernel refuses USO
     * (it accepts USO4 only together with USO6). When the kernel refuses {@code IFF_VNET_HDR} or both offload sets, the
     * device is opened plain, as by {@link #open(String, int)}: see {@link LinuxTunDevice#vnetHeaderLength()} and
     * {@link LinuxTunDevice#offloadFlags()}. The vnet header length is set to 10 ({@code TUNSETVNETHDRSZ}).
     *
     * @param nameOrTemplate an interface name or template, see {@link #open(String, int)}
     * @param queues the number of queues, 1..{@value #MAX_QUEUES}; more than 1 opens it multi-queue
     * @return the open, unconfigured device
     * @throws TunException as for {@link #open(String, int)} (from the plain open, when offloads were refused too)
     * @throws IllegalArgumentException if {@code queues} is out of range
     */
    @Override
    public LinuxTunDevice openWithOffloads(final String nameOrTemplate, final int queues) throws IOException {
        try {
            return open(nameOrTemplate, queues, queues > 1, true);
        } catch (TunException e) {
            LOG.info("TUN {} with IFF_VNET_HDR/offloads refused ({}); opening it without offloads", nameOrTemplate,
                e.getMessage());
            return open(nameOrTemplate, queues, queues > 1, false);
        }
    }

    private LinuxTunDevice open(final String nameOrTemplate, final int queues, final boolean multiQueue,
                                final boolean vnet) throws IOException {
        if (queues < 1 || queues > MAX_QUEUES) {
            throw new IllegalArgumentException("TUN queue count must be 1.." + MAX_QUEUES + ", got " + queues);
        }
        if (queues > 1 && !multiQueue) {
            throw new IllegalArgumentException(queues + " queues need IFF_MULTI_QUEUE (multiQueue=true)");
        }
        final byte[] nameBytes = InterfaceName.validate(nameOrTemplate);
        ensurePlatform();
        final short flags = (short) (Ifreq.IFF_TUN | Ifreq.IFF_NO_PI | (multiQueue ? Ifreq.IFF_MULTI_QUEUE : 0)
            | (vnet ? Ifreq.IFF_VNET_HDR : 0));
        final int[] fds = new int[queues];
        Arrays.fill(fds, -1);
        int namespaceFd = -1;
        String name = nameOrTemplate;
        byte[] requested = nameBytes;
        try {
            for (int q = 0; q < queues; q++) {
                fds[q] = openTun();
                final ByteBuffer ifreq = Ifreq.encode(requested, flags);
                try {
                    LibC.ioctl(fds[q], LibC.TUNSETIFF, ifreq);
                } catch (LastErrorException e) {
                    throw setIffFailed(name, multiQueue, e);
                }
                if (q == 0) {
                    name = Ifreq.name(ifreq);
                    requested = InterfaceName.validate(name);
                }
            }
            final int offloads = vnet ? setOffloads(fds, name) : clearOffloads(fds[0]);
            namespaceFd = LibC.open("/proc/thread-self/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC);
            final FileDescriptor[] wrapped = new FileDescriptor[queues];
            for (int q = 0; q < queues; q++) {
                wrapped[q] = new FileDescriptor(fds[q]);
            }
            final LinuxTunDevice device = new LinuxTunDevice(name, multiQueue, wrapped, namespaceFd,
                NetnsThread.currentNamespaceId(), vnet ? VNET_HDR_LENGTH : 0, offloads);
            if ((offloads & TunDevice.TUN_F_TSO4) != 0) {
                try {
                    device.limitGsoSegmentsHere();
                } catch (IOException | RuntimeException e) {
                    device.close();
                    throw e;
                }
            }
            return device;
        } catch (IOException | RuntimeException | Error e) {
            for (int fd : fds) {
                LibC.closeQuietly(fd);
            }
            LibC.closeQuietly(namespaceFd);
            if (e instanceof LastErrorException) {
                throw new TunException(TunException.Reason.OTHER, ((LastErrorException) e).getErrorCode(),
                    "cannot open TUN device \"" + name + "\": " + e.getMessage(), e);
            }
            throw e;
        }
    }

    /**
     * Attaches to an existing TUN device (e.g. one made by {@code ip tuntap add dev NAME mode tun [multi_queue]}),
     * using the flags it was created with: {@code IFF_MULTI_QUEUE} exactly when the device is multi-queue.
     *
     * @param name the existing device's name (no template)
     * @param queues the number of queues to attach, 1..{@value #MAX_QUEUES}; more than 1 needs a multi-queue device
     * @return the open device
     * @throws TunException {@code INVALID_NAME} if there is no such interface or the name is invalid,
     *     {@code NAME_TAKEN} if it is not a TUN device, {@code FLAGS_MISMATCH} if several queues are asked of a
     *     single-queue device, and the reasons of {@link #open(String, int)}
     * @throws IllegalArgumentException if {@code queues} is out of range
     */
    public LinuxTunDevice attach(final String name, final int queues) throws IOException {
        final boolean multiQueue = checkAttach(name, queues);
        return open(name, queues, multiQueue, false);
    }

    /**
     * Like {@link #attach} but with offloads, as {@link #openWithOffloads}: {@code IFF_VNET_HDR} and
     * {@code TUNSETOFFLOAD}, falling back to a plain attach when the kernel refuses them. ({@code IFF_VNET_HDR} and
     * the offloads are device-wide: every queue of the device then reads and writes frames with the header.)
     *
     * @param name the existing device's name (no template)
     * @param queues the number of queues to attach, 1..{@value #MAX_QUEUES}
     * @return the open device; see {@link LinuxTunDevice#vnetHeaderLength()}
     * @throws TunException as for {@link #attach}
     * @throws IllegalArgumentException if {@code queues} is out of range
     */
    public LinuxTunDevice attachWithOffloads(final String name, final int queues) throws IOException {
        final boolean multiQueue = checkAttach(name, queues);
        try {
            return open(name, queues, multiQueue, true);
        } catch (TunException e) {
            LOG.info("TUN {} with IFF_VNET_HDR/offloads refused ({}); attaching without offloads", name,
                e.getMessage());
            return open(name, queues, multiQueue, false);
        }
    }

    /** Checks that {@code name} is an existing TUN device that can take {@code queues}; returns its multi-queue flag. */
    private static boolean checkAttach(final String name, final int queues) throws IOException {
        final byte[] nameBytes = InterfaceName.validate(name);
        if (InterfaceName.isTemplate(name)) {
            throw new TunException(TunException.Reason.INVALID_NAME, 0, "cannot attach to \"" + name
                + "\": attach needs the name of an existing device, not a template");
        }
        ensurePlatform();
        final LinkInfo link;
        try (NetlinkSocket rtnl = NetlinkSocket.open()) {
            link = rtnl.getLink(nameBytes);
        }
        if (link == null) {
            throw new TunException(TunException.Reason.INVALID_NAME, LibC.ENODEV, "cannot attach to TUN device \""
                + name + "\": no interface of that name in this network namespace; create it first (ip tuntap add"
                + " dev " + name + " mode tun) or use open()");
        }
        if (!link.isTun()) {
            throw new TunException(TunException.Reason.NAME_TAKEN, 0, "cannot attach to TUN device \"" + name
                + "\": it is " + link.describeKind() + ", not a TUN device");
        }
        if (queues > 1 && !link.multiQueue()) {
            throw new TunException(TunException.Reason.FLAGS_MISMATCH, 0, "cannot attach " + queues
                + " queues to TUN device \"" + name + "\": it is single-queue; recreate it with"
                + " 'ip tuntap add dev " + name + " mode tun multi_queue' or attach 1 queue");
        }
        return link.multiQueue();
    }

    /** Sets the vnet header size on every queue and the offloads on the device; returns the accepted mask. */
    /**
     * Switches every offload off ({@code TUNSETOFFLOAD 0}) on a device read without a {@code virtio_net_hdr}: offloads
     * stay set on a persistent device after an earlier offload user closed it, and the kernel would then hand 64 KiB
     * TSO packets to a reader that takes MTU-sized ones. Errors are ignored (nothing was on).
     *
     * @return 0, the offloads now on
     */
    private static int clearOffloads(final int fd) {
        try {
            LibC.ioctl(fd, LibC.TUNSETOFFLOAD, 0L);
        } catch (LastErrorException ignored) {
            // a kernel without TUNSETOFFLOAD has no offloads to clear
        }
        return 0;
    }

    private static int setOffloads(final int[] fds, final String name) throws TunException {
        final ByteBuffer size = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder()).putInt(0, VNET_HDR_LENGTH);
        for (int fd : fds) {
            try {
                LibC.ioctl(fd, LibC.TUNSETVNETHDRSZ, size);
            } catch (LastErrorException e) {
                throw new TunException(TunException.Reason.OTHER, e.getErrorCode(), "TUNSETVNETHDRSZ on \"" + name
                    + "\" failed: " + LibC.describe(e.getErrorCode()), e);
            }
        }
        int errno = 0;
        for (int mask : OFFLOAD_SETS) {
            try {
                LibC.ioctl(fds[0], LibC.TUNSETOFFLOAD, (long) mask);
                return mask;
            } catch (LastErrorException e) {
                errno = e.getErrorCode();
            }
        }
        throw new TunException(TunException.Reason.OTHER, errno, "TUNSETOFFLOAD on \"" + name + "\" refused: "
            + LibC.describe(errno));
    }

    private static void ensurePlatform() throws TunException {
        final Throwable cause = Tun.platformCause();
        if (cause != null) {
            throw new TunException(TunException.Reason.UNAVAILABLE, 0, "TUN devices are not available: "
                + cause.getMessage(), cause);
        }
        Epoll.ensureAvailability();
    }

    private static int openTun() throws TunException {
        try {
            return LibC.open(TUN_PATH, LibC.O_RDWR | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        } catch (LastErrorException e) {
            throw TunErrors.openFailed(e.getErrorCode());
        }
    }

    private static TunException setIffFailed(final String name, final boolean multiQueue,
                                             final LastErrorException e) {
        LinkInfo existing = null;
        if (!InterfaceName.isTemplate(name)) {
            try (NetlinkSocket rtnl = NetlinkSocket.open()) {
                existing = rtnl.getLink(InterfaceName.validate(name));
            } catch (TunException | RuntimeException ignored) {
                // the diagnosis is best effort; the errno alone still gives a message
            }
        }
        final TunException t = TunErrors.setIffFailed(name, multiQueue, e.getErrorCode(), existing);
        t.initCause(e);
        return t;
    }
}
