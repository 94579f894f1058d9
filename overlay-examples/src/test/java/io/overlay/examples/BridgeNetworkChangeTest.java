package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.Privileged;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A host that ran in another Network before: its {@code subnet.env} names a subnet of the old Network
 * (100.127.0.0/16) and its bridge still holds that subnet's address, beside an address of the operator's. After
 * {@link OverlayMain} starts with the new Network (100.64.0.0/16) the bridge holds the new subnet's address and the
 * operator's, not the old one; the TUN holds only its new /32.
 */
@Privileged
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class BridgeNetworkChangeTest {
    private static final String OLD_BRIDGE_ADDRESS = "100.127.7.1/24";
    private static final String FOREIGN_ADDRESS = "100.100.1.1/24";

    @Test
    void afterANetworkChangeOnlyTheNewSubnetsAddressIsOnTheBridge() throws Exception {
        try (OverlayHosts overlay = OverlayHosts.start("e2e-bridge-network-change", 1,
            h -> List.of("--bridge", "cbr0"), (n, ns, subnetEnv) -> {
                ns.exec("ip", "link", "add", "cbr0", "type", "bridge");
                ns.exec("ip", "addr", "add", OLD_BRIDGE_ADDRESS, "dev", "cbr0");
                ns.exec("ip", "addr", "add", FOREIGN_ADDRESS, "dev", "cbr0");
                ns.exec("ip", "link", "set", "cbr0", "up");
                Files.writeString(subnetEnv, "FLANNEL_NETWORK=100.127.0.0/16\nFLANNEL_SUBNET=" + OLD_BRIDGE_ADDRESS
                    + "\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n");
            })) {
            final OverlayHosts.Host h = overlay.hosts().get(0);
            final String subnet = Files.readString(h.subnetEnv()).replaceAll("(?s).*FLANNEL_SUBNET=(\\S+).*", "$1");
            assertThat(subnet).startsWith("100.64.").endsWith(".1/24");
            final String bridge = h.ns().exec("ip", "-4", "-o", "addr", "show", "dev", "cbr0");
            assertThat(bridge).contains("inet " + subnet + " ", "inet " + FOREIGN_ADDRESS + " ")
                .doesNotContain("100.127.");
            final String tun = h.ns().exec("ip", "-4", "-o", "addr", "show", "dev", "flannel0");
            assertThat(tun.strip().lines()).hasSize(1);
            assertThat(tun).contains("inet " + subnet.replace(".1/24", ".0/32") + " ");
        }
    }
}
