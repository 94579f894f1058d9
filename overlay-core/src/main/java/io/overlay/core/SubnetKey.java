package io.overlay.core;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * flannel's subnet key names (flannel reference §1.1): {@code 10.10.16.0-24} for IPv4, and the dual-stack form
 * {@code 10.10.16.0-24&fc00:0:0:1::-64}. Parsing matches flannel's {@code ParseSubnetKey}: the pattern is applied to
 * the end of the full etcd key, the IPv4 prefix length must fit in 5 bits (0..31, so {@code -32} is rejected) and the
 * IPv6 one in 7 bits (0..127).
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
                if (len6 > 127) {
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
