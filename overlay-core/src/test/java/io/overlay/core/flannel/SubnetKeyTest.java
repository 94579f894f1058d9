package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4Prefix;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** flannel's subnet key names ({@code MakeSubnetKey}, {@code ParseSubnetKey}: flannel v0.28.9 pkg/subnet/subnet.go). */
class SubnetKeyTest {
    private static final String P = "/coreos.com/network/subnets";

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
        assertThat(SubnetKey.parseKey(P, "/coreos.com/network/subnets/10.10.16.0-24"))
            .contains(new SubnetKey.Parsed(Ipv4Prefix.parse("10.10.16.0/24"), null));
        assertThat(SubnetKey.parseKey(P, "/coreos.com/network/subnets/10.10.16.0-24&fc00:0:0:1::-64"))
            .contains(new SubnetKey.Parsed(Ipv4Prefix.parse("10.10.16.0/24"), "fc00:0:0:1::/64"));
    }

    @ParameterizedTest
    @CsvSource({
        "10.10.16.0-24, 10.10.16.0/24",
        "100.64.0.64-26, 100.64.0.64/26",
        "198.18.0.0-15, 198.18.0.0/15",
        "0.0.0.0-0, 0.0.0.0/0",
        "10.10.16.0-31, 10.10.16.0/31",
    })
    void parsesIpv4Keys(final String key, final String subnet) {
        assertThat(SubnetKey.parse(key)).map(SubnetKey.Parsed::ipv4).contains(Ipv4Prefix.parse(subnet));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "garbage", "/coreos.com/network/subnets/garbage", "/coreos.com/network/config",
        "10.10.16.0-32", "10.10.16.0-33", "10.10.16.0-99999999999999999999", "10.10.16.0/24", "10.10.16.0-",
        "10.10.16-24", "256.10.16.0-24", "010.10.16.0-24", "10.10.16.0-24/extra",
        "10.10.16.0-24&fc00:0:0:1::-128", "10.10.16.0-24&fc00-64", "10.10.16.0-24&fc00:::1-64",
        "10.10.16.0-24&FC00::-64",
        // stricter than flannel: the whole name, as MakeSubnetKey writes it
        "/coreos.com/network/subnets/10.10.16.0-24", "x10.10.16.0-24", "10.10.16.0-24x", "10.10.16.0-24 ",
        "10.10.16.0-024", "10.10.16.5-24", "10.0.0.0-0", "10.10.16.0-24&fc00::-064", "10a10b16c0-24",
        "10.10.16.0000-24"})
    void keysThatAreNotSubnets(final String key) {
        assertThat(SubnetKey.parse(key)).isEmpty();
    }

    /** Only the whole name after {@code <prefix>/subnets/} counts (flannel matches at the end of the full key). */
    @ParameterizedTest
    @ValueSource(strings = {"/coreos.com/network/subnets/../../etc/100.64.60.0-24",
        "/coreos.com/network/subnets/x/100.64.2.0-24", "/coreos.com/network/subnets//100.64.2.0-24",
        "/coreos.com/network/subnetsX/100.64.2.0-24", "/coreos.com/network/subnets100.64.2.0-24",
        "/other/prefix/subnets/100.64.2.0-24", "/coreos.com/network/subnets/", "/coreos.com/network/subnets",
        "/coreos.com/network/config"})
    void fullKeysOutsideTheSubnetsDirectoryAreNotSubnets(final String key) {
        assertThat(SubnetKey.parseKey(P, key)).isEmpty();
    }

    @Test
    void aFullKeyInTheSubnetsDirectoryParses() {
        assertThat(SubnetKey.parseKey(P, P + "/100.64.9.0-24")).map(SubnetKey.Parsed::ipv4)
            .contains(Ipv4Prefix.parse("100.64.9.0/24"));
    }

    @Test
    void formatThenParseRoundTrips() {
        for (String s : new String[] {"100.64.0.0/24", "100.127.255.0/24", "100.64.0.4/30", "198.18.0.0/15"}) {
            final Ipv4Prefix p = Ipv4Prefix.parse(s);
            assertThat(SubnetKey.parse(SubnetKey.format(p))).map(SubnetKey.Parsed::ipv4).contains(p);
        }
    }
}
