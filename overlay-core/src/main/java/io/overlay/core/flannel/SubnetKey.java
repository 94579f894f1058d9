package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * flannel's subnet key names ({@code MakeSubnetKey} in flannel v0.28.9 {@code pkg/subnet/subnet.go}):
 * {@code 10.10.16.0-24} for IPv4, and the dual-stack form {@code 10.10.16.0-24&fc00:0:0:1::-64}.
 *
 * <p>Parsing is stricter than flannel's {@code ParseSubnetKey} (v0.20.2 {@code subnet/subnet.go}, unchanged in
 * v0.28.9 {@code pkg/subnet/subnet.go}), whose pattern {@code (\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$} is
 * anchored at the end only (two of its dots match any character), so {@code <prefix>/subnets/x/10.10.16.0-24} and
 * {@code <prefix>/subnets/../../etc/10.10.16.0-24} are leases to flanneld. Here the <em>whole</em> name after
 * {@code <prefix>/subnets/} must be a key ({@link #parseKey}), and a key must be written the way
 * {@code MakeSubnetKey} writes it: dotted quad without leading zeros, prefix length 0..31 without leading zeros, no
 * host bits set ({@code 10.10.16.5-24} and {@code 10.10.16.0-024} are not keys, though flannel would take them), and
 * for the IPv6 part a valid lower-case address with a prefix length 0..127. So one subnet has exactly one IPv4-only
 * key; only the dual-stack forms can still name the same IPv4 subnet twice (see docs/flannel-compatibility.md).
 */
public final class SubnetKey {
    private static final Pattern KEY = Pattern.compile(
        "(\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3})-(0|[1-9]\\d?)(?:&([a-f\\d:]+)-(0|[1-9]\\d{0,2}))?");

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
     * Parses a full etcd key: it must be {@code subnetsPrefix + "/" + name} where the whole name is a subnet key
     * ({@link #parse}); nothing else (no further {@code /}, no other prefix) is a lease.
     *
     * @param subnetsPrefix {@code <prefix>/subnets}; trailing slashes are ignored
     * @param key the full etcd key
     * @return the parsed key, or empty when the key is not a subnet key
     */
    public static Optional<Parsed> parseKey(final String subnetsPrefix, final String key) {
        final String dir = dir(subnetsPrefix);
        if (!key.startsWith(dir) || key.length() <= dir.length() || key.charAt(dir.length()) != '/') {
            return Optional.empty();
        }
        return parse(key.substring(dir.length() + 1));
    }

    /**
     * Returns the subnets directory without trailing slashes.
     *
     * @param subnetsPrefix e.g. {@code /coreos.com/network/subnets/}
     * @return e.g. {@code /coreos.com/network/subnets}
     */
    public static String dir(final String subnetsPrefix) {
        int end = subnetsPrefix.length();
        while (end > 0 && subnetsPrefix.charAt(end - 1) == '/') {
            end--;
        }
        return subnetsPrefix.substring(0, end);
    }

    /**
     * Parses a subnet key name (the last segment of the etcd key only): the whole text must match.
     *
     * @param name e.g. {@code 10.10.16.0-24} or {@code 10.10.16.0-24&fc00:0:0:1::-64}
     * @return the parsed key, or empty when the name is not a subnet key as flannel writes them (flannel: "Ignoring
     *     bad subnet node")
     */
    public static Optional<Parsed> parse(final String name) {
        final Matcher m = KEY.matcher(name);
        if (!m.matches()) {
            return Optional.empty();
        }
        try {
            final int len = Integer.parseInt(m.group(2));
            if (len > 31) {
                return Optional.empty();
            }
            final int address = Ipv4.parse(m.group(1));
            final Ipv4Prefix v4 = Ipv4Prefix.containing(address, len);
            if (v4.address() != address) {
                return Optional.empty();
            }
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
