package io.overlay.core.flannel;

import java.math.BigInteger;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * flannel's IPv6 rules of {@code CheckNetworkConfig} (flannel v0.28.9 {@code pkg/subnet/config.go}), with flannel's
 * error wording. overlay's udp backend carries IPv4 only and refuses {@code EnableIPv6}; it checks the IPv6 part
 * first only so that a bad one gets the error flanneld would give. Addresses are 128-bit numbers here and Go's
 * canonical text (RFC 5952) in messages, e.g. {@code fc00:0:0:1::}.
 */
final class Ipv6NetworkCheck {
    /**
     * The IPv6 part of a config after the rules, every default filled in.
     *
     * @param network the IPv6Network, masked, e.g. {@code fc00::/48}
     * @param subnetLen IPv6SubnetLen, e.g. 64
     * @param subnetMin IPv6SubnetMin, e.g. {@code fc00:0:0:1::}
     * @param subnetMax IPv6SubnetMax, e.g. {@code fc00:0:0:ffff::}
     */
    record Range(String network, int subnetLen, String subnetMin, String subnetMax) {
    }

    private static final BigInteger ALL_ONES = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);

    private Ipv6NetworkCheck() {
    }

    /**
     * Applies flannel's IPv6 defaults and rules, in flannel's order.
     *
     * @param networkText {@code IPv6Network} as written, or {@code null} when missing
     * @param subnetLenGiven {@code IPv6SubnetLen}, 0 when missing
     * @param minText {@code IPv6SubnetMin} as written, or {@code null}
     * @param maxText {@code IPv6SubnetMax} as written, or {@code null}
     * @return the range with every default filled in
     * @throws InvalidNetworkConfigException with flannel's wording, naming the field and value
     */
    static Range check(final String networkText, final long subnetLenGiven, final String minText,
                       final String maxText) {
        if (networkText == null) {
            throw new InvalidNetworkConfigException("IPv6Network",
                "please define a correct IPv6Network parameter in the flannel config (IPv6Network is missing)");
        }
        final int slash = networkText.indexOf('/');
        final BigInteger addr = slash < 0 ? null : parse(networkText.substring(0, slash));
        final String lenText = slash < 0 ? "" : networkText.substring(slash + 1);
        if (addr == null || !lenText.matches("\\d{1,3}") || Integer.parseInt(lenText) > 128) {
            throw new InvalidNetworkConfigException("IPv6Network", "invalid IPv6 CIDR format: IPv6Network \""
                + networkText + "\"");
        }
        final int prefix = Integer.parseInt(lenText);
        final BigInteger net = addr.and(mask(prefix));
        if (net.signum() == 0 && prefix == 0) {
            throw new InvalidNetworkConfigException("IPv6Network", "please define a correct IPv6Network "
                + "parameter in the flannel config (IPv6Network is \"" + networkText + "\")");
        }
        final String netText = format(net) + "/" + prefix;
        final int subnetLen;
        if (subnetLenGiven > 0) {
            if (subnetLenGiven > 126) {
                throw new InvalidNetworkConfigException("IPv6SubnetLen", "SubnetLen must be less than /127 "
                    + "(IPv6SubnetLen " + subnetLenGiven + ")");
            }
            if (subnetLenGiven < prefix + 2) {
                throw new InvalidNetworkConfigException("IPv6SubnetLen", "network must be able to accommodate "
                    + "at least four subnets (IPv6SubnetLen " + subnetLenGiven + ", IPv6Network " + netText + ")");
            }
            subnetLen = (int) subnetLenGiven;
        } else {
            if (prefix > 124) {
                throw new InvalidNetworkConfigException("IPv6Network", "IPv6Network is too small. Minimum "
                    + "useful network prefix is /124 (IPv6Network " + netText + ")");
            }
            subnetLen = prefix <= 62 ? 64 : prefix + 2;
        }
        final BigInteger size = BigInteger.ONE.shiftLeft(128 - subnetLen);
        final BigInteger netSize = BigInteger.ONE.shiftLeft(128 - prefix);
        BigInteger min = address("IPv6SubnetMin", minText);
        if (min == null || min.signum() == 0) {
            min = net.add(size);
        } else if (!min.and(mask(prefix)).equals(net)) {
            throw new InvalidNetworkConfigException("IPv6SubnetMin", "IPv6SubnetMin is not in the range of the "
                + "IPv6Network (IPv6SubnetMin " + format(min) + ", IPv6Network " + netText + ")");
        }
        BigInteger max = address("IPv6SubnetMax", maxText);
        if (max == null || max.signum() == 0) {
            max = net.add(netSize).subtract(size);
        } else if (!max.and(mask(prefix)).equals(net)) {
            throw new InvalidNetworkConfigException("IPv6SubnetMax", "IPv6SubnetMax is not in the range of the "
                + "IPv6Network (IPv6SubnetMax " + format(max) + ", IPv6Network " + netText + ")");
        }
        if (!min.and(mask(subnetLen)).equals(min)) {
            throw new InvalidNetworkConfigException("IPv6SubnetMin", "IPv6SubnetMin is not on a SubnetLen "
                + "boundary: " + format(min) + " (IPv6SubnetLen " + subnetLen + ")");
        }
        if (!max.and(mask(subnetLen)).equals(max)) {
            throw new InvalidNetworkConfigException("IPv6SubnetMax", "IPv6SubnetMax is not on a SubnetLen "
                + "boundary: " + format(max) + " (IPv6SubnetLen " + subnetLen + ")");
        }
        return new Range(netText, subnetLen, format(min), format(max));
    }

    private static BigInteger mask(final int prefix) {
        return ALL_ONES.shiftRight(128 - prefix).shiftLeft(128 - prefix);
    }

    private static BigInteger address(final String name, final String text) {
        if (text == null) {
            return null;
        }
        final BigInteger a = parse(text);
        if (a == null) {
            throw new InvalidNetworkConfigException(name, name + " is not an IPv6 address: \"" + text + "\"");
        }
        return a;
    }

    /** IPv6 text to a 128-bit number, or null. Only text with a colon reaches the JDK, so no name lookup. */
    static BigInteger parse(final String text) {
        if (text.indexOf(':') < 0 || !text.matches("[0-9A-Fa-f:.]+")) {
            return null;
        }
        try {
            final InetAddress a = InetAddress.getByName(text);
            return a instanceof Inet6Address ? new BigInteger(1, a.getAddress()) : null;
        } catch (UnknownHostException e) {
            return null;
        }
    }

    /** Go's / RFC 5952 text: lower-case hex, no leading zeros, the longest run of two or more zero groups as ::. */
    static String format(final BigInteger value) {
        final int[] g = new int[8];
        for (int i = 0; i < 8; i++) {
            g[i] = value.shiftRight(16 * (7 - i)).intValue() & 0xffff;
        }
        int bestStart = -1;
        int bestLen = 1;
        for (int i = 0; i < 8;) {
            int j = i;
            while (j < 8 && g[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        final StringBuilder sb = new StringBuilder(39);
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(g[i]));
        }
        return sb.toString();
    }
}
