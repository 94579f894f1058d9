package io.overlay.tun;

import io.overlay.core.spi.InterfaceAddresses;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The Linux {@link InterfaceAddresses}: rtnetlink dumps ({@code RTM_GETLINK}, {@code RTM_GETADDR},
 * {@code RTM_GETROUTE}) in the calling thread's network namespace, so addresses come in the kernel's order with their
 * {@code IFA_F_SECONDARY} flag, as flanneld's netlink library reads them ({@code GetInterfaceIP4Addrs} in flannel
 * v0.28.9 {@code pkg/ip/iface.go}; {@code docs/flannel-compatibility.md#interface-selection}).
 *
 * <p>Found by {@link java.util.ServiceLoader}. Stateless and thread-safe: each call opens its own socket.
 */
public final class NetlinkInterfaceAddresses implements InterfaceAddresses {
    /** Creates the provider. Nothing is opened until a method is called. */
    public NetlinkInterfaceAddresses() {
    }

    /**
     * {@inheritDoc}
     *
     * @throws TunException if a dump fails (the message names it and the errno)
     */
    @Override
    public List<Address> ipv4Addresses() throws TunException {
        try (NetlinkSocket rtnl = NetlinkSocket.open()) {
            final Map<Integer, LinkInfo> links = linksByIndex(rtnl);
            final List<Address> result = new ArrayList<>();
            for (AddressInfo a : rtnl.ipv4Addresses()) {
                final LinkInfo link = links.get(a.index());
                if (link != null) {
                    result.add(new Address(link.name(), link.mtu(), a.address(), a.prefixLength(), a.secondary()));
                }
            }
            return result;
        }
    }

    /**
     * {@inheritDoc} Routes through several next hops ({@code RTA_MULTIPATH}, no {@code RTA_OIF}) are not considered.
     *
     * @throws TunException if a dump fails
     */
    @Override
    public Optional<String> defaultRouteInterface() throws TunException {
        try (NetlinkSocket rtnl = NetlinkSocket.open()) {
            final Map<Integer, LinkInfo> links = linksByIndex(rtnl);
            LinkInfo best = null;
            long bestMetric = Long.MAX_VALUE;
            for (RouteInfo r : rtnl.ipv4Routes()) {
                final LinkInfo link = links.get(r.outputIndex());
                if (r.destinationLength() == 0 && r.table() == Rtnetlink.RT_TABLE_MAIN
                    && r.type() == Rtnetlink.RTN_UNICAST && link != null && (link.flags() & Rtnetlink.IFF_UP) != 0
                    && r.metric() < bestMetric) {
                    best = link;
                    bestMetric = r.metric();
                }
            }
            return Optional.ofNullable(best).map(LinkInfo::name);
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws TunException if the dump fails
     */
    @Override
    public List<String> interfaceNames() throws TunException {
        try (NetlinkSocket rtnl = NetlinkSocket.open()) {
            return rtnl.links().stream().map(LinkInfo::name).toList();
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws TunException if the query fails other than with "unreachable", or the route's interface vanished
     */
    @Override
    public Optional<Route> routeTo(final int address) throws TunException {
        try (NetlinkSocket rtnl = NetlinkSocket.open()) {
            final int[] route = rtnl.routeTo(address);
            if (route == null) {
                return Optional.empty();
            }
            final LinkInfo link = linksByIndex(rtnl).get(route[0]);
            if (link == null) {
                throw new TunException(TunException.Reason.OTHER, 0, "the route to "
                    + io.overlay.core.net.Ipv4.format(address) + " leaves through interface index " + route[0]
                    + ", which no longer exists");
            }
            return Optional.of(new Route(link.name(), route[1]));
        }
    }

    private static Map<Integer, LinkInfo> linksByIndex(final NetlinkSocket rtnl) throws TunException {
        final Map<Integer, LinkInfo> links = new HashMap<>();
        for (LinkInfo l : rtnl.links()) {
            links.put(l.index(), l);
        }
        return links;
    }
}
