package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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

    @Test
    void ifaceRegexMatchesAddressesFirstThenNames() throws Exception {
        try (Netns ns = Netns.create()) {
            veth(ns, "ovul0");
            veth(ns, "ovnoaddr0");
            veth(ns, "ovul1");
            ns.exec("ip", "addr", "add", "198.18.7.1/24", "dev", "ovul0");
            ns.exec("ip", "addr", "add", "198.18.9.1/24", "dev", "ovul1");
            ns.exec("ip", "addr", "add", "198.18.9.77/24", "dev", "ovul1");
            // an address pattern: the matching (even secondary) address is used
            assertThat(select(ns, List.of(), List.of("\\.9\\.77$"), null))
                .isEqualTo(new UnderlayInterface("ovul1", Ipv4.parse("198.18.9.77"), 1500));
            // a name pattern: no address matches "ul1$", the interface named so is used with its primary address
            // (not "ul1": the veth peer ovul1p, made first and without an address, would be the first match)
            assertThat(select(ns, List.of(), List.of("ul1$"), null))
                .isEqualTo(new UnderlayInterface("ovul1", Ipv4.parse("198.18.9.1"), 1500));
            // patterns in order, each after --iface; a --iface that matches wins
            assertThat(select(ns, List.of("ovnone9"), List.of("nomatch", "^198\\.18\\.7\\."), null))
                .isEqualTo(new UnderlayInterface("ovul0", Ipv4.parse("198.18.7.1"), 1500));
            assertThat(select(ns, List.of("ovul1"), List.of("ovul0"), null).name()).isEqualTo("ovul1");
            // lo's 127.0.0.1 is no usable address: "^127" matches no address, and no name
            assertThatThrownBy(() -> select(ns, List.of(), List.of("^127\\."), null))
                .isInstanceOf(java.io.IOException.class)
                .hasMessageContaining("--iface-regex ^127\\. matches no IPv4 address and no interface name with one")
                .hasMessageContaining("ovul0 198.18.7.1").hasMessageContaining("name the interface with --iface");
            // the first interface whose name matches has no address: the pattern fails, as flanneld's
            assertThatThrownBy(() -> select(ns, List.of(), List.of("^ovno"), null))
                .hasMessageContaining("--iface-regex ^ovno matches no");
        }
    }

    @Test
    void ifaceCanReachTakesTheRoutesInterfaceAndSourceAddress() throws Exception {
        try (Netns ns = Netns.create()) {
            veth(ns, "ovul0");
            veth(ns, "ovul1");
            ns.exec("ip", "link", "set", "ovul1", "mtu", "1400");
            ns.exec("ip", "addr", "add", "198.18.7.1/24", "dev", "ovul0");
            ns.exec("ip", "addr", "add", "198.18.9.1/24", "dev", "ovul1");
            ns.exec("ip", "addr", "add", "198.18.9.2/24", "dev", "ovul1");
            ns.exec("ip", "route", "add", "198.19.0.0/16", "via", "198.18.9.254", "dev", "ovul1", "src",
                "198.18.9.2");
            final java.util.Optional<InterfaceAddresses.Route> route = NetnsThread.call(ns.name(),
                () -> new NetlinkInterfaceAddresses().routeTo(Ipv4.parse("198.19.4.4")));
            assertThat(route).contains(new InterfaceAddresses.Route("ovul1", Ipv4.parse("198.18.9.2")));
            assertThat(select(ns, List.of(), List.of(), "198.19.4.4"))
                .isEqualTo(new UnderlayInterface("ovul1", Ipv4.parse("198.18.9.2"), 1400));
            assertThat(select(ns, List.of(), List.of(), "198.18.7.200"))
                .isEqualTo(new UnderlayInterface("ovul0", Ipv4.parse("198.18.7.1"), 1500));
            // no default route: 203.0.113.9 is unreachable
            assertThat(NetnsThread.call(ns.name(),
                () -> new NetlinkInterfaceAddresses().routeTo(Ipv4.parse("203.0.113.9")))).isEmpty();
            assertThatThrownBy(() -> select(ns, List.of(), List.of(), "203.0.113.9"))
                .isInstanceOf(java.io.IOException.class)
                .hasMessageContaining("--iface-can-reach 203.0.113.9: no route reaches it")
                .hasMessageContaining("name the interface with --iface");
        }
    }

    private static UnderlayInterface select(final Netns ns, final List<String> ifaces, final List<String> regexes,
                                            final String canReach) throws Exception {
        return NetnsThread.call(ns.name(), () -> UnderlayInterface.select(ifaces,
            regexes.stream().map(java.util.regex.Pattern::compile).toList(),
            Optional.ofNullable(canReach).map(Ipv4::parse), Optional.empty()));
    }

    /** A veth pair {@code name}/{@code name}p, both ends up (this kernel has no dummy module). */
    private static void veth(final Netns ns, final String name) throws Exception {
        ns.exec("ip", "link", "add", name, "type", "veth", "peer", "name", name + "p");
        ns.exec("ip", "link", "set", name + "p", "up");
        ns.exec("ip", "link", "set", name, "up");
    }
}
