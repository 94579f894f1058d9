package io.overlay.tun;

import io.overlay.core.spi.BridgeConfigurator;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates or reuses the Linux bridge that local containers attach to ({@code lxcbr0}, {@code docker0}...) through
 * rtnetlink only, no external programs: what {@code ip link add NAME type bridge}, {@code ip link set NAME mtu M up},
 * {@code ip addr replace A/L dev NAME} and {@code ip addr del} do. Docker and CNI do the same with flannel's
 * {@code subnet.env} ({@code --bip=${FLANNEL_SUBNET} --mtu=${FLANNEL_MTU}},
 * {@code docs/flannel-compatibility.md#subnet-file}).
 *
 * <p>{@link #ensureBridge} works in the network namespace of the calling thread (see {@link NetnsThread}). Found by
 * {@link java.util.ServiceLoader} as the {@link BridgeConfigurator} of {@code overlay-tun}. Thread-safe: every call
 * opens its own rtnetlink socket.
 */
public final class LinuxBridgeConfigurator implements BridgeConfigurator {
    private static final Logger LOG = LoggerFactory.getLogger(LinuxBridgeConfigurator.class);
    /** The {@code IFLA_INFO_KIND} of a Linux bridge. */
    static final String KIND = "bridge";
    private static final byte[] KIND_BYTES = KIND.getBytes(StandardCharsets.US_ASCII);
    /** Subnet routes already named at WARN as taken by someone else's route ("bridge subnet"): once each. */
    private final java.util.Set<String> warnedElsewhere = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Creates the configurator (the {@link java.util.ServiceLoader} entry point). */
    public LinuxBridgeConfigurator() {
    }

    /**
     * {@inheritDoc}
     *
     * <p>In order: look the name up ({@code RTM_GETLINK}); create a bridge when missing ({@code RTM_NEWLINK} with
     * {@code IFLA_LINKINFO}/{@code IFLA_INFO_KIND "bridge"} and the MTU); set the MTU explicitly, one byte off and
     * back when it is already right, so that the kernel stops adjusting it to the ports' MTU (attaching a 1500-byte
     * port would otherwise raise it to 1500); remove every other IPv4 address of the bridge inside {@code network}
     * ({@code RTM_DELADDR}: an earlier subnet); add {@code address/subnet.length()} ({@code RTM_NEWADDR}, replace);
     * bring the link up; add the subnet route ({@code proto kernel scope link}) when someone deleted it and left the
     * address (EEXIST, a route of someone else's for the subnet, is left with a WARN). Other addresses outside
     * {@code network} (an operator's) are left alone. Repeating the call with the same arguments
     * leaves the same state.
     *
     * @throws TunException with reason {@link TunException.Reason#INVALID_NAME} for a bad name,
     *     {@link TunException.Reason#NAME_TAKEN} when a device of another kind has the name,
     *     {@link TunException.Reason#PERMISSION_DENIED} without CAP_NET_ADMIN, and
     *     {@link TunException.Reason#CONFIGURATION_FAILED} naming the step the kernel refused
     * @throws IllegalArgumentException if {@code address} is not inside {@code subnet}, {@code subnet} not inside
     *     {@code network}, or {@code mtu} outside 68..65535
     */
    @Override
    public void ensureBridge(final String name, final Ipv4Prefix subnet, final int address, final Ipv4Prefix network,
                             final int mtu) throws TunException {
        ensureBridge(name, subnet, address, network, mtu, List.of());
    }

    /**
     * {@inheritDoc}
     *
     * <p>As the five-argument form, removing also every IPv4 address of the bridge inside one of
     * {@code earlierSubnets} (other than {@code address}/{@code subnet.length()}).
     *
     * @throws TunException as the five-argument form
     * @throws IllegalArgumentException as the five-argument form
     */
    @Override
    public void ensureBridge(final String name, final Ipv4Prefix subnet, final int address, final Ipv4Prefix network,
                             final int mtu, final Collection<Ipv4Prefix> earlierSubnets) throws TunException {
        final byte[] nameBytes = InterfaceName.validate(name);
        if (InterfaceName.isTemplate(name)) {
            throw new TunException(TunException.Reason.INVALID_NAME, 0, "invalid bridge name \"" + name
                + "\": a bridge needs a fixed name, not a template with %d");
        }
        if (!subnet.contains(address)) {
            throw new IllegalArgumentException("bridge address " + Ipv4.format(address) + " is not inside subnet "
                + subnet);
        }
        if (!network.contains(subnet)) {
            throw new IllegalArgumentException("subnet " + subnet + " is not inside network " + network);
        }
        Ipv4.checkMtu("bridge MTU", mtu);
        try (NetlinkSocket nl = NetlinkSocket.open()) {
            LinkInfo link = nl.getLink(nameBytes);
            if (link == null) {
                create(nl, name, nameBytes, mtu);
                link = nl.getLink(nameBytes);
                if (link == null) {
                    throw new TunException(TunException.Reason.CONFIGURATION_FAILED, 0, "bridge \"" + name
                        + "\" was created but is gone again (deleted by someone else?)");
                }
                LOG.info("Created bridge {} (ifindex {})", name, link.index());
            } else if (!KIND.equals(link.kind())) {
                throw new TunException(TunException.Reason.NAME_TAKEN, 0, "cannot use \"" + name
                    + "\" as the container bridge: it is " + link.describeKind() + " (ifindex " + link.index()
                    + "), not a bridge; choose another --bridge name or delete that interface");
            }
            pinMtu(nl, name, link, mtu);
            boolean present = false;
            final List<int[]> addresses = nl.ipv4Addresses(link.index());
            for (int[] a : addresses) {
                if (a[0] == address && a[1] == subnet.length()) {
                    present = true;
                } else if (network.contains(a[0]) || inAny(earlierSubnets, a[0])) {
                    check(nl, Rtnetlink.deleteAddress(nl.nextSequence(), link.index(), a[0], a[1]), name,
                        "remove stale address " + Ipv4.format(a[0]) + "/" + a[1]);
                    LOG.info("Removed stale address {}/{} from bridge {}", Ipv4.format(a[0]), a[1], name);
                }
            }
            if (!present) {
                check(nl, Rtnetlink.newAddress(nl.nextSequence(), link.index(), address, subnet.length()), name,
                    "add address " + Ipv4.format(address) + "/" + subnet.length());
            }
            if ((link.flags() & Rtnetlink.IFF_UP) == 0) {
                check(nl, Rtnetlink.setUp(nl.nextSequence(), link.index()), name, "bring the link up");
            }
            // The kernel adds the subnet route with the address or as the link comes up, but not again when only the
            // route was deleted (ip route flush): without it the host sends the containers' traffic back to the TUN.
            if (!hasSubnetRoute(nl, link.index(), subnet, address)) {
                final int errno = nl.execute(Rtnetlink.newSubnetRoute(nl.nextSequence(), link.index(), subnet,
                    address));
                if (errno == LibC.EEXIST && !warnedElsewhere.add(name + " " + subnet)) {
                    LOG.debug("route {} still does not leave through bridge {}", subnet, name);
                } else if (errno == LibC.EEXIST) {
                    LOG.warn("route {} already exists but does not leave through bridge {}; left as it is, so the "
                        + "containers on it are not reached: delete it (ip route del {}) and restart", subnet, name,
                        subnet);
                } else if (errno != 0) {
                    throw failure(nl, name, "add route " + subnet, errno);
                }
            }
            LOG.info("Bridge {} has {}/{}, MTU {}, up", name, Ipv4.format(address), subnet.length(), mtu);
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Three netlink requests in the calling thread's network namespace: the link by name ({@code RTM_GETLINK}), the
     * IPv4 addresses and the route of the subnet ({@code ip route get fibmatch}, listing the routes only when another
     * entry matches). An interface of another kind with the name is reported as such ({@link #ensureBridge} then
     * refuses it, naming it).
     *
     * @throws TunException if the kernel cannot be asked
     */
    @Override
    public List<String> drift(final String name, final Ipv4Prefix subnet, final int address, final int mtu)
        throws TunException {
        final List<String> found = new ArrayList<>();
        try (NetlinkSocket nl = NetlinkSocket.open()) {
            final LinkInfo link = nl.getLink(InterfaceName.validate(name));
            if (link == null) {
                found.add("bridge " + name + " missing");
                return found;
            }
            if (!KIND.equals(link.kind())) {
                found.add(name + " is " + link.describeKind() + ", not a bridge");
                return found;
            }
            if ((link.flags() & Rtnetlink.IFF_UP) == 0) {
                found.add("link down");
            }
            if (link.mtu() != mtu) {
                found.add("MTU " + link.mtu() + " instead of " + mtu);
            }
            boolean present = false;
            for (int[] a : nl.ipv4Addresses(link.index())) {
                present |= a[0] == address && a[1] == subnet.length();
            }
            if (!present) {
                found.add("address " + Ipv4.format(address) + "/" + subnet.length() + " missing");
            }
            if (!hasSubnetRoute(nl, link.index(), subnet, address)) {
                found.add("route " + subnet + " missing");
            }
        }
        return found;
    }

    /**
     * Whether the main table routes {@code subnet} through the bridge: one {@code ip route get fibmatch} for an
     * address of the subnet other than the bridge's own (which is a local route); only when that finds another entry
     * (a more specific route of someone else's) are the routes listed.
     */
    private static boolean hasSubnetRoute(final NetlinkSocket nl, final int index, final Ipv4Prefix subnet,
                                          final int address) throws TunException {
        if (subnet.length() <= 30) {
            final int probe = subnet.address() + 1 == address ? subnet.address() + 2 : subnet.address() + 1;
            if (isSubnetRoute(nl.matchingRoute(probe), index, subnet)) {
                return true;
            }
        }
        for (RouteInfo r : nl.ipv4Routes()) {
            if (isSubnetRoute(r, index, subnet)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isSubnetRoute(final RouteInfo r, final int index, final Ipv4Prefix subnet) {
        return r != null && r.table() == Rtnetlink.RT_TABLE_MAIN && r.destination() == subnet.address()
            && r.destinationLength() == subnet.length() && r.outputIndex() == index;
    }

    private static boolean inAny(final Collection<Ipv4Prefix> subnets, final int address) {
        for (Ipv4Prefix s : subnets) {
            if (s.contains(address)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Sets the bridge's MTU so that it sticks. A bridge whose MTU was never changed through {@code ndo_change_mtu}
     * follows its ports: attaching a port, or a port's MTU change, sets it to the smallest port MTU
     * ({@code br_mtu_auto_adjust} in the kernel's {@code net/bridge/br_if.c}), so one 1500-byte veth takes it from the
     * overlay MTU to 1500. An MTU given at creation ({@code IFLA_MTU} in the create request) is written without
     * {@code ndo_change_mtu}, and setting the MTU a device already has returns before it ({@code dev_set_mtu_ext} in
     * {@code net/core/dev.c}); only a real change reaches {@code br_change_mtu}, which sets
     * {@code BROPT_MTU_SET_BY_USER} and so stops the adjusting. So a bridge already at {@code mtu} is set one byte
     * off and back (two netlink requests; the bridge's own MTU only matters for packets the host sends through it).
     */
    private static void pinMtu(final NetlinkSocket nl, final String name, final LinkInfo link, final int mtu)
        throws TunException {
        if (link.mtu() == mtu) {
            final int other = mtu > Ipv4.MIN_MTU ? mtu - 1 : mtu + 1;
            check(nl, Rtnetlink.setMtu(nl.nextSequence(), link.index(), other), name, "set MTU " + other);
        }
        check(nl, Rtnetlink.setMtu(nl.nextSequence(), link.index(), mtu), name, "set MTU " + mtu);
    }

    /** {@code RTM_NEWLINK} with {@code NLM_F_CREATE|NLM_F_EXCL}; EEXIST (a concurrent creator) is accepted. */
    private static void create(final NetlinkSocket nl, final String name, final byte[] nameBytes, final int mtu)
        throws TunException {
        final int errno = nl.execute(newBridge(nl.nextSequence(), nameBytes, mtu));
        if (errno != 0 && errno != LibC.EEXIST) {
            throw failure(nl, name, "create the bridge", errno);
        }
    }

    /**
     * Encodes {@code RTM_NEWLINK} creating a bridge ({@code ip link add NAME mtu M type bridge}): an
     * {@code ifinfomsg} for index 0, then {@code IFLA_IFNAME}, {@code IFLA_MTU} and the nested
     * {@code IFLA_LINKINFO} holding {@code IFLA_INFO_KIND "bridge"}.
     *
     * @param seq the sequence number
     * @param nameBytes the bridge name's bytes without NUL
     * @param mtu the MTU in bytes
     * @return the request
     */
    static ByteBuffer newBridge(final int seq, final byte[] nameBytes, final int mtu) {
        // IFLA_INFO_KIND attribute: 4-byte header + "bridge\0" (7 bytes) = 11, padded to 12.
        final int kindLength = NetlinkMessageWriter.ATTR_HEADER_SIZE + KIND_BYTES.length + 1;
        final int nestLength = NetlinkMessageWriter.ATTR_HEADER_SIZE + ((kindLength + 3) & ~3);
        return new NetlinkMessageWriter(128, Rtnetlink.RTM_NEWLINK,
            Rtnetlink.NLM_F_REQUEST | Rtnetlink.NLM_F_ACK | Rtnetlink.NLM_F_CREATE | Rtnetlink.NLM_F_EXCL, seq)
            .u8(Rtnetlink.AF_UNSPEC).u8(0).u16(0) // family, pad, ifi_type
            .u32(0).u32(0).u32(0)                 // ifi_index, ifi_flags, ifi_change
            .attrString(Rtnetlink.IFLA_IFNAME, nameBytes)
            .attrU32(Rtnetlink.IFLA_MTU, mtu)
            .u16(nestLength).u16(Rtnetlink.IFLA_LINKINFO) // nest header; attrU32 left the position aligned
            .attrString(Rtnetlink.IFLA_INFO_KIND, KIND_BYTES)
            .finish();
    }

    private static void check(final NetlinkSocket nl, final ByteBuffer request, final String name, final String step)
        throws TunException {
        final int errno = nl.execute(request);
        if (errno != 0) {
            throw failure(nl, name, step, errno);
        }
    }

    private static TunException failure(final NetlinkSocket nl, final String name, final String step,
                                        final int errno) {
        final String what = "bridge \"" + name + "\": cannot " + step + ": " + LibC.describe(errno)
            + nl.kernelSuffix();
        if (errno == LibC.EPERM || errno == LibC.EACCES) {
            return new TunException(TunException.Reason.PERMISSION_DENIED, errno, what
                + "; configuring a bridge needs root or CAP_NET_ADMIN");
        }
        return new TunException(TunException.Reason.CONFIGURATION_FAILED, errno, what);
    }
}
