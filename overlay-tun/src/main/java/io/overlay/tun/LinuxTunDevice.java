// Longer than ~400 lines: about 330 lines of code for one kernel object (its queues, offload flags, link settings
// and the drift check); the rest is the Javadoc of the kernel interfaces it uses.
package io.overlay.tun;

import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunDevice;
import io.overlay.core.spi.TunDeviceGoneException;
import io.overlay.core.spi.TunSetup;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An open Linux TUN device ({@code IFF_TUN|IFF_NO_PI}): one non-blocking, close-on-exec descriptor per queue, each
 * read yielding one raw IP packet. Made by {@link LinuxTunDeviceFactory}.
 *
 * <h2>Descriptors</h2>
 * The device owns its descriptors: {@link #fileDescriptor(int)} hands out the raw number so a packet engine can wrap
 * it in Netty's {@code io.netty.channel.unix.FileDescriptor} and register it on an epoll loop (an
 * {@code EpollIoHandle}); the engine must not close it, and must unregister it before {@link #close()}.
 * {@link #read} and {@link #write} move one packet through Netty's JNI without allocating, for tests and for users
 * without an engine.
 *
 * <h2>Configuration</h2>
 * {@link #configure} talks rtnetlink (chosen over the legacy {@code SIOCSIFADDR}/{@code SIOCADDRT} ioctls because the
 * kernel's answer is a precise errno plus an error text, an existing route is recognisable as EEXIST, addresses can
 * be listed and replaced, and nothing depends on the {@code struct rtentry} pointer layout). It runs in the device's
 * own network namespace, whichever thread calls it. No external program is run.
 *
 * <p>Thread-safety: {@link #read}/{@link #write} on one queue must come from one thread at a time; different queues
 * may be used concurrently. {@link #configure} and {@link #close} may be called from any thread.
 */
public final class LinuxTunDevice implements TunDevice {
    private static final Logger LOG = LoggerFactory.getLogger(LinuxTunDevice.class);

    private final String name;
    private final byte[] nameBytes;
    private final boolean multiQueue;
    private final FileDescriptor[] queues;
    private final int namespaceFd;
    private final String namespaceId;
    private final int vnetHeaderLength;
    private final int offloadFlags;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Object configureLock = new Object();
    /** The interface index {@link #configure} found, 0 before; a later lookup by name must find the same one. */
    private volatile int configuredIndex;
    /** Routes already named at WARN as leaving through another device (guarded by configureLock): once each. */
    private final java.util.Set<Ipv4Prefix> warnedElsewhere = new java.util.HashSet<>();

    /**
     * Wraps opened queues; called by {@link LinuxTunDeviceFactory}.
     *
     * @param name the kernel's name of the device
     * @param multiQueue whether it was opened with {@code IFF_MULTI_QUEUE}
     * @param queues one Netty descriptor per queue, owned from now on by this device
     * @param namespaceFd an open descriptor of the device's network namespace, owned by this device
     * @param namespaceId that namespace's identifier ({@code net:[inode]})
     * @param vnetHeaderLength 10 with {@code IFF_VNET_HDR}, else 0
     * @param offloadFlags the {@code TUN_F_*} mask set with {@code TUNSETOFFLOAD}
     */
    LinuxTunDevice(final String name, final boolean multiQueue, final FileDescriptor[] queues,
                   final int namespaceFd, final String namespaceId, final int vnetHeaderLength,
                   final int offloadFlags) {
        this.vnetHeaderLength = vnetHeaderLength;
        this.offloadFlags = offloadFlags;
        this.name = name;
        this.nameBytes = name.getBytes(StandardCharsets.UTF_8);
        this.multiQueue = multiQueue;
        this.queues = queues;
        this.namespaceFd = namespaceFd;
        this.namespaceId = namespaceId;
    }

    /**
     * Returns the interface name the kernel gave the device.
     *
     * @return the name, at most 15 bytes (a template such as {@code flannel%d} resolved, e.g. {@code flannel0})
     */
    @Override
    public String name() {
        return name;
    }

    /**
     * Returns the number of queues (descriptors) this object holds.
     *
     * @return 1..{@value LinuxTunDeviceFactory#MAX_QUEUES}
     */
    @Override
    public int queueCount() {
        return queues.length;
    }

    /**
     * Returns the {@code virtio_net_hdr} length that prefixes every read and write: 10 for a device opened by
     * {@link LinuxTunDeviceFactory#openWithOffloads} when the kernel accepted {@code IFF_VNET_HDR}, else 0.
     *
     * @return bytes, 0 or 10
     */
    @Override
    public int vnetHeaderLength() {
        return vnetHeaderLength;
    }

    /**
     * Returns the {@code TUN_F_*} offloads the kernel accepted with {@code TUNSETOFFLOAD} (0 without a vnet header).
     *
     * @return the mask
     */
    @Override
    public int offloadFlags() {
        return offloadFlags;
    }

    /**
     * Returns whether the device was opened with {@code IFF_MULTI_QUEUE}.
     *
     * @return {@code true} for a multi-queue device
     */
    public boolean isMultiQueue() {
        return multiQueue;
    }

    /**
     * Returns whether the device is still open.
     *
     * @return {@code false} after {@link #close()}
     */
    public boolean isOpen() {
        return !closed.get();
    }

    /**
     * Returns the raw, non-blocking, close-on-exec descriptor of a queue. The device owns it: callers must not close
     * it, and must stop using it before {@link #close()}.
     *
     * @param queue 0..{@link #queueCount()}-1
     * @return the descriptor number
     * @throws IndexOutOfBoundsException if there is no such queue
     */
    @Override
    public int fileDescriptor(final int queue) {
        return queues[Objects.checkIndex(queue, queues.length)].intValue();
    }

    /**
     * Reads one IP packet from a queue into {@code buffer}, between its position and limit, without allocating. On
     * success the position advances by the packet length. A packet longer than the space is truncated by the kernel
     * (give at least MTU bytes).
     *
     * @param queue 0..{@link #queueCount()}-1
     * @param buffer a direct buffer
     * @return the packet length in bytes; 0 if no packet is waiting (EAGAIN, the descriptor is non-blocking)
     * @throws IllegalArgumentException if the buffer is not direct
     * @throws IndexOutOfBoundsException if there is no such queue
     * @throws ClosedChannelException if the device is closed
     * @throws IOException if the kernel reports another error
     */
    public int read(final int queue, final ByteBuffer buffer) throws IOException {
        final FileDescriptor fd = queue(queue, buffer);
        final int position = buffer.position();
        final int n = fd.read(buffer, position, buffer.limit());
        if (n > 0) {
            buffer.position(position + n);
        }
        return n;
    }

    /**
     * Writes one IP packet, the bytes between the buffer's position and limit, into a queue (the kernel then routes
     * it as if received on this interface), without allocating. On success the position advances to the limit.
     *
     * @param queue 0..{@link #queueCount()}-1
     * @param buffer a direct buffer holding exactly one IPv4 or IPv6 packet
     * @return the number of bytes written (the packet length); 0 if the queue is full (EAGAIN)
     * @throws IllegalArgumentException if the buffer is not direct
     * @throws IndexOutOfBoundsException if there is no such queue
     * @throws ClosedChannelException if the device is closed
     * @throws IOException if the kernel refuses the packet (e.g. EINVAL for a packet that is not IP)
     */
    public int write(final int queue, final ByteBuffer buffer) throws IOException {
        final FileDescriptor fd = queue(queue, buffer);
        final int position = buffer.position();
        final int n = fd.write(buffer, position, buffer.limit());
        if (n > 0) {
            buffer.position(position + n);
        }
        return n;
    }

    private FileDescriptor queue(final int queue, final ByteBuffer buffer) throws ClosedChannelException {
        final FileDescriptor fd = queues[Objects.checkIndex(queue, queues.length)];
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException("TUN packet I/O needs a direct ByteBuffer");
        }
        if (closed.get()) {
            throw new ClosedChannelException();
        }
        return fd;
    }

    /**
     * Configures the device as flannel configures {@code flannel0} ({@code docs/flannel-compatibility.md#tun-device}),
     * in this order: the IPv4 address with its prefix length (added or refreshed; every other IPv4 address of the
     * device is then removed, so a second call after a subnet change replaces the old address), the MTU, the transmit
     * queue length ({@code IFLA_TXQLEN}, as {@link #setTxQueueLength}; skipped when {@link TunSetup#txQueueLength()} is
     * 0), IPv6 disabled on the device ({@code /proc/sys/net/ipv6/conf/<name>/disable_ipv6} = 1 when that file exists,
     * so no router solicitations appear on the TUN), link up, then one route per destination via the device (main
     * table, scope universe); a route that already exists (EEXIST) is left as it is. Routes from an earlier call are
     * not removed.
     *
     * @param setup the address, MTU in bytes, routes and transmit queue length in packets
     * @throws TunException with reason {@code CONFIGURATION_FAILED} if the kernel refuses a step (the message names
     *     the step, the device and the errno, plus the kernel's text when it gives one), or another reason if
     *     netlink itself fails
     * @throws IOException if the device is closed or its network namespace cannot be entered
     */
    @Override
    public void configure(final TunSetup setup) throws IOException {
        inNamespace(() -> configureHere(setup), "configuring");
    }

    /**
     * Sets only the device's transmit queue length ({@code ip link set DEV txqueuelen N}), leaving its address,
     * MTU, state and routes as they are: for a device that something else configured (attached to with
     * {@link LinuxTunDeviceFactory#attach}). For a TUN the queue is the ring of packets routed into the device that
     * the kernel holds for the reader, per queue; when it is full the kernel drops them (TX dropped of the device).
     * Like {@link #configure} it acts in the device's own network namespace, whichever thread calls it.
     *
     * @param packets 1..{@value TunSetup#MAX_TX_QUEUE_LENGTH}; see {@link TunSetup#DEFAULT_TX_QUEUE_LENGTH}
     * @throws IllegalArgumentException if {@code packets} is out of range (0 is refused: there is nothing to set)
     * @throws TunException if the kernel refuses it (PERMISSION_DENIED without CAP_NET_ADMIN)
     * @throws IOException if the device is closed or its network namespace cannot be entered
     */
    public void setTxQueueLength(final int packets) throws IOException {
        if (packets < 1 || packets > TunSetup.MAX_TX_QUEUE_LENGTH) {
            throw new IllegalArgumentException("TUN transmit queue length must be 1.." + TunSetup.MAX_TX_QUEUE_LENGTH
                + " packets, got " + packets);
        }
        inNamespace(() -> {
            try (NetlinkSocket rtnl = NetlinkSocket.open()) {
                setTxQueueLengthHere(rtnl, index(rtnl), packets);
            }
        }, "setting the transmit queue length of");
    }

    /** A configuration step that runs in the device's namespace. */
    @FunctionalInterface
    private interface Step {
        void run() throws IOException;
    }

    /** Runs {@code step} under the configure lock in the device's network namespace (a helper thread if needed). */
    private void inNamespace(final Step step, final String what) throws IOException {
        if (closed.get()) {
            throw new ClosedChannelException();
        }
        synchronized (configureLock) {
            if (namespaceId.equals(NetnsThread.currentNamespaceId())) {
                step.run();
                return;
            }
            try {
                NetnsThread.call(namespaceFd, namespaceId, () -> {
                    step.run();
                    return null;
                });
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IOException(what + " TUN device " + name + " failed", e);
            }
        }
    }

    /** The device's interface index, looked up by name in the current namespace. */
    private int index(final NetlinkSocket rtnl) throws IOException {
        final LinkInfo link = rtnl.getLink(nameBytes);
        if (link == null) {
            throw new TunException(TunException.Reason.CONFIGURATION_FAILED, LibC.ENODEV,
                "TUN device " + name + " has disappeared from its network namespace");
        }
        return link.index();
    }

    private void setTxQueueLengthHere(final NetlinkSocket rtnl, final int index, final int packets)
        throws TunException {
        check(rtnl, rtnl.execute(Rtnetlink.setTxQueueLength(rtnl.nextSequence(), index, packets)),
            "set the transmit queue length (txqueuelen) to " + packets + " packets");
    }

    /**
     * Sets the device's {@code gso_max_segs} to {@link io.overlay.core.spi.TunDevice#MAX_GSO_SEGMENTS}, on the calling
     * thread, which must be in the device's network namespace (the factory calls it right after opening).
     *
     * @throws IOException if the kernel refuses it
     */
    void limitGsoSegmentsHere() throws IOException {
        try (NetlinkSocket rtnl = NetlinkSocket.open()) {
            check(rtnl, rtnl.execute(Rtnetlink.setGsoMaxSegments(rtnl.nextSequence(), index(rtnl),
                MAX_GSO_SEGMENTS)), "set gso_max_segs " + MAX_GSO_SEGMENTS);
        }
    }

    private void configureHere(final TunSetup setup) throws IOException {
        final Ipv4Prefix address = setup.address();
        try (NetlinkSocket rtnl = NetlinkSocket.open()) {
            final int index = index(rtnl);
            configuredIndex = index;
            check(rtnl, rtnl.execute(Rtnetlink.newAddress(rtnl.nextSequence(), index, address.address(),
                address.length())), "set address " + address);
            for (int[] old : rtnl.ipv4Addresses(index)) {
                if (old[0] != address.address() || old[1] != address.length()) {
                    final int errno = rtnl.execute(Rtnetlink.deleteAddress(rtnl.nextSequence(), index, old[0],
                        old[1]));
                    if (errno != LibC.EADDRNOTAVAIL) {
                        check(rtnl, errno, "remove old address " + Ipv4.format(old[0]) + "/" + old[1]);
                    }
                }
            }
            check(rtnl, rtnl.execute(Rtnetlink.setMtu(rtnl.nextSequence(), index, setup.mtu())),
                "set MTU " + setup.mtu());
            if (setup.txQueueLength() != TunSetup.KEEP_TX_QUEUE_LENGTH) {
                setTxQueueLengthHere(rtnl, index, setup.txQueueLength());
            }
            disableIpv6();
            check(rtnl, rtnl.execute(Rtnetlink.setUp(rtnl.nextSequence(), index)), "bring the link up");
            for (Ipv4Prefix route : setup.routes()) {
                final int errno = rtnl.execute(Rtnetlink.newRoute(rtnl.nextSequence(), index, route));
                if (errno == LibC.EEXIST) {
                    warnIfRouteElsewhere(rtnl, route, index);
                } else {
                    check(rtnl, errno, "add route " + route + " via " + name);
                }
            }
            LOG.debug("configured TUN device {}: address {}, MTU {}, txqueuelen {}, up, routes {}", name, address,
                setup.mtu(), setup.txQueueLength() == 0 ? "unchanged" : setup.txQueueLength(), setup.routes());
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Asks, in the device's network namespace: {@code TUNGETIFF} on every queue (a deleted device's queues answer
     * {@code EBADFD}); the link by name ({@code RTM_GETLINK}: gone, or another interface index than the one
     * {@link #configure} set up, means the device was deleted); its up flag and MTU; its IPv4 addresses; and, for each
     * route of the setup, which routing table entry matches an address of it ({@code ip route get fibmatch}, one
     * request whatever the size of the routing table; only when that entry is another one, such as a more specific
     * route of someone else's, are the routes listed to find the setup's). Six netlink requests for flannel's one
     * route, independent of the number of peers. The transmit queue length is not compared.
     *
     * @throws TunDeviceGoneException if the device was deleted
     * @throws IOException if the device is closed or the kernel cannot be asked
     */
    @Override
    public List<String> drift(final TunSetup setup) throws IOException {
        final List<String> found = new ArrayList<>();
        inNamespace(() -> driftHere(setup, found), "checking");
        return found;
    }

    private void driftHere(final TunSetup setup, final List<String> found) throws IOException {
        final ByteBuffer ifreq = ByteBuffer.allocateDirect(Ifreq.SIZE);
        for (int q = 0; q < queues.length; q++) {
            try {
                LibC.ioctl(queues[q].intValue(), LibC.TUNGETIFF, ifreq);
            } catch (com.sun.jna.LastErrorException e) {
                if (e.getErrorCode() == LibC.EBADFD) {
                    throw new TunDeviceGoneException("TUN device " + name + " was deleted (its queue " + q
                        + " answers EBADFD): packets can no longer pass through it");
                }
                throw new TunException(TunException.Reason.OTHER, e.getErrorCode(), "cannot check TUN device " + name
                    + " (TUNGETIFF): " + LibC.describe(e.getErrorCode()), e);
            }
        }
        try (NetlinkSocket rtnl = NetlinkSocket.open()) {
            final LinkInfo link = rtnl.getLink(nameBytes);
            final int expected = configuredIndex;
            if (link == null || expected != 0 && link.index() != expected) {
                throw new TunDeviceGoneException("TUN device " + name + " was deleted or renamed (" + (link == null
                    ? "no interface of that name" : "the name is now interface index " + link.index() + ", not "
                    + expected) + "): packets can no longer pass through it");
            }
            if ((link.flags() & Rtnetlink.IFF_UP) == 0) {
                found.add("link down");
            }
            if (link.mtu() != setup.mtu()) {
                found.add("MTU " + link.mtu() + " instead of " + setup.mtu());
            }
            final Ipv4Prefix address = setup.address();
            boolean hasAddress = false;
            for (int[] a : rtnl.ipv4Addresses(link.index())) {
                hasAddress |= a[0] == address.address() && a[1] == address.length();
            }
            if (!hasAddress) {
                found.add("address " + address + " missing");
            }
            List<RouteInfo> all = null;
            for (Ipv4Prefix route : setup.routes()) {
                if (isOurs(rtnl.matchingRoute(probe(route, address)), route, link.index())) {
                    continue;
                }
                if (all == null) {
                    all = rtnl.ipv4Routes();
                }
                boolean present = false;
                for (RouteInfo r : all) {
                    present |= isOurs(r, route, link.index());
                }
                if (!present) {
                    found.add("route " + route + " missing");
                }
            }
        }
    }

    /** An address of {@code route} to look its entry up with: not the device's own (a local route), else the last. */
    private static int probe(final Ipv4Prefix route, final Ipv4Prefix own) {
        final int last = route.address() | (int) (0xffffffffL >>> route.length());
        return own.contains(route.address()) ? last : route.address();
    }

    private static boolean isOurs(final RouteInfo r, final Ipv4Prefix route, final int index) {
        return r != null && r.table() == Rtnetlink.RT_TABLE_MAIN && r.destination() == route.address()
            && r.destinationLength() == route.length() && r.outputIndex() == index;
    }

    /**
     * After EEXIST for a route (flannel ignores EEXIST too and leaves the route as it is): WARN if the existing route
     * in the main table leaves through another interface, since traffic for it then never reaches this device.
     */
    private void warnIfRouteElsewhere(final NetlinkSocket rtnl, final Ipv4Prefix route, final int index)
        throws TunException {
        for (RouteInfo r : rtnl.ipv4Routes()) {
            if (r.table() == Rtnetlink.RT_TABLE_MAIN && r.destination() == route.address()
                && r.destinationLength() == route.length() && r.outputIndex() != index) {
                if (!warnedElsewhere.add(route)) {
                    LOG.debug("route {} still leaves through interface index {}, not TUN device {}", route,
                        r.outputIndex(), name);
                    return;
                }
                LOG.warn("route {} already exists but does not leave through TUN device {} (interface index {}, "
                    + "type {}); left as it is, so traffic for it does not reach the overlay: delete it (ip route del "
                    + "{}) and restart", route, name, r.outputIndex(), r.type(), route);
                return;
            }
        }
        LOG.debug("route {} already exists via {}; left as it is (flannel ignores EEXIST too)", route, name);
    }

    private void disableIpv6() throws TunException {
        final Path knob = Path.of("/proc/sys/net/ipv6/conf", name, "disable_ipv6");
        if (!Files.exists(knob)) {
            return;
        }
        try {
            Files.writeString(knob, "1");
        } catch (IOException e) {
            throw new TunException(TunException.Reason.CONFIGURATION_FAILED, 0, "cannot disable IPv6 on TUN device "
                + name + " (writing 1 to " + knob + "): " + e.getMessage(), e);
        }
    }

    private void check(final NetlinkSocket rtnl, final int errno, final String step) throws TunException {
        if (errno != 0) {
            throw new TunException(errno == LibC.EPERM || errno == LibC.EACCES
                ? TunException.Reason.PERMISSION_DENIED : TunException.Reason.CONFIGURATION_FAILED, errno,
                "cannot " + step + " on TUN device " + name + ": " + LibC.describe(errno) + rtnl.kernelSuffix()
                    + (errno == LibC.EPERM ? "; needs root or CAP_NET_ADMIN" : ""));
        }
    }

    /**
     * Closes every queue descriptor. A device created by this object (not persistent) then disappears with its
     * address and routes; a persistent device (made by {@code ip tuntap add}) stays but has no queue attached.
     * Idempotent.
     *
     * @throws IOException if closing a descriptor fails (all are closed regardless)
     */
    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        IOException failure = null;
        for (FileDescriptor fd : queues) {
            try {
                fd.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        synchronized (configureLock) {
            LibC.closeQuietly(namespaceFd);
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "LinuxTunDevice[" + name + ", queues=" + queues.length + (closed.get() ? ", closed]" : "]");
    }
}
