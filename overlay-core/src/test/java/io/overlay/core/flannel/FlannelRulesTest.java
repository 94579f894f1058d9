package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** flannel's TUN address, MTU and subnet.env rules ({@code docs/flannel-compatibility.md}: tun-device, mtu). */
class FlannelRulesTest {
    @ParameterizedTest
    @CsvSource({"1500, 1472", "9000, 8972", "1450, 1422", "65535, 65507", "96, 68"})
    void mtuIsUnderlayMinus28(final int underlay, final int expected) {
        assertThat(FlannelRules.mtu(underlay)).isEqualTo(expected);
        assertThat(FlannelRules.ENCAPSULATION_OVERHEAD).isEqualTo(28);
    }

    @Test
    void mtuBelowTheIpv4MinimumIsRefused() {
        assertThatThrownBy(() -> FlannelRules.mtu(95)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("95").hasMessageContaining("67");
        assertThatThrownBy(() -> FlannelRules.mtu(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void tunAddressIsTheSubnetAddressAsSlash32() {
        assertThat(FlannelRules.tunAddress(Ipv4Prefix.parse("10.10.16.0/24")))
            .isEqualTo(Ipv4Prefix.parse("10.10.16.0/32"));
        assertThat(FlannelRules.tunAddress(Ipv4Prefix.parse("100.64.0.64/26")))
            .hasToString("100.64.0.64/32");
    }

    @Test
    void bridgeAddressIsSubnetPlusOne() {
        assertThat(Ipv4.format(FlannelRules.bridgeAddress(Ipv4Prefix.parse("10.10.16.0/24")))).isEqualTo("10.10.16.1");
        assertThat(FlannelRules.subnetWithBridgeAddress(Ipv4Prefix.parse("10.10.16.0/24"))).isEqualTo("10.10.16.1/24");
        assertThat(FlannelRules.subnetWithBridgeAddress(Ipv4Prefix.parse("10.10.0.4/30"))).isEqualTo("10.10.0.5/30");
        assertThatThrownBy(() -> FlannelRules.bridgeAddress(Ipv4Prefix.parse("10.10.0.4/32")))
            .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void defaultPortIs8285() {
        assertThat(FlannelRules.DEFAULT_PORT).isEqualTo(8285);
        assertThat(BackendConfig.DEFAULT_UDP).isEqualTo(new BackendConfig("udp", 8285));
    }

    /** One lease end to end: 10.10.16.0/24 on a 1500-byte underlay gives 10.10.16.0/32, MTU 1472, 10.10.16.1/24. */
    @Test
    void workedExampleOfSection21() {
        final Ipv4Prefix lease = Ipv4Prefix.parse("10.10.16.0/24");
        assertThat(FlannelRules.tunAddress(lease)).hasToString("10.10.16.0/32");
        assertThat(FlannelRules.mtu(1500)).isEqualTo(1472);
        assertThat(FlannelRules.subnetWithBridgeAddress(lease)).isEqualTo("10.10.16.1/24");
    }
}
