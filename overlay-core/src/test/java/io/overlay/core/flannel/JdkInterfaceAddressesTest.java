package io.overlay.core.flannel;

import io.overlay.core.spi.InterfaceAddresses;
import io.overlay.core.net.Ipv4;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The JDK fallback of {@link InterfaceAddresses} (used when overlay-tun is not on the class path), read-only against
 * this host's real interfaces: loopback is listed and selectable by name and address; a missing name is a clear error.
 * (The kernel-order rule for several addresses is tested with rtnetlink in overlay-tun.)
 */
class JdkInterfaceAddressesTest {
    private final JdkInterfaceAddresses jdk = new JdkInterfaceAddresses();

    @Test
    void listsLoopbackAndSelectsItByNameAndAddress() throws IOException {
        assertThat(jdk.ipv4Addresses()).anySatisfy(a -> {
            assertThat(a.interfaceName()).isEqualTo("lo");
            assertThat(a.address()).isEqualTo(Ipv4.parse("127.0.0.1"));
            assertThat(a.secondary()).isFalse();
        });
        final UnderlayInterface lo = UnderlayInterface.select(List.of("ovnosuch0", "lo"), Optional.empty(), jdk);
        assertThat(lo.name()).isEqualTo("lo");
        assertThat(lo.address()).isEqualTo(Ipv4.parse("127.0.0.1"));
        assertThat(lo.mtu()).isPositive();
        assertThat(UnderlayInterface.select(List.of(), Optional.of(Ipv4.parse("127.0.0.1")), jdk).name())
            .isEqualTo("lo");
    }

    @Test
    void nothingMatchingIsAnErrorNamingWhatWasTried() {
        assertThatThrownBy(() -> UnderlayInterface.select(List.of("ovnosuch0", "198.18.255.254"), Optional.empty(),
            jdk)).isInstanceOf(IOException.class).hasMessageContaining("Failed to find any valid interface to use")
            .hasMessageContaining("--iface ovnosuch0").hasMessageContaining("--iface 198.18.255.254");
        assertThatThrownBy(() -> UnderlayInterface.select(List.of(), Optional.of(Ipv4.parse("198.18.255.254")), jdk))
            .isInstanceOf(IOException.class).hasMessageContaining("no interface with given IP found (198.18.255.254)");
    }
}
