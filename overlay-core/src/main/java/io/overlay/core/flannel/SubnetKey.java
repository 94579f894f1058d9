package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * flannel's subnet key names ({@code MakeSubnetKey} in flannel v0.28.9 {@code pkg/subnet/subnet.go}):
 * {@code 10.10.16.0-24} for IPv4, and the dual-stack form {@code 10.10.16.0-24&fc00:0:0:1::-64}. Parsing matches
 * flannel's {@code ParseSubnetKey}: the pattern is applied to the end of the full etcd key, the IPv4 prefix length must
 * fit in 5 bits (0..31, so {@code -32} is rejected) and the IPv6 one in 7 bits (0..127), both addresses must be valid.
 *
 * <p>One difference: flannel keeps host bits a key may carry ({@code 10.10.16.5-24} stays {@code 10.10.16.5/24});
 * overlay clears them ({@code 10.10.16.0/24}), which gives the same overlap and route results (flannel masks there too)
 * but means such a key must be rewritten or deleted through its original text, not through {@link #format}.
 */
public final class SubnetKey {
    private static final Pattern KEY = Pattern.compile(
        "(\\d+\\.\\d+\\.\\d+\\.\\d+)-(\\d+)(?:&([a-f\\d:]+)-(\\d+))?$");

    private SubnetKey() {
    }

    /**
     * A parsed key.
     *
     * @param ipv4 the IPv4 subnet
     * @param ipv6 the IPv6 subnet text with its prefix ({@code fc00:0:0:1::/64}), or {@code null}
     */
    public record Parsed(Ipv4Prefix ipv4, String ipv6) {
    }

    /**
     * Formats the key of a dual-stack lease, flannel's {@code MakeSubnetKey} with an IPv6 subnet.
     *
     * @param subnet the IPv4 subnet
     * @param ipv6Subnet the IPv6 subnet in Go's canonical text with its prefix, e.g. {@code fc00:0:0:1::/64}
     * @return e.g. {@code 10.10.16.0-24&fc00:0:0:1::-64}
     * @throws IllegalArgumentException if ipv6Subnet has no {@code /len}
     */
    public static String format(final Ipv4Prefix subnet, final String ipv6Subnet) {
        final int slash = ipv6Subnet.lastIndexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("IPv6 subnet needs a prefix length: \"" + ipv6Subnet + "\"");
        }
        return format(subnet) + "&" + ipv6Subnet.substring(0, slash) + "-" + ipv6Subnet.substring(slash + 1);
    }

    /**
     * Formats the key of an IPv4 subnet.
     *
     * @param subnet the subnet
     * @return e.g. {@code 10.10.16.0-24}
     */
    public static String format(final Ipv4Prefix subnet) {
        return Ipv4.format(subnet.address()) + "-" + subnet.length();
    }

    /**
     * Parses the subnet from a key (the whole etcd key or just its last segment).
     *
     * @param key the etcd key
     * @return the parsed key, or empty when the key is not a subnet key (flannel: "Ignoring bad subnet node")
     */
    public static Optional<Parsed> parse(final String key) {
        final Matcher m = KEY.matcher(key);
        if (!m.find()) {
            return Optional.empty();
        }
        try {
            final int len = Integer.parseInt(m.group(2));
            if (len > 31) {
                return Optional.empty();
            }
            final Ipv4Prefix v4 = Ipv4Prefix.containing(Ipv4.parse(m.group(1)), len);
            String v6 = null;
            if (m.group(3) != null) {
                final int len6 = Integer.parseInt(m.group(4));
                if (len6 > 127 || Ipv6NetworkCheck.parse(m.group(3)) == null) {
                    return Optional.empty();
                }
                v6 = m.group(3) + "/" + len6;
            }
            return Optional.of(new Parsed(v4, v6));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
