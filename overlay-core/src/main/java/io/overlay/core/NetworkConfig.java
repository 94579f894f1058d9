package io.overlay.core;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * flannel's network config, the JSON at {@code <prefix>/config}, parsed, defaulted and validated with flannel's
 * semantics ({@code ParseConfig} and {@code CheckNetworkConfig} in {@code pkg/subnet/config.go}; flannel reference
 * §1.2):
 * <ul>
 * <li>key names match case-insensitively, unknown keys are ignored, a JSON value of the wrong type is an error;</li>
 * <li>{@code Network}'s host bits are masked ({@code "10.10.1.5/16"} is {@code 10.10.0.0/16});</li>
 * <li>{@code SubnetLen} defaults to 24 when the Network prefix is at most /22, else prefix + 2, and must leave room for
 *     four subnets; {@code SubnetMin}/{@code SubnetMax} default to the second and the last subnet, and must lie in
 *     the Network on a SubnetLen boundary;</li>
 * <li>a missing {@code Backend} means {@code udp} (the code's default, though flannel's docs say vxlan), the type is
 *     case-insensitive, {@code Port} defaults to 8285.</li>
 * </ul>
 * Where overlay is stricter than flannel: {@code SubnetMin > SubnetMax} is rejected up front (flannel only fails later
 * with "out of subnets"), {@code Port} must be 1..65535 (flannel accepts 0), backends other than udp are refused by
 * name instead of running udp beside peers that ignore it, and IPv6 ({@code EnableIPv6}) or {@code EnableIPv4:false}
 * are refused because flannel's udp backend carries IPv4 only.
 *
 * @param network the overlay Network
 * @param subnetLen the prefix length of each host's subnet
 * @param subnetMin the lowest subnet address that may be leased, int form
 * @param subnetMax the highest subnet address that may be leased, int form
 * @param backend the backend ({@code udp} and its port)
 */
public record NetworkConfig(Ipv4Prefix network, int subnetLen, int subnetMin, int subnetMax, BackendConfig backend) {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> OTHER_BACKENDS = Set.of("vxlan", "host-gw", "wireguard", "extension", "ipip",
        "ipsec", "alloc", "aws-vpc", "gce", "ali-vpc", "tencent-vpc", "hostgw");

    /**
     * Parses and validates a network config.
     *
     * @param json the config text
     * @return the validated config with every default filled in
     * @throws InvalidNetworkConfigException if the JSON is malformed or a rule is broken; the exception names the field
     *     and the offending value
     */
    public static NetworkConfig parse(final String json) {
        final JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new InvalidNetworkConfigException("(json)", "network config is not valid JSON: "
                + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new InvalidNetworkConfigException("(json)", "network config must be a JSON object, got: "
                + (root == null ? "nothing" : root.getNodeType().toString().toLowerCase(Locale.ROOT)));
        }
        final Map<String, JsonNode> f = fields(root);

        final boolean enableIpv4 = bool(f, "EnableIPv4", true);
        final boolean enableIpv6 = bool(f, "EnableIPv6", false);
        bool(f, "EnableNFTables", false);
        string(f, "IPv6Network");
        if (!enableIpv4) {
            throw new InvalidNetworkConfigException("EnableIPv4",
                "EnableIPv4 is false, but overlay's udp backend carries IPv4 only");
        }
        if (enableIpv6) {
            throw new InvalidNetworkConfigException("EnableIPv6",
                "EnableIPv6 is true, but overlay's udp backend carries IPv4 only (flannel offers IPv6 only with "
                    + "vxlan, wireguard and host-gw)");
        }

        final String networkText = string(f, "Network");
        if (networkText == null || networkText.isEmpty()) {
            throw new InvalidNetworkConfigException("Network",
                "please define a correct Network parameter in the flannel config (Network is missing)");
        }
        final Ipv4Prefix network;
        try {
            network = Ipv4Prefix.parseMasked(networkText);
        } catch (IllegalArgumentException e) {
            throw new InvalidNetworkConfigException("Network", "invalid IPv4 CIDR format in Network: \""
                + networkText + "\"", e);
        }
        if (network.length() == 0) {
            throw new InvalidNetworkConfigException("Network",
                "please define a correct Network parameter in the flannel config (Network is \"" + networkText
                    + "\")");
        }

        int subnetLen = unsigned(f, "SubnetLen");
        if (subnetLen > 0) {
            if (subnetLen > 30) {
                throw new InvalidNetworkConfigException("SubnetLen", "SubnetLen must be less than /31 (SubnetLen is "
                    + subnetLen + ")");
            }
            if (subnetLen < network.length() + 2) {
                throw new InvalidNetworkConfigException("SubnetLen",
                    "network must be able to accommodate at least four subnets (Network " + network + ", SubnetLen "
                        + subnetLen + ")");
            }
        } else {
            if (network.length() > 28) {
                throw new InvalidNetworkConfigException("Network",
                    "network is too small. Minimum useful network prefix is /28 (Network is " + network + ")");
            }
            subnetLen = network.length() <= 22 ? 24 : network.length() + 2;
        }
        final long subnetSize = 1L << (32 - subnetLen);

        final int subnetMin = address(f, "SubnetMin", (int) ((network.address() & 0xffffffffL) + subnetSize),
            network);
        final int subnetMax = address(f, "SubnetMax",
            (int) ((network.address() & 0xffffffffL) + network.size() - subnetSize), network);
        if ((subnetMin & ~Ipv4.mask(subnetLen)) != 0) {
            throw new InvalidNetworkConfigException("SubnetMin", "SubnetMin is not on a SubnetLen boundary: "
                + Ipv4.format(subnetMin));
        }
        if ((subnetMax & ~Ipv4.mask(subnetLen)) != 0) {
            throw new InvalidNetworkConfigException("SubnetMax", "SubnetMax is not on a SubnetLen boundary: "
                + Ipv4.format(subnetMax));
        }
        if (Integer.compareUnsigned(subnetMin, subnetMax) > 0) {
            throw new InvalidNetworkConfigException("SubnetMin", "SubnetMin " + Ipv4.format(subnetMin)
                + " is above SubnetMax " + Ipv4.format(subnetMax) + ": no subnet could ever be leased");
        }
        return new NetworkConfig(network, subnetLen, subnetMin, subnetMax, backend(f.get("backend")));
    }

    private static BackendConfig backend(final JsonNode node) {
        if (node == null || node.isNull()) {
            return BackendConfig.DEFAULT_UDP;
        }
        if (!node.isObject()) {
            throw new InvalidNetworkConfigException("Backend", "Backend must be a JSON object, got: " + node);
        }
        final Map<String, JsonNode> b = fields(node);
        final JsonNode typeNode = b.get("type");
        if (typeNode == null || typeNode.isNull() || (typeNode.isTextual() && typeNode.asText().isEmpty())) {
            throw new InvalidNetworkConfigException("Backend.Type", "Backend has no Type (flannel: \"unknown "
                + "backend type: \"); set \"Backend\": {\"Type\": \"udp\"} or leave Backend out for udp");
        }
        if (!typeNode.isTextual()) {
            throw new InvalidNetworkConfigException("Backend.Type", "Backend.Type must be a string, got: "
                + typeNode);
        }
        final String type = typeNode.asText().toLowerCase(Locale.ROOT);
        if (OTHER_BACKENDS.contains(type)) {
            throw new InvalidNetworkConfigException("Backend.Type", "backend type " + type
                + " is not supported by overlay (only udp is)");
        }
        if (!type.equals("udp")) {
            throw new InvalidNetworkConfigException("Backend.Type", "unknown backend type: " + typeNode.asText());
        }
        final JsonNode portNode = b.get("port");
        if (portNode == null || portNode.isNull()) {
            return BackendConfig.DEFAULT_UDP;
        }
        if (!portNode.isIntegralNumber()) {
            throw new InvalidNetworkConfigException("Backend.Port", "error decoding UDP backend config: Port must be "
                + "an integer, got: " + portNode);
        }
        final long port = portNode.asLong();
        if (port < 1 || port > 65535) {
            throw new InvalidNetworkConfigException("Backend.Port", "Backend.Port must be 1..65535, got " + port);
        }
        return new BackendConfig("udp", (int) port);
    }

    /** Go encoding/json field matching: keys case-insensitive, the last matching key wins. */
    private static Map<String, JsonNode> fields(final JsonNode object) {
        final Map<String, JsonNode> out = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = object.fields(); it.hasNext();) {
            final Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey().toLowerCase(Locale.ROOT), e.getValue());
        }
        return out;
    }

    private static boolean bool(final Map<String, JsonNode> f, final String name, final boolean dflt) {
        final JsonNode n = f.get(name.toLowerCase(Locale.ROOT));
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isBoolean()) {
            throw new InvalidNetworkConfigException(name, name + " must be true or false, got: " + n);
        }
        return n.asBoolean();
    }

    private static String string(final Map<String, JsonNode> f, final String name) {
        final JsonNode n = f.get(name.toLowerCase(Locale.ROOT));
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw new InvalidNetworkConfigException(name, name + " must be a string, got: " + n);
        }
        return n.asText();
    }

    private static int unsigned(final Map<String, JsonNode> f, final String name) {
        final JsonNode n = f.get(name.toLowerCase(Locale.ROOT));
        if (n == null || n.isNull()) {
            return 0;
        }
        if (!n.isIntegralNumber() || n.asLong() < 0 || n.asLong() > 0xffffffffL) {
            throw new InvalidNetworkConfigException(name, name + " must be an unsigned integer, got: " + n);
        }
        if (n.asLong() > 32) {
            throw new InvalidNetworkConfigException(name, "SubnetLen must be less than /31 (SubnetLen is "
                + n.asLong() + ")");
        }
        return n.asInt();
    }

    private static int address(final Map<String, JsonNode> f, final String name, final int dflt,
                               final Ipv4Prefix network) {
        final String text = string(f, name);
        if (text == null || text.isEmpty() || text.equals("0.0.0.0")) {
            return dflt;
        }
        final int addr;
        try {
            addr = Ipv4.parse(text);
        } catch (IllegalArgumentException e) {
            throw new InvalidNetworkConfigException(name, name + " is not an IPv4 address: \"" + text + "\"", e);
        }
        if (!network.contains(addr)) {
            throw new InvalidNetworkConfigException(name, name + " is not in the range of the Network (" + name
                + " " + text + ", Network " + network + ")");
        }
        return addr;
    }

    /**
     * Returns the subnet size in addresses.
     *
     * @return 2^(32 - subnetLen), e.g. 256 for /24
     */
    public long subnetSize() {
        return 1L << (32 - subnetLen);
    }

    /**
     * Returns how many subnets the range SubnetMin..SubnetMax holds.
     *
     * @return the count, e.g. 255 for 10.10.0.0/16 with defaults
     */
    public long subnetCount() {
        return ((subnetMax & 0xffffffffL) - (subnetMin & 0xffffffffL)) / subnetSize() + 1;
    }

    /**
     * Returns whether a lease subnet fits this config: prefix length equals SubnetLen and SubnetMin &lt;= address
     * &lt;= SubnetMax (flannel's {@code isSubnetConfigCompat}).
     *
     * @param subnet a lease's subnet
     * @return {@code true} if a host may keep or take it
     */
    public boolean isCompatible(final Ipv4Prefix subnet) {
        return subnet.length() == subnetLen && Integer.compareUnsigned(subnet.address(), subnetMin) >= 0
            && Integer.compareUnsigned(subnet.address(), subnetMax) <= 0;
    }

    /**
     * Describes the leasable range, e.g. {@code /24 subnets 10.10.1.0-10.10.255.0 of 10.10.0.0/16}.
     *
     * @return the description used in error messages
     */
    public String rangeDescription() {
        return "/" + subnetLen + " subnets " + Ipv4.format(subnetMin) + "-" + Ipv4.format(subnetMax) + " of "
            + network;
    }
}
