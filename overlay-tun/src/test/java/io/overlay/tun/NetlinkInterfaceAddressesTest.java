package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.flannel.UnderlayInterface;
import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.InterfaceAddresses;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The underlay address and default route as flanneld picks them, read through rtnetlink in a test namespace: the
 * first non-secondary address in kernel order (not the JDK's newest-first order), the default route with the lowest
 * metric.
 */
@Privileged
class NetlinkInterfaceAddressesTest {
    @Test
    void isTheProviderServiceLoaderFinds() {
        assertThat(InterfaceAddresses.load()).get().isInstanceOf(NetlinkInterfaceAddresses.class);
    }

    @Test
    void picksTheFirstPrimaryAddressInKernelOrderAsFlanneld() throws Exception {
        try (Netns ns = Netns.create()) {
            veth(ns, "ovul0");
            ns.exec("ip", "link", "set", "ovul0", "mtu", "1400", "up");
            ns.exec("ip", "addr", "add", "198.18.7.1/24", "dev", "ovul0");
            ns.exec("ip", "addr", "add", "198.18.8.1/24", "dev", "ovul0");
            ns.exec("ip", "addr", "add", "198.18.7.9/24", "dev", "ovul0");
            final List<InterfaceAddresses.Address> all = NetnsThread.call(ns.name(),
                () -> new NetlinkInterfaceAddresses().ipv4Addresses());
            assertThat(all).filteredOn(a -> a.interfaceName().equals("ovul0")).extracting(
                    a -> Ipv4.format(a.address()) + "/" + a.prefixLength() + (a.secondary() ? " secondary" : ""))
                .containsExactlyInAnyOrder("198.18.7.1/24", "198.18.7.9/24 secondary", "198.18.8.1/24");
            assertThat(all).filteredOn(a -> a.interfaceName().equals("ovul0"))
                .allSatisfy(a -> assertThat(a.interfaceMtu()).isEqualTo(1400));

            final UnderlayInterface byName = NetnsThread.call(ns.name(),
                () -> UnderlayInterface.select(List.of("ovul0"), Optional.empty()));
            assertThat(byName).isEqualTo(new UnderlayInterface("ovul0", Ipv4.parse("198.18.7.1"), 1400));

            // named by address: that address, even a secondary one (flanneld: "the IP given")
            final UnderlayInterface byAddress = NetnsThread.call(ns.name(),
                () -> UnderlayInterface.select(List.of("198.18.7.9"), Optional.empty()));
            assertThat(byAddress).isEqualTo(new UnderlayInterface("ovul0", Ipv4.parse("198.18.7.9"), 1400));

            // the PublicIP's interface, with the PublicIP as its address
            final UnderlayInterface byPublicIp = NetnsThread.call(ns.name(),
                () -> UnderlayInterface.select(List.of(), Optional.of(Ipv4.parse("198.18.8.1"))));
            assertThat(byPublicIp).isEqualTo(new UnderlayInterface("ovul0", Ipv4.parse("198.18.8.1"), 1400));

        }
    }

    @Test
    void theDefaultRouteWithTheLowestMetricWins() throws Exception {
        try (Netns ns = Netns.create()) {
            for (String[] dev : new String[][] {{"ovul0", "198.18.7.1/24"}, {"ovul1", "198.18.9.1/24"}}) {
                veth(ns, dev[0]);
                ns.exec("ip", "addr", "add", dev[1], "dev", dev[0]);
            }
            assertThat(NetnsThread.call(ns.name(), () -> new NetlinkInterfaceAddresses().defaultRouteInterface()))
                .isEmpty();
            ns.exec("ip", "route", "add", "default", "dev", "ovul0", "metric", "200");
            ns.exec("ip", "route", "add", "default", "dev", "ovul1", "metric", "100");
            // a default route in another table does not count
            ns.exec("ip", "route", "add", "default", "dev", "ovul0", "metric", "1", "table", "100");
            assertThat(NetnsThread.call(ns.name(), () -> new NetlinkInterfaceAddresses().defaultRouteInterface()))
                .contains("ovul1");
            assertThat(NetnsThread.call(ns.name(),
                () -> UnderlayInterface.select(List.of(), Optional.empty())))
                .isEqualTo(new UnderlayInterface("ovul1", Ipv4.parse("198.18.9.1"), 1500));

            ns.exec("ip", "route", "del", "default", "dev", "ovul1", "metric", "100");
            assertThat(NetnsThread.call(ns.name(), () -> new NetlinkInterfaceAddresses().defaultRouteInterface()))
                .contains("ovul0");
        }
    }

    /** A veth pair {@code name}/{@code name}p, both ends up (this kernel has no dummy module). */
    private static void veth(final Netns ns, final String name) throws Exception {
        ns.exec("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p");
        ns.exec("ip", "link", "set", name + "p", "up");
        ns.exec("ip", "link", "set", name, "up");
    }
}
