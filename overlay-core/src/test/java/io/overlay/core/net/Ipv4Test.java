package io.overlay.core.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.Inet4Address;
import java.net.InetAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class Ipv4Test {
    @ParameterizedTest
    @CsvSource({
        "0.0.0.0, 0x00000000",
        "198.18.0.1, 0xc6120001",
        "100.64.0.0, 0x64400000",
        "10.10.16.0, 0x0a0a1000",
        "255.255.255.255, 0xffffffff",
        "192.168.1.10, 0xc0a8010a",
    })
    void parsesAndFormatsDottedQuads(final String text, final String hex) {
        final int expected = Integer.parseUnsignedInt(hex.substring(2), 16);
        assertThat(Ipv4.parse(text)).isEqualTo(expected);
        assertThat(Ipv4.format(expected)).isEqualTo(text);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "1.2.3", "1.2.3.4.", "1.2.3.4.5", ".1.2.3", "1..2.3", "256.0.0.1", "1.2.3.256",
        "01.2.3.4", "1.2.3.04", "1.2.3.-4", "+1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "localhost", "1.2.3.4/24",
        "::1", "1234.1.1.1"})
    void rejectsBadTextNamingIt(final String text) {
        assertThatThrownBy(() -> Ipv4.parse(text)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("not an IPv4 address").hasMessageContaining("\"" + text + "\"");
    }

    @Test
    void rejectsNull() {
        assertThatThrownBy(() -> Ipv4.parse(null)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("missing");
    }

    @Test
    void masks() {
        assertThat(Ipv4.mask(0)).isZero();
        assertThat(Ipv4.mask(8)).isEqualTo(0xff000000);
        assertThat(Ipv4.mask(24)).isEqualTo(0xffffff00);
        assertThat(Ipv4.mask(26)).isEqualTo(0xffffffc0);
        assertThat(Ipv4.mask(32)).isEqualTo(0xffffffff);
        assertThatThrownBy(() -> Ipv4.mask(33)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("33");
        assertThatThrownBy(() -> Ipv4.mask(-1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-1");
    }

    @Test
    void convertsToAndFromJdkAddresses() throws Exception {
        final Inet4Address jdk = Ipv4.toInetAddress(Ipv4.parse("198.18.0.2"));
        assertThat(jdk.getAddress()).containsExactly(198, 18, 0, 2);
        assertThat(Ipv4.fromInetAddress((Inet4Address) InetAddress.getByAddress(new byte[] {(byte) 198, 18, 0,
            (byte) 255}))).isEqualTo(Ipv4.parse("198.18.0.255"));
    }

    @ParameterizedTest
    @ValueSource(ints = {68, 1472, 65535})
    void checkMtuAcceptsIpv4sRange(final int mtu) {
        assertThat(Ipv4.checkMtu("bridge MTU", mtu)).isEqualTo(mtu);
    }

    @ParameterizedTest
    @ValueSource(ints = {67, 65536, 0, -1})
    void checkMtuRefusesOutOfRangeNamingTheSettingAndValue(final int mtu) {
        assertThatThrownBy(() -> Ipv4.checkMtu("bridge MTU", mtu)).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("bridge MTU must be 68..65535 bytes, got " + mtu);
    }

    @Test
    void noRouteIsMinusOneAndNoPackedPeer() {
        assertThat(RouteTable.NO_ROUTE).isEqualTo(-1L);
        assertThat(new Peer(-1, 65535).packed()).as("the largest packed peer").isPositive();
    }
}
