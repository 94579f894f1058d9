package io.overlay.core.flannel;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The model records write their {@code equals} and {@code hashCode} out (start-up cost of the generated ones): each
 * must still compare every component, nulls included, as a record's generated methods do.
 */
class RecordEqualityTest {
    private static final int IP = Ipv4.parse("198.18.0.1");
    private static final Ipv4Prefix NET = Ipv4Prefix.parse("100.64.0.0/16");

    /** {@code same} equals {@code base} with the same hash; every one of {@code differing} is unequal to it. */
    private static void check(final Object base, final Object same, final List<?> differing) {
        assertThat(base).isEqualTo(same).hasSameHashCodeAs(same);
        assertThat(base).isNotEqualTo(null).isNotEqualTo("not a record");
        for (Object d : differing) {
            assertThat(base).as("against %s", d).isNotEqualTo(d);
            assertThat(d).as("against %s", base).isNotEqualTo(base);
        }
    }

    @Test
    void backendConfigComparesTypeAndPort() {
        check(new BackendConfig("udp", 8285), new BackendConfig("udp", 8285),
            List.of(new BackendConfig("vxlan", 8285), new BackendConfig(null, 8285), new BackendConfig("udp", 8286)));
        check(new BackendConfig(null, 1), new BackendConfig(null, 1), List.of(new BackendConfig("udp", 1)));
    }

    @Test
    void leaseAttrsComparesEveryField() {
        final LeaseAttrs a = new LeaseAttrs(IP, "fc00::1", "vxlan", "{\"VNI\":1}");
        check(a, new LeaseAttrs(IP, "fc00::1", "vxlan", "{\"VNI\":1}"), List.of(
            new LeaseAttrs(IP + 1, "fc00::1", "vxlan", "{\"VNI\":1}"),
            new LeaseAttrs(IP, null, "vxlan", "{\"VNI\":1}"),
            new LeaseAttrs(IP, "fc00::1", null, "{\"VNI\":1}"),
            new LeaseAttrs(IP, "fc00::1", "vxlan", null)));
        check(LeaseAttrs.udp(IP), LeaseAttrs.udp(IP), List.of(LeaseAttrs.udp(IP + 1)));
    }

    @Test
    void networkConfigComparesEveryField() {
        final BackendConfig udp = BackendConfig.DEFAULT_UDP;
        final NetworkConfig c = new NetworkConfig(NET, 24, Ipv4.parse("100.64.1.0"), Ipv4.parse("100.64.255.0"), udp);
        check(c, new NetworkConfig(NET, 24, Ipv4.parse("100.64.1.0"), Ipv4.parse("100.64.255.0"), udp), List.of(
            new NetworkConfig(Ipv4Prefix.parse("100.65.0.0/16"), 24, c.subnetMin(), c.subnetMax(), udp),
            new NetworkConfig(NET, 25, c.subnetMin(), c.subnetMax(), udp),
            new NetworkConfig(NET, 24, c.subnetMin() + 256, c.subnetMax(), udp),
            new NetworkConfig(NET, 24, c.subnetMin(), c.subnetMax() - 256, udp),
            new NetworkConfig(NET, 24, c.subnetMin(), c.subnetMax(), new BackendConfig("udp", 8286))));
    }

    @Test
    void leaseComparesEveryField() {
        final Ipv4Prefix subnet = Ipv4Prefix.parse("100.64.7.0/24");
        final LeaseAttrs attrs = LeaseAttrs.udp(IP);
        final Lease l = new Lease(subnet, attrs, false, Duration.ofHours(24));
        check(l, new Lease(subnet, attrs, false, Duration.ofHours(24)), List.of(
            new Lease(Ipv4Prefix.parse("100.64.8.0/24"), attrs, false, Duration.ofHours(24)),
            new Lease(subnet, LeaseAttrs.udp(IP + 1), false, Duration.ofHours(24)),
            new Lease(subnet, attrs, true, Duration.ofHours(24)),
            new Lease(subnet, attrs, false, Duration.ZERO),
            new Lease(subnet, attrs, false, null),
            new Lease(null, attrs, false, Duration.ofHours(24))));
        check(new Lease(null, null, true, null), new Lease(null, null, true, null), List.of(l));
    }
}
