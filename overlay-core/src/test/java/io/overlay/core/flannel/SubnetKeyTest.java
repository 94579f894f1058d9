package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4Prefix;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** flannel's subnet key names ({@code MakeSubnetKey}, {@code ParseSubnetKey}: flannel v0.28.9 pkg/subnet/subnet.go). */
class SubnetKeyTest {
    @Test
    void formatsTheAppendixVectors() {
        final Ipv4Prefix subnet = Ipv4Prefix.parse("10.10.16.0/24");
        assertThat("/coreos.com/network/subnets/" + SubnetKey.format(subnet))
            .isEqualTo("/coreos.com/network/subnets/10.10.16.0-24");
        assertThat("/coreos.com/network/subnets/" + SubnetKey.format(subnet, "fc00:0:0:1::/64"))
            .isEqualTo("/coreos.com/network/subnets/10.10.16.0-24&fc00:0:0:1::-64");
    }

    @Test
    void parsesTheAppendixVectors() {
        assertThat(SubnetKey.parse("/coreos.com/network/subnets/10.10.16.0-24"))
            .contains(new SubnetKey.Parsed(Ipv4Prefix.parse("10.10.16.0/24"), null));
        assertThat(SubnetKey.parse("/coreos.com/network/subnets/10.10.16.0-24&fc00:0:0:1::-64"))
            .contains(new SubnetKey.Parsed(Ipv4Prefix.parse("10.10.16.0/24"), "fc00:0:0:1::/64"));
    }

    @ParameterizedTest
    @CsvSource({
        "10.10.16.0-24, 10.10.16.0/24",
        "100.64.0.64-26, 100.64.0.64/26",
        "/coreos.com/network/subnets/100.64.9.0-24, 100.64.9.0/24",
        "/other/prefix/subnets/198.18.0.0-15, 198.18.0.0/15",
        "10.0.0.0-0, 0.0.0.0/0",
        "10.10.16.0-31, 10.10.16.0/31",
        "10.10.16.0-024, 10.10.16.0/24",
        "10.10.16.5-24, 10.10.16.0/24",
    })
    void parsesIpv4Keys(final String key, final String subnet) {
        assertThat(SubnetKey.parse(key)).map(SubnetKey.Parsed::ipv4).contains(Ipv4Prefix.parse(subnet));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "garbage", "/coreos.com/network/subnets/garbage", "/coreos.com/network/config",
        "10.10.16.0-32", "10.10.16.0-33", "10.10.16.0-99999999999999999999", "10.10.16.0/24", "10.10.16.0-",
        "10.10.16-24", "256.10.16.0-24", "010.10.16.0-24", "10.10.16.0-24/extra",
        "10.10.16.0-24&fc00:0:0:1::-128", "10.10.16.0-24&fc00-64", "10.10.16.0-24&fc00:::1-64",
        "10.10.16.0-24&FC00::-64"})
    void keysThatAreNotSubnets(final String key) {
        assertThat(SubnetKey.parse(key)).isEmpty();
    }

    @Test
    void formatThenParseRoundTrips() {
        for (String s : new String[] {"100.64.0.0/24", "100.127.255.0/24", "100.64.0.4/30", "198.18.0.0/15"}) {
            final Ipv4Prefix p = Ipv4Prefix.parse(s);
            assertThat(SubnetKey.parse(SubnetKey.format(p))).map(SubnetKey.Parsed::ipv4).contains(p);
        }
    }
}
