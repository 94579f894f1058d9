package io.overlay.tun;

import java.nio.ByteBuffer;

/**
 * What the kernel reports about one network interface in an {@code RTM_NEWLINK} answer: index, name, kind
 * ({@code IFLA_INFO_KIND}) and, for TUN/TAP devices, the {@code IFLA_TUN_*} data (linux/if_link.h).
 *
 * @param index the interface index
 * @param name the interface name
 * @param mtu the MTU in bytes, 0 if not reported
 * @param flags the {@code ifi_flags} ({@code IFF_UP} = 0x1 ...)
 * @param kind the link kind such as {@code "tun"}, {@code "veth"}, {@code "dummy"}, {@code "bridge"}; {@code null}
 *     for devices without one (e.g. loopback or physical interfaces)
 * @param tunType for kind {@code tun}: 1 ({@code IFF_TUN}) or 2 ({@code IFF_TAP}); 0 otherwise
 * @param multiQueue for kind {@code tun}: whether it was created with {@code IFF_MULTI_QUEUE}
 * @param persistent for kind {@code tun}: whether it outlives its descriptors ({@code ip tuntap add} makes it so)
 * @param queues for kind {@code tun}: the number of attached queues
 */
record LinkInfo(int index, String name, int mtu, int flags, String kind, int tunType, boolean multiQueue,
                boolean persistent, int queues) {

    /**
     * Returns whether this is a layer-3 TUN device (not TAP, not another kind).
     *
     * @return {@code true} for kind {@code tun} with type {@code IFF_TUN}
     */
    boolean isTun() {
        return "tun".equals(kind) && tunType == Ifreq.IFF_TUN;
    }

    /**
     * Describes the device's kind for error messages, e.g. {@code "a veth device"}, {@code "a TAP device"}.
     *
     * @return a short noun phrase
     */
    String describeKind() {
        if ("tun".equals(kind)) {
            return tunType == Ifreq.IFF_TAP ? "a TAP device" : "a TUN device";
        }
        return kind == null ? "a device without a link kind (physical or loopback)" : "a " + kind + " device";
    }

    /**
     * Parses an {@code RTM_NEWLINK} message.
     *
     * @param b a native-order buffer holding the message
     * @param start the offset of its {@code nlmsghdr}
     * @return the parsed link
     */
    static LinkInfo parse(final ByteBuffer b, final int start) {
        final int end = start + b.getInt(start);
        final int ifi = start + NetlinkMessageWriter.HEADER_SIZE;
        final int index = b.getInt(ifi + 4);
        final int flags = b.getInt(ifi + 8);
        final int attrs = ifi + Rtnetlink.IFINFOMSG_SIZE;
        final int nameAt = NetlinkAttributes.find(b, attrs, end, Rtnetlink.IFLA_IFNAME);
        final String name = nameAt < 0 ? "" : NetlinkAttributes.string(b, nameAt);
        final int mtuAt = NetlinkAttributes.find(b, attrs, end, Rtnetlink.IFLA_MTU);
        final int mtu = mtuAt < 0 ? 0 : b.getInt(mtuAt + NetlinkMessageWriter.ATTR_HEADER_SIZE);
        String kind = null;
        int tunType = 0;
        boolean multiQueue = false;
        boolean persistent = false;
        int queues = 0;
        final int linkInfo = NetlinkAttributes.find(b, attrs, end, Rtnetlink.IFLA_LINKINFO);
        if (linkInfo >= 0) {
            final int liStart = linkInfo + NetlinkMessageWriter.ATTR_HEADER_SIZE;
            final int liEnd = linkInfo + NetlinkAttributes.length(b, linkInfo);
            final int kindAt = NetlinkAttributes.find(b, liStart, liEnd, Rtnetlink.IFLA_INFO_KIND);
            kind = kindAt < 0 ? null : NetlinkAttributes.string(b, kindAt);
            final int data = NetlinkAttributes.find(b, liStart, liEnd, Rtnetlink.IFLA_INFO_DATA);
            if ("tun".equals(kind) && data >= 0) {
                final int dStart = data + NetlinkMessageWriter.ATTR_HEADER_SIZE;
                final int dEnd = data + NetlinkAttributes.length(b, data);
                tunType = NetlinkAttributes.u8(b, NetlinkAttributes.find(b, dStart, dEnd, Rtnetlink.IFLA_TUN_TYPE));
                multiQueue = NetlinkAttributes.u8(b,
                    NetlinkAttributes.find(b, dStart, dEnd, Rtnetlink.IFLA_TUN_MULTI_QUEUE)) != 0;
                persistent = NetlinkAttributes.u8(b,
                    NetlinkAttributes.find(b, dStart, dEnd, Rtnetlink.IFLA_TUN_PERSIST)) != 0;
                final int q = NetlinkAttributes.find(b, dStart, dEnd, Rtnetlink.IFLA_TUN_NUM_QUEUES);
                queues = q < 0 ? 0 : b.getInt(q + NetlinkMessageWriter.ATTR_HEADER_SIZE);
            }
        }
        return new LinkInfo(index, name, mtu, flags, kind, tunType, multiQueue, persistent, queues);
    }
}
