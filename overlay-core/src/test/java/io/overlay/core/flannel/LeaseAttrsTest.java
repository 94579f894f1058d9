package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** flannel's lease value ({@code docs/flannel-compatibility.md#lease-value}), the udp value byte for byte. */
class LeaseAttrsTest {
    private static LeaseAttrs parse(final String json) {
        return LeaseAttrs.parse(json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void writesExactlyWhatFlannelsUdpBackendWrites() {
        final LeaseAttrs attrs = LeaseAttrs.udp(Ipv4.parse("198.18.0.1"));
        assertThat(attrs.toJson()).isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
        assertThat(attrs.toBytes()).isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}"
            .getBytes(StandardCharsets.US_ASCII));
        assertThat(LeaseAttrs.udp(Ipv4.parse("192.168.1.10")).toJson())
            .isEqualTo("{\"PublicIP\":\"192.168.1.10\",\"PublicIPv6\":null}");
    }

    @Test
    void readsTheCurrentUdpShape() {
        final LeaseAttrs a = parse("{\"PublicIP\":\"192.168.1.10\",\"PublicIPv6\":null}");
        assertThat(a).isEqualTo(new LeaseAttrs(Ipv4.parse("192.168.1.10"), null, null, null));
        assertThat(a).isEqualTo(LeaseAttrs.udp(Ipv4.parse("192.168.1.10")));
    }

    @Test
    void readsThePreV015Shape() {
        assertThat(parse("{\"PublicIP\":\"192.168.1.10\"}")).isEqualTo(LeaseAttrs.udp(Ipv4.parse("192.168.1.10")));
    }

    @Test
    void readsTheVxlanShapeOfTheReservationsDoc() {
        final String value = "{\"PublicIP\":\"192.168.64.3\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
            + "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"c6:d2:32:6f:8f:44\"}}";
        final LeaseAttrs a = parse(value);
        assertThat(Ipv4.format(a.publicIp())).isEqualTo("192.168.64.3");
        assertThat(a.publicIpv6()).isNull();
        assertThat(a.backendType()).isEqualTo("vxlan");
        assertThat(a.backendData()).isEqualTo("{\"VNI\":1,\"VtepMAC\":\"c6:d2:32:6f:8f:44\"}");
        assertThat(a.toJson()).as("round trip in Go's field order").isEqualTo(value);
    }

    @Test
    void readsDualStackAndIpv6OnlyShapes() {
        final LeaseAttrs dual = parse("{\"PublicIP\":\"198.18.0.5\",\"PublicIPv6\":\"fc00::5\",\"BackendType\":"
            + "\"vxlan\",\"BackendData\":{\"VNI\":1},\"BackendV6Data\":{\"VNI\":1}}");
        assertThat(dual.publicIpv6()).isEqualTo("fc00::5");
        assertThat(dual.toJson()).isEqualTo("{\"PublicIP\":\"198.18.0.5\",\"PublicIPv6\":\"fc00::5\","
            + "\"BackendType\":\"vxlan\",\"BackendData\":{\"VNI\":1}}");
        final LeaseAttrs v6only = parse("{\"PublicIP\":\"0.0.0.0\",\"PublicIPv6\":\"fc00::6\"}");
        assertThat(v6only.publicIp()).isZero();
    }

    @Test
    void ignoresUnknownFieldsAndMatchesNamesCaseInsensitively() {
        final LeaseAttrs a = parse("{\"publicip\":\"198.18.0.7\",\"PUBLICIPV6\":null,\"backendtype\":\"udp\","
            + "\"Future\":{\"x\":[1,2,3]},\"Other\":7}");
        assertThat(a).isEqualTo(new LeaseAttrs(Ipv4.parse("198.18.0.7"), null, "udp", null));
    }

    @Test
    void theLastSpellingOfAFieldWinsAsInGo() {
        assertThat(Ipv4.format(parse("{\"PublicIP\":\"198.18.0.1\",\"publicIP\":\"198.18.0.2\"}").publicIp()))
            .isEqualTo("198.18.0.2");
    }

    @Test
    void emptyBackendTypeIsAbsent() {
        assertThat(parse("{\"PublicIP\":\"198.18.0.1\",\"BackendType\":\"\"}").backendType()).isNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "not-json", "[]", "null", "\"198.18.0.1\"", "{}", "{\"PublicIP\":null}",
        "{\"PublicIP\":3323068417}", "{\"PublicIP\":\"198.18.0\"}", "{\"PublicIP\":\"fc00::1\"}",
        "{\"PublicIP\":\"198.18.0.1\"} trailing", "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":5}",
        "{\"PublicIP\":\"198.18.0.1\",\"BackendType\":[\"vxlan\"]}"})
    void badValuesAreRefusedWithTheValueQuoted(final String value) {
        assertThatThrownBy(() -> parse(value)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("lease value").hasMessageContaining("'" + value + "'");
    }

    @Test
    void longBadValuesAreShortenedInTheMessage() {
        final String value = "{\"PublicIP\":\"x\",\"Pad\":\"" + "a".repeat(500) + "\"}";
        assertThatThrownBy(() -> parse(value)).hasMessageContaining("...")
            .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(300));
    }

    @Test
    void leaseRecordHelpers() {
        final Lease lease = new Lease(Ipv4Prefix.parse("10.10.16.0/24"), LeaseAttrs.udp(Ipv4.parse("192.168.1.10")),
            false, Duration.ofSeconds(86400));
        assertThat(lease.key()).isEqualTo("10.10.16.0-24");
        assertThat(lease.peer(8285)).isEqualTo(new Peer(Ipv4.parse("192.168.1.10"), 8285));
        assertThat(lease.peer(8285)).hasToString("192.168.1.10:8285");
    }
}
