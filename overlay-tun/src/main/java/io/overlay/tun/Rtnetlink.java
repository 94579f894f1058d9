package io.overlay.tun;

import io.overlay.core.net.Ipv4Prefix;
import java.nio.ByteBuffer;

/**
 * Encodes the rtnetlink requests overlay needs, byte for byte as {@code ip} (iproute2) and flannel's netlink library
 * send them. Constants come from {@code linux/netlink.h}, {@code linux/rtnetlink.h}, {@code linux/if_addr.h} and
 * {@code linux/if_link.h}. Every request asks for an acknowledgement ({@code NLM_F_ACK}); the answer is read by
 * {@link NetlinkSocket}.
 */
final class Rtnetlink {
    /** {@code NLMSG_ERROR}: an error or (error 0) an acknowledgement. */
    static final int NLMSG_ERROR = 2;
    /** {@code NLMSG_DONE}: end of a dump. */
    static final int NLMSG_DONE = 3;
    /** {@code RTM_NEWLINK}: create or change a link. */
    static final int RTM_NEWLINK = 16;
    /** {@code RTM_GETLINK}: query a link. */
    static final int RTM_GETLINK = 18;
    /** {@code RTM_NEWADDR}: add an address. */
    static final int RTM_NEWADDR = 20;
    /** {@code RTM_DELADDR}: remove an address. */
    static final int RTM_DELADDR = 21;
    /** {@code RTM_GETADDR}: list addresses. */
    static final int RTM_GETADDR = 22;
    /** {@code RTM_NEWROUTE}: add a route. */
    static final int RTM_NEWROUTE = 24;
    /** {@code RTM_GETROUTE}: list routes. */
    static final int RTM_GETROUTE = 26;

    /** {@code NLM_F_REQUEST}. */
    static final int NLM_F_REQUEST = 0x1;
    /** {@code NLM_F_ACK}. */
    static final int NLM_F_ACK = 0x4;
    /** {@code NLM_F_DUMP} ({@code NLM_F_ROOT|NLM_F_MATCH}). */
    static final int NLM_F_DUMP = 0x300;
    /** {@code NLM_F_REPLACE}. */
    static final int NLM_F_REPLACE = 0x100;
    /** {@code NLM_F_EXCL}. */
    static final int NLM_F_EXCL = 0x200;
    /** {@code NLM_F_CREATE}. */
    static final int NLM_F_CREATE = 0x400;
    /** {@code NLM_F_CAPPED} in an ack: the request's payload was not echoed. */
    static final int NLM_F_CAPPED = 0x100;
    /** {@code NLM_F_ACK_TLVS} in an ack: extended-ack attributes follow. */
    static final int NLM_F_ACK_TLVS = 0x200;
    /** {@code NLMSGERR_ATTR_MSG}: the extended ack's error text. */
    static final int NLMSGERR_ATTR_MSG = 1;

    /** {@code AF_UNSPEC}. */
    static final int AF_UNSPEC = 0;
    /** {@code AF_INET}. */
    static final int AF_INET = 2;

    /** {@code IFA_ADDRESS}: the prefix/peer address of an interface address. */
    static final int IFA_ADDRESS = 1;
    /** {@code IFA_LOCAL}: the local address of an interface address. */
    static final int IFA_LOCAL = 2;
    /** {@code IFA_FLAGS}: u32 address flags, a superset of {@code ifa_flags}. */
    static final int IFA_FLAGS = 8;
    /** {@code IFA_F_SECONDARY}: a further address in a prefix the interface already has a primary address in. */
    static final int IFA_F_SECONDARY = 0x01;

    /** {@code IFF_UP}, in {@code ifi_flags}/{@code ifi_change}. */
    static final int IFF_UP = 0x1;
    /** {@code IFLA_IFNAME}. */
    static final int IFLA_IFNAME = 3;
    /** {@code IFLA_MTU}. */
    static final int IFLA_MTU = 4;
    /** {@code IFLA_TXQLEN}: the transmit queue length in packets (u32). */
    static final int IFLA_TXQLEN = 13;
    /** {@code IFLA_GSO_MAX_SEGS} (u32). */
    static final int IFLA_GSO_MAX_SEGS = 40;
    /** {@code IFLA_LINKINFO} (nested). */
    static final int IFLA_LINKINFO = 18;
    /** {@code IFLA_INFO_KIND} inside {@code IFLA_LINKINFO}, e.g. {@code "tun"}, {@code "veth"}. */
    static final int IFLA_INFO_KIND = 1;
    /** {@code IFLA_INFO_DATA} inside {@code IFLA_LINKINFO} (nested, kind-specific). */
    static final int IFLA_INFO_DATA = 2;
    /** {@code IFLA_TUN_TYPE} (u8: IFF_TUN or IFF_TAP) inside a tun device's {@code IFLA_INFO_DATA}. */
    static final int IFLA_TUN_TYPE = 3;
    /** {@code IFLA_TUN_PERSIST} (u8). */
    static final int IFLA_TUN_PERSIST = 6;
    /** {@code IFLA_TUN_MULTI_QUEUE} (u8). */
    static final int IFLA_TUN_MULTI_QUEUE = 7;
    /** {@code IFLA_TUN_NUM_QUEUES} (u32). */
    static final int IFLA_TUN_NUM_QUEUES = 8;

    /** {@code RT_TABLE_MAIN}. */
    static final int RT_TABLE_MAIN = 254;
    /** {@code RTPROT_BOOT}: the protocol {@code ip route add} and flannel's netlink library use by default. */
    static final int RTPROT_BOOT = 3;
    /** {@code RT_SCOPE_UNIVERSE}: flannel adds the Network route with scope universe. */
    static final int RT_SCOPE_UNIVERSE = 0;
    /** {@code RTPROT_KERNEL}: the protocol of the subnet route the kernel adds with an address. */
    static final int RTPROT_KERNEL = 2;
    /** {@code RT_SCOPE_LINK}: the scope of the subnet route the kernel adds with an address. */
    static final int RT_SCOPE_LINK = 253;
    /** {@code RTN_UNICAST}. */
    static final int RTN_UNICAST = 1;
    /** {@code RTA_DST}. */
    static final int RTA_DST = 1;
    /** {@code RTA_OIF}. */
    static final int RTA_OIF = 4;
    /** {@code RTA_PREFSRC}: the preferred source address of a route. */
    static final int RTA_PREFSRC = 7;
    /** {@code RTA_PRIORITY}: the route metric (u32; absent means 0). */
    static final int RTA_PRIORITY = 6;
    /** {@code RTA_TABLE}: the table id (u32), authoritative over {@code rtm_table} for ids above 255. */
    static final int RTA_TABLE = 15;
    /** Size of {@code struct rtmsg}, in bytes. */
    static final int RTMSG_SIZE = 12;

    /** Size of {@code struct ifinfomsg}, in bytes. */
    static final int IFINFOMSG_SIZE = 16;
    /** Size of {@code struct ifaddrmsg}, in bytes. */
    static final int IFADDRMSG_SIZE = 8;

    private static final int CAPACITY = 128;

    private Rtnetlink() {
    }

    /**
     * {@code RTM_GETLINK} for one interface by name ({@code ip link show NAME}).
     *
     * @param seq the sequence number
     * @param nameBytes the interface name's bytes, without NUL
     * @return the request
     */
    static ByteBuffer getLink(final int seq, final byte[] nameBytes) {
        return ifinfomsg(RTM_GETLINK, NLM_F_REQUEST, seq, 0, 0, 0)
            .attrString(IFLA_IFNAME, nameBytes).finish();
    }

    /**
     * {@code RTM_NEWLINK} setting the MTU of an existing link ({@code ip link set DEV mtu N}).
     *
     * @param seq the sequence number
     * @param ifIndex the interface index
     * @param mtu the MTU in bytes
     * @return the request
     */
    static ByteBuffer setMtu(final int seq, final int ifIndex, final int mtu) {
        return ifinfomsg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifIndex, 0, 0).attrU32(IFLA_MTU, mtu).finish();
    }

    /**
     * {@code RTM_NEWLINK} setting the transmit queue length of an existing link ({@code ip link set DEV txqueuelen
     * N}); for a TUN that is the ring of packets the kernel holds for the reader, per queue.
     *
     * @param seq the sequence number
     * @param ifIndex the interface index
     * @param packets the queue length in packets (u32)
     * @return the request
     */
    static ByteBuffer setTxQueueLength(final int seq, final int ifIndex, final int packets) {
        return ifinfomsg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifIndex, 0, 0)
            .attrU32(IFLA_TXQLEN, packets).finish();
    }

    /**
     * {@code RTM_NEWLINK} limiting the segments of the GSO packets the stack hands to an existing link
     * ({@code ip link set DEV gso_max_segs N}).
     *
     * @param seq the sequence number
     * @param ifIndex the interface index
     * @param segments the most segments per GSO packet
     * @return the request
     */
    static ByteBuffer setGsoMaxSegments(final int seq, final int ifIndex, final int segments) {
        return ifinfomsg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifIndex, 0, 0)
            .attrU32(IFLA_GSO_MAX_SEGS, segments).finish();
    }

    /**
     * {@code RTM_NEWLINK} bringing an existing link up ({@code ip link set DEV up}): {@code ifi_flags} and
     * {@code ifi_change} both {@code IFF_UP}.
     *
     * @param seq the sequence number
     * @param ifIndex the interface index
     * @return the request
     */
    static ByteBuffer setUp(final int seq, final int ifIndex) {
        return ifinfomsg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifIndex, IFF_UP, IFF_UP).finish();
    }

    /**
     * {@code RTM_NEWADDR} adding (or, if present, refreshing) an IPv4 address ({@code ip addr replace A/L dev DEV}):
     * {@code IFA_LOCAL} and {@code IFA_ADDRESS} both the address, as {@code ip} sends them.
     *
     * @param seq the sequence number
     * @param ifIndex the interface index
     * @param address the address (int form, see {@link io.overlay.core.net.Ipv4})
     * @param prefixLength the prefix length in bits, 0..32
     * @return the request
     */
    static ByteBuffer newAddress(final int seq, final int ifIndex, final int address, final int prefixLength) {
        return ifaddrmsg(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq, prefixLength,
            ifIndex).attrIpv4(IFA_LOCAL, address).attrIpv4(IFA_ADDRESS, address).finish();
    }

    /**
     * {@code RTM_DELADDR} removing an IPv4 address ({@code ip addr del A/L dev DEV}), matched by its local address.
     *
     * @param seq the sequence number
     * @param ifIndex the interface index
     * @param address the local address (int form)
     * @param prefixLength the prefix length in bits
     * @return the request
     */
    static ByteBuffer deleteAddress(final int seq, final int ifIndex, final int address, final int prefixLength) {
        return ifaddrmsg(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq, prefixLength, ifIndex)
            .attrIpv4(IFA_LOCAL, address).finish();
    }

    /**
     * {@code RTM_GETADDR} dumping all IPv4 addresses of the namespace ({@code ip -4 addr show}); the caller filters by
     * interface index.
     *
     * @param seq the sequence number
     * @return the request
     */
    static ByteBuffer dumpAddresses(final int seq) {
        return ifaddrmsg(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0, 0).finish();
    }

    /**
     * {@code RTM_GETLINK} dumping every link of the namespace ({@code ip link show}).
     *
     * @param seq the sequence number
     * @return the request
     */
    static ByteBuffer dumpLinks(final int seq) {
        return ifinfomsg(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0, 0, 0).finish();
    }

    /**
     * {@code RTM_GETROUTE} dumping the IPv4 routes of every table ({@code ip -4 route show table all}).
     *
     * @param seq the sequence number
     * @return the request
     */
    static ByteBuffer dumpRoutes(final int seq) {
        return new NetlinkMessageWriter(CAPACITY, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq)
            .u8(AF_INET).u8(0).u8(0).u8(0) // family, dst_len, src_len, tos
            .u8(0).u8(0).u8(0).u8(0) // table, protocol, scope, type
            .u32(0).finish(); // rtm_flags
    }

    /**
     * {@code RTM_GETROUTE} asking which route the kernel would use to reach one address ({@code ip route get A}):
     * {@code rtm_dst_len} 32 and {@code RTA_DST}; answered by one {@code RTM_NEWROUTE} or an error.
     *
     * @param seq the sequence number
     * @param address the destination (int form)
     * @return the request
     */
    static ByteBuffer getRoute(final int seq, final int address) {
        return new NetlinkMessageWriter(CAPACITY, RTM_GETROUTE, NLM_F_REQUEST, seq)
            .u8(AF_INET).u8(32).u8(0).u8(0) // family, dst_len, src_len, tos
            .u8(0).u8(0).u8(0).u8(0) // table, protocol, scope, type
            .u32(0) // rtm_flags
            .attrIpv4(RTA_DST, address).finish();
    }

    /** {@code RTM_F_FIB_MATCH} (linux/rtnetlink.h, kernel 4.13+): answer with the matching FIB entry's prefix. */
    static final int RTM_F_FIB_MATCH = 0x2000;

    /**
     * {@code RTM_GETROUTE} asking which routing table entry matches one address ({@code ip route get fibmatch A}):
     * answered by one {@code RTM_NEWROUTE} whose destination and prefix length are the entry's, or an error.
     *
     * @param seq the sequence number
     * @param address the destination (int form)
     * @return the request
     */
    static ByteBuffer getMatchingRoute(final int seq, final int address) {
        return new NetlinkMessageWriter(CAPACITY, RTM_GETROUTE, NLM_F_REQUEST, seq)
            .u8(AF_INET).u8(32).u8(0).u8(0) // family, dst_len, src_len, tos
            .u8(0).u8(0).u8(0).u8(0) // table, protocol, scope, type
            .u32(RTM_F_FIB_MATCH) // rtm_flags
            .attrIpv4(RTA_DST, address).finish();
    }

    /**
     * {@code RTM_NEWROUTE} adding a route to {@code destination} out of interface {@code ifIndex}, main table,
     * protocol boot, scope universe, unicast, as flannel's {@code RouteAdd} for the Network route
     * ({@code configureIface} in flannel v0.28.9 {@code pkg/backend/udp/udp_network_amd64.go});
     * {@code NLM_F_CREATE|NLM_F_EXCL}, so an existing route answers EEXIST.
     *
     * @param seq the sequence number
     * @param ifIndex the interface index
     * @param destination the destination prefix
     * @return the request
     */
    static ByteBuffer newRoute(final int seq, final int ifIndex, final Ipv4Prefix destination) {
        final NetlinkMessageWriter w = new NetlinkMessageWriter(CAPACITY, RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq)
            .u8(AF_INET).u8(destination.length()).u8(0).u8(0) // family, dst_len, src_len, tos
            .u8(RT_TABLE_MAIN).u8(RTPROT_BOOT).u8(RT_SCOPE_UNIVERSE).u8(RTN_UNICAST)
            .u32(0); // rtm_flags
        return w.attrIpv4(RTA_DST, destination.address()).attrU32(RTA_OIF, ifIndex).finish();
    }

    /**
     * {@code RTM_NEWROUTE} adding the subnet route the kernel adds with an address ({@code fib_add_ifaddr} in the
     * kernel's {@code net/ipv4/fib_frontend.c}): {@code subnet dev IF proto kernel scope link src ADDRESS}, main
     * table; {@code NLM_F_CREATE|NLM_F_EXCL}, so an existing route answers EEXIST. For when someone else deleted it
     * ({@code ip route flush}) and left the address, which the kernel then does not route to again.
     *
     * @param seq the sequence number
     * @param ifIndex the interface index
     * @param subnet the address's subnet
     * @param source the address (the route's preferred source)
     * @return the request
     */
    static ByteBuffer newSubnetRoute(final int seq, final int ifIndex, final Ipv4Prefix subnet, final int source) {
        final NetlinkMessageWriter w = new NetlinkMessageWriter(CAPACITY, RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq)
            .u8(AF_INET).u8(subnet.length()).u8(0).u8(0) // family, dst_len, src_len, tos
            .u8(RT_TABLE_MAIN).u8(RTPROT_KERNEL).u8(RT_SCOPE_LINK).u8(RTN_UNICAST)
            .u32(0); // rtm_flags
        return w.attrIpv4(RTA_DST, subnet.address()).attrU32(RTA_OIF, ifIndex).attrIpv4(RTA_PREFSRC, source)
            .finish();
    }

    private static NetlinkMessageWriter ifinfomsg(final int type, final int flags, final int seq, final int ifIndex,
                                                  final int ifFlags, final int change) {
        return new NetlinkMessageWriter(CAPACITY, type, flags, seq)
            .u8(AF_UNSPEC).u8(0).u16(0) // family, pad, ifi_type
            .u32(ifIndex).u32(ifFlags).u32(change);
    }

    private static NetlinkMessageWriter ifaddrmsg(final int type, final int flags, final int seq,
                                                  final int prefixLength, final int ifIndex) {
        return new NetlinkMessageWriter(CAPACITY, type, flags, seq)
            .u8(AF_INET).u8(prefixLength).u8(0).u8(0) // family, prefixlen, flags, scope universe
            .u32(ifIndex);
    }
}
