package io.overlay.core.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class Ipv4PrefixTest {
    private static Ipv4Prefix p(final String text) {
        return Ipv4Prefix.parse(text);
    }

    @ParameterizedTest
    @CsvSource({
        "10.10.0.0/16, 0x0a0a0000, 16, 65536",
        "10.10.16.0/24, 0x0a0a1000, 24, 256",
        "100.64.0.0/10, 0x64400000, 10, 4194304",
        "0.0.0.0/0, 0x00000000, 0, 4294967296",
        "198.18.0.1/32, 0xc6120001, 32, 1",
        "10.10.0.192/26, 0x0a0a00c0, 26, 64",
    })
    void parsesAndFormats(final String text, final String hex, final int length, final long size) {
        final Ipv4Prefix prefix = p(text);
        assertThat(prefix.address()).isEqualTo(Integer.parseUnsignedInt(hex.substring(2), 16));
        assertThat(prefix.length()).isEqualTo(length);
        assertThat(prefix.size()).isEqualTo(size);
        assertThat(prefix.mask()).isEqualTo(Ipv4.mask(length));
        assertThat(prefix).hasToString(text);
        assertThat(prefix).isEqualTo(Ipv4Prefix.of(prefix.address(), length)).hasSameHashCodeAs(
            Ipv4Prefix.of(prefix.address(), length));
    }

    @Test
    void parseRefusesHostBitsButParseMaskedClearsThemLikeFlannel() {
        assertThatThrownBy(() -> p("10.10.1.5/16")).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("host bits").hasMessageContaining("10.10.1.5/16").hasMessageContaining("10.10.0.0/16");
        assertThat(Ipv4Prefix.parseMasked("10.10.1.5/16")).isEqualTo(p("10.10.0.0/16"));
        assertThat(Ipv4Prefix.containing(Ipv4.parse("10.10.16.77"), 24)).isEqualTo(p("10.10.16.0/24"));
        assertThatThrownBy(() -> Ipv4Prefix.of(Ipv4.parse("10.10.16.1"), 24))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("10.10.16.1/24");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "10.10.0.0", "10.10.0.0/", "10.10.0.0/33", "10.10.0.0/-1", "10.10.0.0/016",
        "10.10.0.0/1a", "10.10.0/16", "fc00::/48", "10.10.0.0/16/1", "300.1.1.1/8", " 10.0.0.0/8"})
    void rejectsBadTextQuotingIt(final String text) {
        assertThatThrownBy(() -> Ipv4Prefix.parse(text)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("\"" + text + "\"");
        assertThatThrownBy(() -> Ipv4Prefix.parseMasked(text)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("not an IPv4 CIDR");
    }

    @Test
    void rejectsNull() {
        assertThatThrownBy(() -> Ipv4Prefix.parseMasked(null)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("missing");
    }

    @Test
    void containsAddresses() {
        final Ipv4Prefix net = p("10.10.16.0/24");
        assertThat(net.contains(Ipv4.parse("10.10.16.0"))).isTrue();
        assertThat(net.contains(Ipv4.parse("10.10.16.255"))).isTrue();
        assertThat(net.contains(Ipv4.parse("10.10.17.0"))).isFalse();
        assertThat(net.contains(Ipv4.parse("10.10.15.255"))).isFalse();
        assertThat(p("0.0.0.0/0").contains(Ipv4.parse("255.255.255.255"))).isTrue();
        assertThat(p("128.0.0.0/1").contains(Ipv4.parse("255.0.0.1"))).isTrue();
        assertThat(p("128.0.0.0/1").contains(Ipv4.parse("127.255.255.255"))).isFalse();
    }

    @Test
    void containsPrefixes() {
        final Ipv4Prefix net = p("10.10.0.0/16");
        assertThat(net.contains(p("10.10.16.0/24"))).isTrue();
        assertThat(net.contains(net)).isTrue();
        assertThat(net.contains(p("10.0.0.0/8"))).isFalse();
        assertThat(net.contains(p("10.11.0.0/24"))).isFalse();
    }

    @Test
    void overlapsAsFlannelDoes() {
        assertThat(p("10.10.0.0/16").overlaps(p("10.10.16.0/24"))).isTrue();
        assertThat(p("10.10.16.0/24").overlaps(p("10.10.0.0/16"))).isTrue();
        assertThat(p("10.10.16.0/24").overlaps(p("10.10.16.0/24"))).isTrue();
        assertThat(p("10.10.16.0/24").overlaps(p("10.10.17.0/24"))).isFalse();
        assertThat(p("10.10.16.0/20").overlaps(p("10.10.31.0/24"))).isTrue();
        assertThat(p("10.10.16.0/20").overlaps(p("10.10.32.0/24"))).isFalse();
        assertThat(p("0.0.0.0/0").overlaps(p("198.18.0.0/15"))).isTrue();
    }

    @Test
    void nextGivesTheFollowingBlock() {
        assertThat(p("10.10.16.0/24").next()).isEqualTo(p("10.10.17.0/24"));
        assertThat(p("10.10.255.0/24").next()).isEqualTo(p("10.11.0.0/24"));
        assertThat(p("10.10.0.192/26").next()).isEqualTo(p("10.10.1.0/26"));
        assertThat(p("127.0.0.0/8").next()).isEqualTo(p("128.0.0.0/8"));
        assertThat(p("255.255.254.0/24").next()).isEqualTo(p("255.255.255.0/24"));
    }

    @Test
    void nextPastTheAddressSpaceFails() {
        assertThatThrownBy(() -> p("255.255.255.0/24").next()).isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("255.255.255.0/24");
        assertThatThrownBy(() -> p("0.0.0.0/0").next()).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void hostAddressN() {
        final Ipv4Prefix net = p("10.10.16.0/24");
        assertThat(Ipv4.format(net.hostAddress(0))).isEqualTo("10.10.16.0");
        assertThat(Ipv4.format(net.hostAddress(1))).isEqualTo("10.10.16.1");
        assertThat(Ipv4.format(net.hostAddress(255))).isEqualTo("10.10.16.255");
        assertThat(Ipv4.format(p("255.255.255.252/30").hostAddress(3))).isEqualTo("255.255.255.255");
        assertThatThrownBy(() -> net.hostAddress(256)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("256").hasMessageContaining("10.10.16.0/24");
        assertThatThrownBy(() -> net.hostAddress(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void ordersByUnsignedAddressThenLength() {
        final List<Ipv4Prefix> list = new ArrayList<>(List.of(p("200.0.0.0/8"), p("10.10.16.0/24"),
            p("10.10.0.0/16"), p("1.0.0.0/8")));
        Collections.sort(list);
        assertThat(list).containsExactly(p("1.0.0.0/8"), p("10.10.0.0/16"), p("10.10.16.0/24"), p("200.0.0.0/8"));
        assertThat(p("10.10.0.0/16")).isNotEqualTo(p("10.10.0.0/24"));
    }
}
