package io.overlay.core.flannel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** flannel's IPv6 rules and defaults of CheckNetworkConfig (flannel v0.28.9 pkg/subnet/config.go). */
class Ipv6NetworkCheckTest {
    @Test
    void ipv6DefaultsOfFlannelsOwnTest() {
        final Ipv6NetworkCheck.Range r = Ipv6NetworkCheck.check("fc00::/48", 0, null, null);
        assertThat(r).isEqualTo(new Ipv6NetworkCheck.Range("fc00::/48", 64, "fc00:0:0:1::", "fc00:0:0:ffff::"));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "fc00::/48, 64, fc00:0:0:1::, fc00:0:0:ffff::",
        "fc00::/62, 64, fc00:0:0:1::, fc00:0:0:3::",
        "fc00::/64, 66, fc00::4000:0:0:0, fc00::c000:0:0:0",
        "fc00::/124, 126, fc00::4, fc00::c",
        "fc00:0:0:1::5/64, 66, fc00:0:0:1:4000::, fc00:0:0:1:c000::",
    })
    void ipv6Defaults(final String network, final int len, final String min, final String max) {
        final Ipv6NetworkCheck.Range r = Ipv6NetworkCheck.check(network, 0, null, null);
        assertThat(r.subnetLen()).isEqualTo(len);
        assertThat(r.subnetMin()).isEqualTo(min);
        assertThat(r.subnetMax()).isEqualTo(max);
    }

    @Test
    void ipv6Rules() {
        assertIpv6Invalid(() -> Ipv6NetworkCheck.check("fc00::/48", 127, null, null), "IPv6SubnetLen",
            "SubnetLen must be less than /127");
        assertIpv6Invalid(() -> Ipv6NetworkCheck.check("fc00::/48", 49, null, null), "IPv6SubnetLen",
            "network must be able to accommodate at least four subnets");
        assertIpv6Invalid(() -> Ipv6NetworkCheck.check("fc00::/48", 0, "fc01::", null), "IPv6SubnetMin",
            "IPv6SubnetMin is not in the range of the IPv6Network");
        assertIpv6Invalid(() -> Ipv6NetworkCheck.check("fc00::/48", 0, null, "fc01::"), "IPv6SubnetMax",
            "IPv6SubnetMax is not in the range of the IPv6Network");
        assertIpv6Invalid(() -> Ipv6NetworkCheck.check("fc00::/48", 0, "fc00:0:0:1::1", null),
            "IPv6SubnetMin", "IPv6SubnetMin is not on a SubnetLen boundary: fc00:0:0:1::1");
        assertIpv6Invalid(() -> Ipv6NetworkCheck.check("fc00::/48", 0, null, "fc00:0:0:2::8"),
            "IPv6SubnetMax", "IPv6SubnetMax is not on a SubnetLen boundary: fc00:0:0:2::8");
        assertIpv6Invalid(() -> Ipv6NetworkCheck.check("10.0.0.0/8", 0, null, null), "IPv6Network",
            "invalid IPv6 CIDR format");
        assertIpv6Invalid(() -> Ipv6NetworkCheck.check("::/0", 0, null, null), "IPv6Network",
            "please define a correct IPv6Network parameter");
        assertThat(Ipv6NetworkCheck.check("fc00::/48", 56, "fc00:0:0:100::", "fc00:0:0:200::"))
            .isEqualTo(new Ipv6NetworkCheck.Range("fc00::/48", 56, "fc00:0:0:100::", "fc00:0:0:200::"));
    }

    private void assertIpv6Invalid(final org.assertj.core.api.ThrowableAssert.ThrowingCallable call,
                                   final String field, final String start) {
        final InvalidNetworkConfigException e = catchThrowableOfType(InvalidNetworkConfigException.class, call);
        assertThat(e).isNotNull();
        assertThat(e.field()).isEqualTo(field);
        assertThat(e.getMessage()).startsWith(start);
    }

    @Test
    void formatsLikeGo() {
        assertThat(Ipv6NetworkCheck.format(Ipv6NetworkCheck.parse("0:0:0:0:0:0:0:0"))).isEqualTo("::");
        assertThat(Ipv6NetworkCheck.format(Ipv6NetworkCheck.parse("0:0:0:0:0:0:0:1"))).isEqualTo("::1");
        assertThat(Ipv6NetworkCheck.format(Ipv6NetworkCheck.parse("FC00:0:0:1:0:0:0:0")))
            .isEqualTo("fc00:0:0:1::");
        assertThat(Ipv6NetworkCheck.format(Ipv6NetworkCheck.parse("2001:db8:0:1:1:1:1:1")))
            .isEqualTo("2001:db8:0:1:1:1:1:1");
        assertThat(Ipv6NetworkCheck.format(Ipv6NetworkCheck.parse("2001:0:0:1:0:0:0:1")))
            .isEqualTo("2001:0:0:1::1");
        assertThat(Ipv6NetworkCheck.format(Ipv6NetworkCheck.parse("2001:db8:0:0:1:0:0:1")))
            .isEqualTo("2001:db8::1:0:0:1");
        assertThat(Ipv6NetworkCheck.parse("fc00")).isNull();
        assertThat(Ipv6NetworkCheck.parse("fc00:::1")).isNull();
        assertThat(Ipv6NetworkCheck.parse("10.0.0.1")).isNull();
    }
}
