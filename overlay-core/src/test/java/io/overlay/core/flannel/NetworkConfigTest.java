package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** flannel's config rules and error wording (flannel v0.28.9 {@code pkg/subnet/config.go}), with exact values. */
class NetworkConfigTest {
    /** Asserts the config is refused, that the error names the field, starts with flannel's text and quotes values. */
    static InvalidNetworkConfigException assertInvalid(final String json, final String field, final String start,
                                                       final String... mentions) {
        final InvalidNetworkConfigException e = catchThrowableOfType(InvalidNetworkConfigException.class,
            () -> NetworkConfig.parse(json));
        assertThat(e).as("config %s must be refused", json).isNotNull();
        assertThat(e.field()).as("field of: %s", e.getMessage()).isEqualTo(field);
        assertThat(e.getMessage()).startsWith(start);
        for (String m : mentions) {
            assertThat(e.getMessage()).contains(m);
        }
        return e;
    }

    private static String ip(final int address) {
        return Ipv4.format(address);
    }

    @Nested
    class DefaultsTable {
        @ParameterizedTest(name = "{0}")
        @CsvSource({
            "10.3.0.0/16,  24, 10.3.1.0,   10.3.255.0,  255",
            "10.10.0.0/16, 24, 10.10.1.0,  10.10.255.0, 255",
            "10.10.0.0/24, 26, 10.10.0.64, 10.10.0.192, 3",
            "10.10.0.0/28, 30, 10.10.0.4,  10.10.0.12,  3",
            "10.10.0.0/22, 24, 10.10.1.0,  10.10.3.0,   3",
            "10.10.0.0/23, 25, 10.10.0.128, 10.10.1.128, 3",
            "100.64.0.0/10, 24, 100.64.1.0, 100.127.255.0, 16383",
            "10.0.0.0/8,   24, 10.0.1.0,   10.255.255.0, 65535",
        })
        void defaultsFollowFlannel(final String network, final int subnetLen, final String min, final String max,
                                   final long count) {
            final NetworkConfig c = NetworkConfig.parse("{\"Network\":\"" + network + "\"}");
            assertThat(c.network()).hasToString(network);
            assertThat(c.subnetLen()).isEqualTo(subnetLen);
            assertThat(ip(c.subnetMin())).isEqualTo(min);
            assertThat(ip(c.subnetMax())).isEqualTo(max);
            assertThat(c.subnetCount()).isEqualTo(count);
            assertThat(c.subnetSize()).isEqualTo(1L << (32 - subnetLen));
            assertThat(c.backend()).isEqualTo(new BackendConfig("udp", 8285));
        }

        @Test
        void slash29IsTooSmall() {
            assertInvalid("{\"Network\":\"10.10.0.0/29\"}", "Network",
                "network is too small. Minimum useful network prefix is /28", "10.10.0.0/29");
        }

        @Test
        void slash24WithSubnetLen24CannotHoldFourSubnets() {
            assertInvalid("{\"Network\":\"10.10.0.0/24\",\"SubnetLen\":24}", "SubnetLen",
                "network must be able to accommodate at least four subnets", "SubnetLen 24", "10.10.0.0/24");
        }
    }

    /** Network configs as flannel's docs write them (docs/flannel-compatibility.md#network-config). */
    @Nested
    class FlannelVectors {
        @Test
        void udpConfigVector() {
            final NetworkConfig c = NetworkConfig.parse(
                "{\"Network\":\"10.10.0.0/16\",\"Backend\":{\"Type\":\"udp\",\"Port\":8285}}");
            assertThat(c.network()).isEqualTo(Ipv4Prefix.parse("10.10.0.0/16"));
            assertThat(c.subnetLen()).isEqualTo(24);
            assertThat(ip(c.subnetMin())).isEqualTo("10.10.1.0");
            assertThat(ip(c.subnetMax())).isEqualTo("10.10.255.0");
            assertThat(c.backend().type()).isEqualTo("udp");
            assertThat(c.backend().port()).isEqualTo(8285);
            assertThat(c.rangeDescription()).isEqualTo("/24 subnets 10.10.1.0-10.10.255.0 of 10.10.0.0/16");
        }
    }

    @Nested
    class GoJsonSemantics {
        @Test
        void keyNamesAreCaseInsensitive() {
            final NetworkConfig c = NetworkConfig.parse("{\"network\":\"100.64.0.0/16\",\"subnetlen\":26,"
                + "\"SUBNETMIN\":\"100.64.1.0\",\"subnetMax\":\"100.64.2.0\",\"enableIPv4\":true,\"enableipv6\":false,"
                + "\"backend\":{\"type\":\"udp\",\"PORT\":9000}}");
            assertThat(c.network()).hasToString("100.64.0.0/16");
            assertThat(c.subnetLen()).isEqualTo(26);
            assertThat(ip(c.subnetMin())).isEqualTo("100.64.1.0");
            assertThat(ip(c.subnetMax())).isEqualTo("100.64.2.0");
            assertThat(c.subnetCount()).isEqualTo(5);
            assertThat(c.backend().port()).isEqualTo(9000);
        }

        @Test
        void theLastSpellingOfAKeyWins() {
            assertThat(NetworkConfig.parse("{\"Network\":\"10.1.0.0/16\",\"network\":\"10.2.0.0/16\"}").network())
                .hasToString("10.2.0.0/16");
        }

        @Test
        void unknownKeysAreIgnored() {
            final NetworkConfig c = NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\",\"Foo\":{\"x\":[1,2]},"
                + "\"Networks\":[\"1.2.3.0/24\"],\"EnableNFTables\":true,\"Comment\":null,"
                + "\"Backend\":{\"Type\":\"udp\",\"Extra\":\"ignored\"}}");
            assertThat(c.network()).hasToString("100.64.0.0/16");
            assertThat(c.backend()).isEqualTo(BackendConfig.DEFAULT_UDP);
        }

        @Test
        void hostBitsAreMasked() {
            assertThat(NetworkConfig.parse("{\"Network\":\"10.10.1.5/16\"}").network())
                .isEqualTo(Ipv4Prefix.parse("10.10.0.0/16"));
        }

        @Test
        void nullForBoolsAndUintsMeansTheDefault() {
            final NetworkConfig c = NetworkConfig.parse("{\"Network\":\"10.10.0.0/16\",\"EnableIPv4\":null,"
                + "\"SubnetLen\":null,\"Backend\":{\"Type\":\"udp\",\"Port\":null}}");
            assertThat(c.subnetLen()).isEqualTo(24);
            assertThat(c.backend().port()).isEqualTo(8285);
        }

        @Test
        void subnetLenZeroMeansDefault() {
            assertThat(NetworkConfig.parse("{\"Network\":\"10.10.0.0/24\",\"SubnetLen\":0}").subnetLen())
                .isEqualTo(26);
        }

        @Test
        void subnetMinAndMaxOfZeroMeanDefault() {
            final NetworkConfig c = NetworkConfig.parse(
                "{\"Network\":\"10.10.0.0/16\",\"SubnetMin\":\"0.0.0.0\",\"SubnetMax\":\"0.0.0.0\"}");
            assertThat(ip(c.subnetMin())).isEqualTo("10.10.1.0");
            assertThat(ip(c.subnetMax())).isEqualTo("10.10.255.0");
        }

        @ParameterizedTest
        @ValueSource(strings = {"", "   ", "{", "{\"Network\":}", "{\"Network\":\"10.0.0.0/8\"} trailing",
            "{\"Network\":\"10.0.0.0/8\"}{}", "{'Network':'10.0.0.0/8'}", "{\"Network\":\"10.0.0.0/8\",}"})
        void malformedJsonIsRefused(final String json) {
            final InvalidNetworkConfigException e = catchThrowableOfType(InvalidNetworkConfigException.class,
                () -> NetworkConfig.parse(json));
            assertThat(e).isNotNull();
            assertThat(e.field()).isEqualTo("(json)");
        }

        @Test
        void nullTextIsRefused() {
            assertInvalid(null, "(json)", "network config must be a JSON object", "nothing");
        }

        @Test
        void nonObjectsAreRefused() {
            assertInvalid("[1,2]", "(json)", "network config must be a JSON object", "[1,2]");
            assertInvalid("null", "(json)", "network config must be a JSON object", "null");
            assertInvalid("\"10.0.0.0/8\"", "(json)", "network config must be a JSON object", "10.0.0.0/8");
        }

        @Test
        void wrongJsonTypesAreErrorsNamingFieldAndValue() {
            assertInvalid("{\"Network\":10}", "Network", "Network must be a string", "10");
            assertInvalid("{\"Network\":null}", "Network", "Network must be a string", "null");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetLen\":\"24\"}", "SubnetLen",
                "SubnetLen must be an unsigned integer", "\"24\"");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetLen\":-1}", "SubnetLen",
                "SubnetLen must be an unsigned integer", "-1");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetLen\":24.5}", "SubnetLen",
                "SubnetLen must be an unsigned integer", "24.5");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetLen\":18446744073709551640}", "SubnetLen",
                "SubnetLen must be an unsigned integer", "18446744073709551640");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetLen\":4294967320}", "SubnetLen",
                "SubnetLen must be less than /31", "4294967320");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"EnableIPv4\":\"true\"}", "EnableIPv4",
                "EnableIPv4 must be true or false", "\"true\"");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetMin\":167772416}", "SubnetMin",
                "SubnetMin must be a string", "167772416");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetMin\":\"\"}", "SubnetMin",
                "SubnetMin is not an IPv4 address", "\"\"");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetMax\":\"10.0.1\"}", "SubnetMax",
                "SubnetMax is not an IPv4 address", "\"10.0.1\"");
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetMax\":null}", "SubnetMax",
                "SubnetMax must be a string", "null");
        }
    }

    @Nested
    class ValidationRules {
        @Test
        void missingNetwork() {
            assertInvalid("{}", "Network", "please define a correct Network parameter in the flannel config",
                "Network is missing");
        }

        @ParameterizedTest
        @ValueSource(strings = {"0.0.0.0/0", "10.0.0.0/0"})
        void emptyNetwork(final String network) {
            assertInvalid("{\"Network\":\"" + network + "\"}", "Network",
                "please define a correct Network parameter in the flannel config", network);
        }

        @Test
        void ipv6NetworkIsNotAnIpv4Cidr() {
            assertInvalid("{\"Network\":\"fc00::/64\"}", "Network", "invalid IPv4 CIDR format", "fc00::/64");
        }

        @ParameterizedTest
        @ValueSource(strings = {"", "10.10.0.0", "10.10.0.0/33", "10.10.300.0/16", "banana"})
        void badNetworkText(final String network) {
            assertInvalid("{\"Network\":\"" + network + "\"}", "Network", "invalid IPv4 CIDR format",
                "\"" + network + "\"");
        }

        @ParameterizedTest
        @CsvSource({"31", "32", "33", "64"})
        void subnetLenAbove30(final int subnetLen) {
            assertInvalid("{\"Network\":\"10.0.0.0/8\",\"SubnetLen\":" + subnetLen + "}", "SubnetLen",
                "SubnetLen must be less than /31", "SubnetLen " + subnetLen);
        }

        @Test
        void subnetLenMustLeaveFourSubnets() {
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetLen\":17}", "SubnetLen",
                "network must be able to accommodate at least four subnets", "SubnetLen 17", "10.10.0.0/16");
            assertThat(NetworkConfig.parse("{\"Network\":\"10.10.0.0/16\",\"SubnetLen\":18}").subnetCount())
                .isEqualTo(3);
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetLen\":8}", "SubnetLen",
                "network must be able to accommodate at least four subnets", "SubnetLen 8");
        }

        @Test
        void explicitSubnetLenOnASmallNetwork() {
            final NetworkConfig c = NetworkConfig.parse("{\"Network\":\"10.10.0.0/28\",\"SubnetLen\":30}");
            assertThat(ip(c.subnetMin())).isEqualTo("10.10.0.4");
            assertThat(ip(c.subnetMax())).isEqualTo("10.10.0.12");
            // SubnetLen given: the /28 limit does not apply, only "four subnets" does (flannel's order)
            assertInvalid("{\"Network\":\"10.10.0.0/29\",\"SubnetLen\":30}", "SubnetLen",
                "network must be able to accommodate at least four subnets");
            assertInvalid("{\"Network\":\"10.10.0.0/32\",\"SubnetLen\":30}", "SubnetLen",
                "network must be able to accommodate at least four subnets");
        }

        @Test
        void subnetMinAndMaxMustLieInTheNetwork() {
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetMin\":\"10.11.0.0\"}", "SubnetMin",
                "SubnetMin is not in the range of the Network", "10.11.0.0", "10.10.0.0/16");
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetMax\":\"10.9.255.0\"}", "SubnetMax",
                "SubnetMax is not in the range of the Network", "10.9.255.0", "10.10.0.0/16");
        }

        @Test
        void explicitRangeInsideTheNetwork() {
            final NetworkConfig c = NetworkConfig.parse(
                "{\"Network\":\"10.10.0.0/16\",\"SubnetMin\":\"10.10.0.0\",\"SubnetMax\":\"10.10.10.0\"}");
            assertThat(ip(c.subnetMin())).isEqualTo("10.10.0.0");
            assertThat(ip(c.subnetMax())).isEqualTo("10.10.10.0");
            assertThat(c.subnetCount()).isEqualTo(11);
        }

        @Test
        void subnetMinRangeIsCheckedBeforeSubnetMaxAndBeforeAlignment() {
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetMin\":\"10.11.0.7\",\"SubnetMax\":\"10.12.0.0\"}",
                "SubnetMin", "SubnetMin is not in the range of the Network");
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetMin\":\"10.10.0.7\",\"SubnetMax\":\"10.12.0.0\"}",
                "SubnetMax", "SubnetMax is not in the range of the Network");
        }

        @Test
        void subnetMaxMustBeAligned() {
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetMax\":\"10.10.200.1\"}", "SubnetMax",
                "SubnetMax is not on a SubnetLen boundary: 10.10.200.1");
        }

        @Test
        void subnetMinAboveSubnetMaxIsRefusedUpFront() {
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetMin\":\"10.10.20.0\",\"SubnetMax\":\"10.10.10.0\"}",
                "SubnetMin", "SubnetMin 10.10.20.0 is above SubnetMax 10.10.10.0");
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"SubnetMin\":\"10.10.255.0\",\"SubnetMax\":\"10.10.1.0\"}",
                "SubnetMin", "SubnetMin 10.10.255.0 is above SubnetMax 10.10.1.0");
            // equal is one usable subnet
            assertThat(NetworkConfig.parse("{\"Network\":\"10.10.0.0/16\",\"SubnetMin\":\"10.10.7.0\","
                + "\"SubnetMax\":\"10.10.7.0\"}").subnetCount()).isEqualTo(1);
        }

        @Test
        void highAddressesCompareUnsigned() {
            final NetworkConfig c = NetworkConfig.parse("{\"Network\":\"200.0.0.0/8\",\"SubnetMin\":\"200.1.0.0\"}");
            assertThat(ip(c.subnetMin())).isEqualTo("200.1.0.0");
            assertThat(ip(c.subnetMax())).isEqualTo("200.255.255.0");
            assertThat(c.subnetCount()).isEqualTo(65535 - 255);
            assertThat(c.isCompatible(Ipv4Prefix.parse("200.255.255.0/24"))).isTrue();
            assertThat(c.isCompatible(Ipv4Prefix.parse("200.0.255.0/24"))).isFalse();
        }
    }

    @Nested
    class Ipv6 {
        @Test
        void enableIpv6IsValidatedLikeFlannelThenRefusedForUdp() {
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"EnableIPv6\":true}", "IPv6Network",
                "please define a correct IPv6Network parameter in the flannel config");
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/125\"}",
                "IPv6Network", "IPv6Network is too small. Minimum useful network prefix is /124", "fc00::/125");
            assertInvalid("{\"Network\":\"10.10.0.0/16\",\"enableIPv6\":true,\"IPv6Network\":\"fc00::/48\"}",
                "EnableIPv6", "EnableIPv6 is true, but overlay's udp backend carries IPv4 only", "fc00::/48");
        }

        @Test
        void ipv6PartIsIgnoredWhenNotEnabled() {
            final NetworkConfig c = NetworkConfig.parse("{\"Network\":\"10.10.0.0/16\",\"IPv6Network\":\"junk\"}");
            assertThat(c.subnetLen()).isEqualTo(24);
        }

        @Test
        void enableIpv4FalseIsRefused() {
            assertInvalid("{\"EnableIPv4\":false,\"EnableIPv6\":true,\"IPv6Network\":\"fc00::/48\"}", "EnableIPv4",
                "EnableIPv4 is false, but overlay's udp backend carries IPv4 only");
        }
    }

    @Nested
    class Backend {
        @Test
        void missingBackendMeansUdp() {
            assertThat(NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\"}").backend())
                .isEqualTo(new BackendConfig("udp", 8285));
        }

        @ParameterizedTest
        @ValueSource(strings = {"udp", "UDP", "Udp"})
        void typeIsCaseInsensitive(final String type) {
            assertThat(NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"" + type
                + "\"}}").backend()).isEqualTo(new BackendConfig("udp", 8285));
        }

        @ParameterizedTest
        @ValueSource(strings = {"vxlan", "VXLAN", "host-gw", "wireguard", "ipip", "ipsec", "alloc", "extension",
            "tencent-vpc", "aws-vpc", "gce", "ali-vpc"})
        void otherFlannelBackendsAreNamedAsUnsupported(final String type) {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"" + type + "\"}}", "Backend.Type",
                "backend type " + type.toLowerCase(java.util.Locale.ROOT) + " is not supported by overlay",
                "\"" + type + "\"");
        }

        @Test
        void unknownTypeUsesFlannelsWording() {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"carrier-pigeon\"}}",
                "Backend.Type", "unknown backend type: carrier-pigeon");
        }

        @ParameterizedTest
        @ValueSource(strings = {"{}", "{\"Type\":\"\"}", "{\"Type\":null}", "{\"Port\":8285}", "null"})
        void backendWithoutTypeIsAnError(final String backend) {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":" + backend + "}", "Backend.Type",
                "unknown backend type: ", "Backend has no Type");
        }

        @Test
        void backendOfTheWrongShape() {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":\"udp\"}", "Backend",
                "error decoding Backend property of config", "\"udp\"");
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":17}}", "Backend.Type",
                "error decoding Backend property of config", "17");
        }

        @ParameterizedTest
        @CsvSource({"1", "8285", "8472", "65535"})
        void validPorts(final int port) {
            assertThat(NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\",\"Port\":"
                + port + "}}").backend()).isEqualTo(new BackendConfig("udp", port));
        }

        @ParameterizedTest
        @ValueSource(strings = {"0", "-1", "65536", "18446744073709560901"})
        void portOutOfRange(final String port) {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\",\"Port\":" + port + "}}",
                "Backend.Port", "Backend.Port must be 1..65535", port);
        }

        @ParameterizedTest
        @ValueSource(strings = {"\"8285\"", "8285.5", "8285.0", "true", "[8285]"})
        void portNotAnInteger(final String port) {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\",\"Port\":" + port + "}}",
                "Backend.Port", "error decoding UDP backend config", port);
        }

        @Test
        void networkRulesComeBeforeTheBackend() {
            assertInvalid("{\"Network\":\"10.10.0.0/29\",\"Backend\":{\"Type\":\"vxlan\"}}", "Network",
                "network is too small");
        }
    }

    /** Too small or inconsistent networks (flannel issue #696, PR #896), in the 100.64.0.0/10 test range. */
    @Nested
    class B8 {
        @Test
        void slash32IsTooSmall() {
            assertInvalid("{\"Network\":\"100.64.0.0/32\"}", "Network",
                "network is too small. Minimum useful network prefix is /28", "100.64.0.0/32");
        }

        @Test
        void slash24WithSubnetLen24() {
            assertInvalid("{\"Network\":\"100.64.0.0/24\",\"SubnetLen\":24}", "SubnetLen",
                "network must be able to accommodate at least four subnets", "24", "100.64.0.0/24");
        }

        @Test
        void subnetLen31() {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"SubnetLen\":31}", "SubnetLen",
                "SubnetLen must be less than /31", "31");
        }

        @Test
        void slash28IsAccepted() {
            final NetworkConfig c = NetworkConfig.parse("{\"Network\":\"100.64.0.0/28\"}");
            assertThat(c.subnetLen()).isEqualTo(30);
            assertThat(ip(c.subnetMin())).isEqualTo("100.64.0.4");
            assertThat(ip(c.subnetMax())).isEqualTo("100.64.0.12");
            assertThat(c.subnetCount()).isEqualTo(3);
        }

        @Test
        void emptyObject() {
            assertInvalid("{}", "Network", "please define a correct Network parameter in the flannel config");
        }

        @Test
        void ipv6Network() {
            assertInvalid("{\"Network\":\"fc00::/64\"}", "Network", "invalid IPv4 CIDR format", "fc00::/64");
        }
    }

    /** SubnetMin off a SubnetLen boundary (flannel issue #430). */
    @Test
    void b9SubnetMinNotAligned() {
        assertInvalid("{\"Network\":\"100.64.0.0/16\",\"SubnetLen\":26,\"SubnetMin\":\"100.64.0.200\"}", "SubnetMin",
            "SubnetMin is not on a SubnetLen boundary: 100.64.0.200", "SubnetLen 26");
    }

    /** Out of subnets (flannel issues #875, #435): the /24 network holds exactly .64, .128, .192. */
    @Test
    void b7TinyNetworkRange() {
        final NetworkConfig c = NetworkConfig.parse("{\"Network\":\"100.64.0.0/24\"}");
        assertThat(c.subnetLen()).isEqualTo(26);
        assertThat(ip(c.subnetMin())).isEqualTo("100.64.0.64");
        assertThat(ip(c.subnetMax())).isEqualTo("100.64.0.192");
        assertThat(c.subnetCount()).isEqualTo(3);
        assertThat(c.rangeDescription()).isEqualTo("/26 subnets 100.64.0.64-100.64.0.192 of 100.64.0.0/24");
        assertThat(c.isCompatible(Ipv4Prefix.parse("100.64.0.64/26"))).isTrue();
        assertThat(c.isCompatible(Ipv4Prefix.parse("100.64.0.128/26"))).isTrue();
        assertThat(c.isCompatible(Ipv4Prefix.parse("100.64.0.192/26"))).isTrue();
        assertThat(c.isCompatible(Ipv4Prefix.parse("100.64.0.0/26"))).as("first subnet is skipped").isFalse();
        assertThat(c.isCompatible(Ipv4Prefix.parse("100.64.0.64/27"))).as("other length").isFalse();
        assertThat(c.isCompatible(Ipv4Prefix.parse("100.64.1.0/26"))).as("outside").isFalse();
    }

    /** Backend type: missing means udp, the type is case-insensitive, others are refused (flannel issue #1221). */
    @Nested
    class B15 {
        @Test
        void noBackendIsUdp() {
            assertThat(NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\"}").backend().type()).isEqualTo("udp");
        }

        @Test
        void upperCaseUdp() {
            assertThat(NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"UDP\"}}")
                .backend()).isEqualTo(BackendConfig.DEFAULT_UDP);
        }

        @Test
        void vxlanIsRefusedClearly() {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"vxlan\"}}", "Backend.Type",
                "backend type vxlan is not supported by overlay");
        }

        @Test
        void missingTypeIsReported() {
            assertInvalid("{\"Network\":\"100.64.0.0/16\",\"Backend\":{}}", "Backend.Type",
                "unknown backend type: ", "no Type");
        }
    }
}
