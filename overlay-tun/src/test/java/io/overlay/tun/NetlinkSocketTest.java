package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** rtnetlink answers from the real kernel: link queries, address dumps, refusals with the kernel's text. */
@Privileged
class NetlinkSocketTest {
    @Test
    void queriesLinksListsAddressesAndReportsRefusals() throws Exception {
        try (Netns ns = Netns.create();
             LinuxTunDevice tun = NetnsThread.call(ns.name(), () -> new LinuxTunDeviceFactory().open("ovnl0", 1))) {
            tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472, List.of()));
            NetnsThread.call(ns.name(), () -> {
                try (NetlinkSocket rtnl = NetlinkSocket.open()) {
                    final LinkInfo link = rtnl.getLink("ovnl0".getBytes(StandardCharsets.US_ASCII));
                    assertThat(link.name()).isEqualTo("ovnl0");
                    assertThat(link.isTun()).isTrue();
                    assertThat(link.multiQueue()).isFalse();
                    assertThat(link.persistent()).isFalse();
                    assertThat(link.mtu()).isEqualTo(1472);
                    assertThat(link.flags() & Rtnetlink.IFF_UP).isEqualTo(Rtnetlink.IFF_UP);
                    assertThat(rtnl.getLink("ovnone".getBytes(StandardCharsets.US_ASCII))).isNull();
                    final LinkInfo lo = rtnl.getLink("lo".getBytes(StandardCharsets.US_ASCII));
                    assertThat(lo.kind()).isNull();

                    assertThat(rtnl.ipv4Addresses(link.index())).singleElement()
                        .satisfies(a -> assertThat(a).containsExactly(Ipv4.parse("100.64.16.0"), 32));

                    // an MTU below the device minimum (68) is refused with EINVAL and a text from the kernel
                    assertThat(rtnl.execute(Rtnetlink.setMtu(rtnl.nextSequence(), link.index(), 10)))
                        .isEqualTo(LibC.EINVAL);
                    assertThat(rtnl.lastKernelMessage()).isNotBlank();
                    assertThat(rtnl.kernelSuffix()).startsWith(" (kernel: ");
                    // the same route twice: EEXIST the second time
                    final Ipv4Prefix route = Ipv4Prefix.parse("100.64.0.0/16");
                    assertThat(rtnl.execute(Rtnetlink.newRoute(rtnl.nextSequence(), link.index(), route))).isZero();
                    assertThat(rtnl.execute(Rtnetlink.newRoute(rtnl.nextSequence(), link.index(), route)))
                        .isEqualTo(LibC.EEXIST);
                }
                return null;
            });
        }
    }

    @Test
    void configureOfADeviceDeletedBehindItsBackSaysSo() throws Exception {
        try (Netns ns = Netns.create();
             LinuxTunDevice tun = NetnsThread.call(ns.name(), () -> new LinuxTunDeviceFactory().open("ovnl1", 1))) {
            ns.exec("ip", "link", "del", "ovnl1");
            assertThatThrownBy(() -> tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472,
                List.of())))
                .isInstanceOfSatisfying(TunException.class, e -> {
                    assertThat(e.reason()).isEqualTo(TunException.Reason.CONFIGURATION_FAILED);
                    assertThat(e.getMessage()).contains("ovnl1", "disappeared");
                });
        }
    }
}
