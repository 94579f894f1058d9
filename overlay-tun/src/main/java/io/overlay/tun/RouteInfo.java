package io.overlay.tun;

import java.nio.ByteBuffer;

/**
 * One IPv4 route from an {@code RTM_NEWROUTE} answer (linux/rtnetlink.h).
 *
 * @param destination the destination prefix's address ({@code RTA_DST}; 0 for a default route), int form
 * @param destinationLength the destination prefix length in bits ({@code rtm_dst_len})
 * @param table the table id ({@code RTA_TABLE}, else {@code rtm_table}); 254 is main
 * @param type the route type ({@code rtm_type}); 1 is unicast
 * @param outputIndex the output interface index ({@code RTA_OIF}); 0 when absent (multipath, blackhole)
 * @param metric the metric ({@code RTA_PRIORITY}), 0 when absent; unsigned 32-bit
 */
record RouteInfo(int destination, int destinationLength, int table, int type, int outputIndex, long metric) {
    /**
     * Parses an {@code RTM_NEWROUTE} message.
     *
     * @param b a native-order buffer holding the message
     * @param start the offset of its {@code nlmsghdr}
     * @return the route, or {@code null} if it is not IPv4
     */
    static RouteInfo parse(final ByteBuffer b, final int start) {
        final int end = start + b.getInt(start);
        final int rtm = start + NetlinkMessageWriter.HEADER_SIZE;
        if ((b.get(rtm) & 0xff) != Rtnetlink.AF_INET) {
            return null;
        }
        final int attrs = rtm + Rtnetlink.RTMSG_SIZE;
        final int dst = NetlinkAttributes.find(b, attrs, end, Rtnetlink.RTA_DST);
        final int tableAt = NetlinkAttributes.find(b, attrs, end, Rtnetlink.RTA_TABLE);
        final int oif = NetlinkAttributes.find(b, attrs, end, Rtnetlink.RTA_OIF);
        final int prio = NetlinkAttributes.find(b, attrs, end, Rtnetlink.RTA_PRIORITY);
        return new RouteInfo(dst < 0 ? 0 : NetlinkAttributes.ipv4(b, dst), b.get(rtm + 1) & 0xff,
            tableAt < 0 ? b.get(rtm + 4) & 0xff : u32(b, tableAt), b.get(rtm + 7) & 0xff,
            oif < 0 ? 0 : u32(b, oif), prio < 0 ? 0 : Integer.toUnsignedLong(u32(b, prio)));
    }

    private static int u32(final ByteBuffer b, final int at) {
        return b.getInt(at + NetlinkMessageWriter.ATTR_HEADER_SIZE);
    }
}
