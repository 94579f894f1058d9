package io.overlay.tun;

import java.nio.ByteBuffer;

/**
 * One IPv4 address from an {@code RTM_NEWADDR} answer (linux/if_addr.h).
 *
 * @param index the interface index
 * @param address the local address ({@code IFA_LOCAL}, else {@code IFA_ADDRESS}), int form
 * @param prefixLength the prefix length in bits
 * @param flags the address flags ({@code IFA_FLAGS} when present, else {@code ifa_flags})
 */
record AddressInfo(int index, int address, int prefixLength, int flags) {
    /**
     * Returns whether the kernel marks the address secondary.
     *
     * @return {@code true} if {@code IFA_F_SECONDARY} is set
     */
    boolean secondary() {
        return (flags & Rtnetlink.IFA_F_SECONDARY) != 0;
    }

    /**
     * Parses an {@code RTM_NEWADDR} message of family {@code AF_INET}.
     *
     * @param b a native-order buffer holding the message
     * @param start the offset of its {@code nlmsghdr}
     * @return the address, or {@code null} if the message is not IPv4 or carries no address
     */
    static AddressInfo parse(final ByteBuffer b, final int start) {
        final int end = start + b.getInt(start);
        final int ifa = start + NetlinkMessageWriter.HEADER_SIZE;
        if ((b.get(ifa) & 0xff) != Rtnetlink.AF_INET) {
            return null;
        }
        final int attrs = ifa + Rtnetlink.IFADDRMSG_SIZE;
        int local = NetlinkAttributes.find(b, attrs, end, Rtnetlink.IFA_LOCAL);
        if (local < 0) {
            local = NetlinkAttributes.find(b, attrs, end, Rtnetlink.IFA_ADDRESS);
        }
        if (local < 0) {
            return null;
        }
        final int flagsAt = NetlinkAttributes.find(b, attrs, end, Rtnetlink.IFA_FLAGS);
        final int flags = flagsAt < 0 ? b.get(ifa + 2) & 0xff
            : b.getInt(flagsAt + NetlinkMessageWriter.ATTR_HEADER_SIZE);
        return new AddressInfo(b.getInt(ifa + 4), NetlinkAttributes.ipv4(b, local), b.get(ifa + 1) & 0xff, flags);
    }
}
