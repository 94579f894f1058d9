package io.overlay.core.flannel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.InterfaceAddresses;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Interface choice by {@code --iface-regex} and {@code --iface-can-reach} over a fixed view of the interfaces. */
class UnderlayInterfaceTest {
    /** lo, eth0 (link-local first, then a global address), eth1 (global), noaddr0 (no address). */
    private static final InterfaceAddresses HOST = new InterfaceAddresses() {
        @Override
        public List<Address> ipv4Addresses() {
            return List.of(new Address("lo", 65536, Ipv4.parse("127.0.0.1"), 8, false),
                new Address("eth0", 1500, Ipv4.parse("169.254.1.1"), 16, false),
                new Address("eth0", 1500, Ipv4.parse("198.18.0.1"), 24, false),
                new Address("eth1", 9000, Ipv4.parse("198.19.0.1"), 24, false));
        }

        @Override
        public Optional<String> defaultRouteInterface() {
            return Optional.of("eth1");
        }

        @Override
        public List<String> interfaceNames() {
            return List.of("lo", "eth0", "noaddr0", "eth1");
        }

        @Override
        public Optional<Route> routeTo(final int address) {
            if (address == Ipv4.parse("198.19.5.5")) {
                return Optional.of(new Route("eth1", 0));
            }
            if (address == Ipv4.parse("198.18.0.77")) {
                return Optional.of(new Route("eth0", Ipv4.parse("198.18.0.1")));
            }
            return Optional.empty();
        }
    };

    private static UnderlayInterface select(final List<String> ifaces, final List<String> regexes,
                                            final String canReach) throws IOException {
        return UnderlayInterface.select(ifaces, regexes.stream().map(Pattern::compile).toList(),
            Optional.ofNullable(canReach).map(Ipv4::parse), Optional.empty(), HOST);
    }

    @Test
    void anAddressPatternPrefersGlobalAddressesAndIsFoundAnywhere() throws IOException {
        // "1$" matches 169.254.1.1 and 198.18.0.1 on eth0: the global one wins, as flannel sorts them
        assertThat(select(List.of(), List.of("1$"), null))
            .isEqualTo(new UnderlayInterface("eth0", Ipv4.parse("198.18.0.1"), 1500));
        assertThat(select(List.of(), List.of("169\\.254"), null))
            .isEqualTo(new UnderlayInterface("eth0", Ipv4.parse("169.254.1.1"), 1500));
        assertThat(select(List.of(), List.of("19\\.0"), null))
            .isEqualTo(new UnderlayInterface("eth1", Ipv4.parse("198.19.0.1"), 9000));
    }

    @Test
    void aNamePatternTakesTheFirstMatchingInterfaceAndFailsIfItHasNoUsableAddress() throws IOException {
        assertThat(select(List.of(), List.of("^eth1$"), null).name()).isEqualTo("eth1");
        assertThatThrownBy(() -> select(List.of(), List.of("^lo$"), null)).hasMessageContaining("--iface-regex ^lo$");
        assertThatThrownBy(() -> select(List.of(), List.of("addr"), null)).hasMessageContaining("--iface-regex addr");
        // the next pattern is tried after one that fails
        assertThat(select(List.of(), List.of("addr", "eth"), null).name()).isEqualTo("eth0");
    }

    @Test
    void canReachUsesTheRoutesSourceElseTheInterfacesAddressAndComesLast() throws IOException {
        assertThat(select(List.of(), List.of(), "198.18.0.77"))
            .isEqualTo(new UnderlayInterface("eth0", Ipv4.parse("198.18.0.1"), 1500));
        assertThat(select(List.of(), List.of(), "198.19.5.5"))
            .isEqualTo(new UnderlayInterface("eth1", Ipv4.parse("198.19.0.1"), 9000));
        assertThat(select(List.of("eth1"), List.of("nomatch"), "198.18.0.77").name()).isEqualTo("eth1");
        assertThat(select(List.of("eth9"), List.of("nomatch"), "198.18.0.77").name()).isEqualTo("eth0");
    }

    @Test
    void whenNothingMatchesTheMessageListsWhatWasTriedAndTheFix() {
        assertThatThrownBy(() -> select(List.of("eth9"), List.of("^wlan"), "203.0.113.9"))
            .isInstanceOf(IOException.class)
            .hasMessage("Failed to find interface to use that matches the interfaces and/or regexes provided: "
                + "--iface eth9 does not exist with an IPv4 address; --iface-regex ^wlan matches no IPv4 address and "
                + "no interface name with one; --iface-can-reach 203.0.113.9: no route reaches it. Interfaces here: "
                + "lo 127.0.0.1, eth0 169.254.1.1, eth0 198.18.0.1, eth1 198.19.0.1. Fix the option, or name the "
                + "interface with --iface");
    }

    @Test
    void withoutRegexOrCanReachTheChoiceIsAsBefore() throws IOException {
        assertThat(select(List.of(), List.of(), null).name()).isEqualTo("eth1");
        assertThatThrownBy(() -> select(List.of("eth9"), List.of(), null))
            .hasMessageContaining("none of [--iface eth9] exists");
    }

    @Test
    void aBadPatternOrAddressIsRefusedByTheLauncherAndTheBuilderAlike() {
        assertThatThrownBy(() -> UnderlayInterface.compile("--iface-regex", List.of("eth[0-9]", "eth(")))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageStartingWith("--iface-regex 'eth(' is not a valid regular expression (")
            .hasMessageEndingWith("); fix the pattern");
        assertThat(UnderlayInterface.compile("--iface-regex", List.of("a,b"))).extracting(Pattern::pattern)
            .containsExactly("a,b");
        assertThatThrownBy(() -> io.overlay.core.Overlay.builder().ifaceRegexes(List.of("eth(")))
            .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("ifaceRegex 'eth(' is not a valid");
        assertThatThrownBy(() -> io.overlay.core.Overlay.builder().ifaceCanReach("somewhere"))
            .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("ifaceCanReach: ");
    }
}
