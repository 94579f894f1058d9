package io.overlay.tun;

import static io.overlay.testing.TestPackets.hex;
import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The rtnetlink requests byte for byte (x86-64: host order little-endian). Expected bytes are written from
 * linux/netlink.h, rtnetlink.h, if_addr.h and if_link.h: nlmsghdr | family header | attributes.
 */
class RtnetlinkTest {
    private static final int TUN = 5;

    @BeforeAll
    static void hostIsLittleEndian() {
        assertThat(ByteOrder.nativeOrder()).as("expected bytes below are written for x86-64/aarch64")
            .isEqualTo(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void newAddressIsIpAddrReplaceWithLocalAndAddress() {
        assertThat(hex(Rtnetlink.newAddress(7, TUN, Ipv4.parse("100.64.16.0"), 32))).isEqualTo(hex(
            "28 00 00 00 | 14 00 | 05 05 | 07 00 00 00 | 00 00 00 00" // len 40, RTM_NEWADDR, REQ|ACK|REPLACE|CREATE
                + "| 02 20 00 00 | 05 00 00 00"                       // AF_INET, /32, flags, scope universe, index
                + "| 08 00 02 00 64 40 10 00"                         // IFA_LOCAL 100.64.16.0
                + "| 08 00 01 00 64 40 10 00"));                      // IFA_ADDRESS 100.64.16.0
    }

    @Test
    void deleteAddressMatchesByLocalAddress() {
        assertThat(hex(Rtnetlink.deleteAddress(2, TUN, Ipv4.parse("100.64.16.0"), 24))).isEqualTo(hex(
            "20 00 00 00 | 15 00 | 05 00 | 02 00 00 00 | 00 00 00 00" // len 32, RTM_DELADDR, REQ|ACK
                + "| 02 18 00 00 | 05 00 00 00"
                + "| 08 00 02 00 64 40 10 00"));
    }

    @Test
    void dumpAddressesAsksForAllIpv4Addresses() {
        assertThat(hex(Rtnetlink.dumpAddresses(6))).isEqualTo(hex(
            "18 00 00 00 | 16 00 | 01 03 | 06 00 00 00 | 00 00 00 00" // len 24, RTM_GETADDR, REQ|DUMP
                + "| 02 00 00 00 | 00 00 00 00"));
    }

    @Test
    void newRouteIsFlannelsNetworkRouteViaTheDevice() {
        assertThat(hex(Rtnetlink.newRoute(9, TUN, Ipv4Prefix.parse("100.64.0.0/16")))).isEqualTo(hex(
            "2c 00 00 00 | 18 00 | 05 06 | 09 00 00 00 | 00 00 00 00" // len 44, RTM_NEWROUTE, REQ|ACK|EXCL|CREATE
                + "| 02 10 00 00 | fe 03 00 01 | 00 00 00 00"          // AF_INET /16, main, boot, universe, unicast
                + "| 08 00 01 00 64 40 00 00"                          // RTA_DST 100.64.0.0
                + "| 08 00 04 00 05 00 00 00"));                       // RTA_OIF 5
    }

    @Test
    void setMtuCarriesIflaMtu() {
        assertThat(hex(Rtnetlink.setMtu(3, TUN, 1472))).isEqualTo(hex(
            "28 00 00 00 | 10 00 | 05 00 | 03 00 00 00 | 00 00 00 00" // len 40, RTM_NEWLINK, REQ|ACK
                + "| 00 00 00 00 | 05 00 00 00 | 00 00 00 00 | 00 00 00 00"
                + "| 08 00 04 00 c0 05 00 00"));                       // IFLA_MTU 1472
    }

    @Test
    void setTxQueueLengthCarriesIflaTxqlen() {
        assertThat(hex(Rtnetlink.setTxQueueLength(8, TUN, 2000))).isEqualTo(hex(
            "28 00 00 00 | 10 00 | 05 00 | 08 00 00 00 | 00 00 00 00" // len 40, RTM_NEWLINK, REQ|ACK
                + "| 00 00 00 00 | 05 00 00 00 | 00 00 00 00 | 00 00 00 00"
                + "| 08 00 0d 00 d0 07 00 00"));                       // IFLA_TXQLEN (13) 2000
    }

    @Test
    void setUpChangesOnlyIffUp() {
        assertThat(hex(Rtnetlink.setUp(4, TUN))).isEqualTo(hex(
            "20 00 00 00 | 10 00 | 05 00 | 04 00 00 00 | 00 00 00 00"
                + "| 00 00 00 00 | 05 00 00 00 | 01 00 00 00 | 01 00 00 00")); // flags IFF_UP, change IFF_UP
    }

    @Test
    void getLinkByNamePadsTheNameAttribute() {
        assertThat(hex(Rtnetlink.getLink(1, "flannel0".getBytes(StandardCharsets.US_ASCII)))).isEqualTo(hex(
            "30 00 00 00 | 12 00 | 01 00 | 01 00 00 00 | 00 00 00 00" // len 48, RTM_GETLINK, REQ
                + "| 00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00"
                + "| 0d 00 03 00 66 6c 61 6e 6e 65 6c 30 00 00 00 00")); // IFLA_IFNAME "flannel0\0" + 3 pad
    }
}
