package io.overlay.core.flannel;

import io.overlay.core.json.JsonTrees;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigInteger;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * flannel's network config, the JSON at {@code <prefix>/config}, parsed, defaulted and validated with flannel's
 * semantics ({@code ParseConfig} and {@code CheckNetworkConfig} in flannel v0.28.9 {@code pkg/subnet/config.go};
 * {@code docs/flannel-compatibility.md#network-config}):
 * <ul>
 * <li>key names match case-insensitively (the last of several spellings wins, as in Go's {@code encoding/json}),
 *     unknown keys are ignored, a JSON value of the wrong type is an error, and so is text after the object;</li>
 * <li>{@code Network}'s host bits are masked ({@code "10.10.1.5/16"} is {@code 10.10.0.0/16}); a missing Network or
 *     {@code 0.0.0.0/0} is refused;</li>
 * <li>{@code SubnetLen} defaults to 24 when the Network prefix is at most /22, else prefix + 2 (a Network longer than
 *     /28 is refused); when given it must be at most 30 and leave room for four subnets;</li>
 * <li>{@code SubnetMin}/{@code SubnetMax} default to the second and the last subnet ({@code "0.0.0.0"} means the
 *     default), and must lie in the Network on a SubnetLen boundary;</li>
 * <li>with {@code EnableIPv6} the IPv6 part is checked by flannel's IPv6 rules (same wording) before overlay refuses it;
 *     </li>
 * <li>a missing {@code Backend} means {@code udp} (the code's default, though flannel's docs say vxlan), the type is
 *     case-insensitive, {@code Port} defaults to 8285.</li>
 * </ul>
 * Every error is an {@link InvalidNetworkConfigException} whose message starts with flannel's wording where flannel has
 * one and names the field and the offending value.
 *
 * <p>Where overlay is stricter than flannel ({@code docs/flannel-compatibility.md#network-config}):
 * {@code SubnetMin > SubnetMax} is rejected up front (flannel only fails later with "out of subnets"); {@code Port}
 * must be 1..65535 (flannel accepts 0 and binds an ephemeral port); backends other than udp are refused by name
 * instead of running udp beside peers that ignore udp leases; {@code EnableIPv6} and {@code EnableIPv4:false} are
 * refused because flannel's udp backend carries IPv4 only. {@code "Backend": null} is treated like flannel does (a
 * {@code Backend} without {@code Type}, an error).
 *
 * @param network the overlay Network
 * @param subnetLen the prefix length of each host's subnet, 1..30
 * @param subnetMin the lowest subnet address that may be leased, int form
 * @param subnetMax the highest subnet address that may be leased, int form
 * @param backend the backend ({@code udp} and its port)
 */
public record NetworkConfig(Ipv4Prefix network, int subnetLen, int subnetMin, int subnetMax, BackendConfig backend) {
    /**
     * flannel's other backends: those in flannel v0.28.9 {@code pkg/backend/}, and aws-vpc, gce and ali-vpc, removed in
     * v0.20.0.
     */
    private static final Set<String> OTHER_BACKENDS = Set.of("vxlan", "host-gw", "wireguard", "extension", "ipip",
        "ipsec", "alloc", "tencent-vpc", "aws-vpc", "gce", "ali-vpc");
    private static final BigInteger MAX_UINT64 = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    /**
     * Checks that no component is null.
     *
     * @throws NullPointerException if network or backend is null
     */
    public NetworkConfig {
        Objects.requireNonNull(network, "network");
        Objects.requireNonNull(backend, "backend");
    }

    /**
     * Parses and validates a network config.
     *
     * @param json the config text
     * @return the validated config with every default filled in
     * @throws InvalidNetworkConfigException if the JSON is malformed or a rule is broken; {@link
     *     InvalidNetworkConfigException#field()} names the field ({@code "(json)"} for a syntax error) and the message
     *     quotes the offending value
     */
    public static NetworkConfig parse(final String json) {
        final JsonNode root;
        try {
            root = JsonTrees.read(json == null ? "" : json);
        } catch (JsonProcessingException e) {
            throw new InvalidNetworkConfigException("(json)", "network config is not valid JSON: "
                + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new InvalidNetworkConfigException("(json)", "network config must be a JSON object, got: "
                + (root == null || root.isMissingNode() ? "nothing" : JsonTrees.write(root)));
        }

        // ParseConfig: field types first (Go's json.Unmarshal), then the Backend's shape (parseBackendType).
        final boolean enableIpv4 = bool(root, "EnableIPv4", true);
        final boolean enableIpv6 = bool(root, "EnableIPv6", false);
        bool(root, "EnableNFTables", false);
        final String networkText = string(root, "Network");
        final long subnetLenGiven = unsigned(root, "SubnetLen");
        final String subnetMinText = string(root, "SubnetMin");
        final String subnetMaxText = string(root, "SubnetMax");
        final String ipv6NetworkText = string(root, "IPv6Network");
        final long ipv6SubnetLenGiven = unsigned(root, "IPv6SubnetLen");
        final String ipv6SubnetMinText = string(root, "IPv6SubnetMin");
        final String ipv6SubnetMaxText = string(root, "IPv6SubnetMax");
        final String backendType = backendType(root);

        // CheckNetworkConfig: IPv4 rules, then IPv6 rules.
        NetworkConfig checked = null;
        if (enableIpv4) {
            checked = checkIpv4(networkText, subnetLenGiven, subnetMinText, subnetMaxText);
        }
        if (enableIpv6) {
            Ipv6NetworkCheck.check(ipv6NetworkText, ipv6SubnetLenGiven, ipv6SubnetMinText, ipv6SubnetMaxText);
        }

        // Backend lookup and udp's own config.
        final BackendConfig backend = backend(backendType, GoJson.field(root, "Backend"));

        // What flannel's udp backend cannot do.
        if (!enableIpv4) {
            throw new InvalidNetworkConfigException("EnableIPv4",
                "EnableIPv4 is false, but overlay's udp backend carries IPv4 only (EnableIPv4 false)");
        }
        if (enableIpv6) {
            throw new InvalidNetworkConfigException("EnableIPv6",
                "EnableIPv6 is true, but overlay's udp backend carries IPv4 only (flannel offers IPv6 only with "
                    + "vxlan, wireguard and host-gw; IPv6Network " + ipv6NetworkText + ")");
        }
        return new NetworkConfig(checked.network, checked.subnetLen, checked.subnetMin, checked.subnetMax, backend);
    }

    /** flannel's IPv4 rules of CheckNetworkConfig, in its order; the backend is filled in later. */
    private static NetworkConfig checkIpv4(final String networkText, final long subnetLenGiven,
                                           final String subnetMinText, final String subnetMaxText) {
        if (networkText == null) {
            throw new InvalidNetworkConfigException("Network",
                "please define a correct Network parameter in the flannel config (Network is missing)");
        }
        final Ipv4Prefix network;
        if (networkText.indexOf(':') >= 0) {
            throw new InvalidNetworkConfigException("Network", "invalid IPv4 CIDR format: Network \"" + networkText
                + "\" is an IPv6 CIDR (use IPv6Network with EnableIPv6)");
        }
        try {
            network = Ipv4Prefix.parseMasked(networkText);
        } catch (IllegalArgumentException e) {
            throw new InvalidNetworkConfigException("Network", "invalid IPv4 CIDR format: Network \"" + networkText
                + "\" (expected a.b.c.d/len)", e);
        }
        if (network.address() == 0 && network.length() == 0) {
            throw new InvalidNetworkConfigException("Network",
                "please define a correct Network parameter in the flannel config (Network is \"" + networkText
                    + "\")");
        }

        final int subnetLen;
        if (subnetLenGiven > 0) {
            if (subnetLenGiven > 30) {
                throw new InvalidNetworkConfigException("SubnetLen", "SubnetLen must be less than /31 (SubnetLen "
                    + subnetLenGiven + ")");
            }
            if (subnetLenGiven < network.length() + 2) {
                throw new InvalidNetworkConfigException("SubnetLen",
                    "network must be able to accommodate at least four subnets (SubnetLen " + subnetLenGiven
                        + ", Network " + network + ")");
            }
            subnetLen = (int) subnetLenGiven;
        } else {
            if (network.length() > 28) {
                throw new InvalidNetworkConfigException("Network",
                    "network is too small. Minimum useful network prefix is /28 (Network " + network + ")");
            }
            subnetLen = network.length() <= 22 ? 24 : network.length() + 2;
        }
        final long subnetSize = 1L << (32 - subnetLen);

        int subnetMin = address("SubnetMin", subnetMinText);
        if (subnetMin == 0) {
            subnetMin = (int) ((network.address() & 0xffffffffL) + subnetSize);
        } else if (!network.contains(subnetMin)) {
            throw new InvalidNetworkConfigException("SubnetMin", "SubnetMin is not in the range of the Network "
                + "(SubnetMin " + Ipv4.format(subnetMin) + ", Network " + network + ")");
        }
        int subnetMax = address("SubnetMax", subnetMaxText);
        if (subnetMax == 0) {
            subnetMax = (int) ((network.address() & 0xffffffffL) + network.size() - subnetSize);
        } else if (!network.contains(subnetMax)) {
            throw new InvalidNetworkConfigException("SubnetMax", "SubnetMax is not in the range of the Network "
                + "(SubnetMax " + Ipv4.format(subnetMax) + ", Network " + network + ")");
        }
        final int mask = Ipv4.mask(subnetLen);
        if ((subnetMin & ~mask) != 0) {
            throw new InvalidNetworkConfigException("SubnetMin", "SubnetMin is not on a SubnetLen boundary: "
                + Ipv4.format(subnetMin) + " (SubnetLen " + subnetLen + ")");
        }
        if ((subnetMax & ~mask) != 0) {
            throw new InvalidNetworkConfigException("SubnetMax", "SubnetMax is not on a SubnetLen boundary: "
                + Ipv4.format(subnetMax) + " (SubnetLen " + subnetLen + ")");
        }
        if (Integer.compareUnsigned(subnetMin, subnetMax) > 0) {
            throw new InvalidNetworkConfigException("SubnetMin", "SubnetMin " + Ipv4.format(subnetMin)
                + " is above SubnetMax " + Ipv4.format(subnetMax) + ": no subnet could ever be leased");
        }
        return new NetworkConfig(network, subnetLen, subnetMin, subnetMax, BackendConfig.DEFAULT_UDP);
    }

    /**
     * flannel's {@code parseBackendType}: no Backend means udp; a Backend that is not an object or whose Type is not a
     * string is a decoding error; a Backend without Type (or {@code "Backend": null}) has the empty type.
     *
     * @return the type as written (not lower-cased), "" when missing
     */
    private static String backendType(final JsonNode root) {
        final JsonNode node = GoJson.field(root, "Backend");
        if (node == null) {
            return "udp";
        }
        if (node.isNull()) {
            return "";
        }
        if (!node.isObject()) {
            throw new InvalidNetworkConfigException("Backend", "error decoding Backend property of config: Backend "
                + "must be a JSON object, got: " + JsonTrees.write(node));
        }
        final JsonNode typeNode = GoJson.field(node, "Type");
        if (typeNode == null || typeNode.isNull()) {
            return "";
        }
        if (!typeNode.isTextual()) {
            throw new InvalidNetworkConfigException("Backend.Type", "error decoding Backend property of config: "
                + "Backend.Type must be a string, got: " + JsonTrees.write(typeNode));
        }
        return typeNode.asText();
    }

    private static BackendConfig backend(final String typeText, final JsonNode node) {
        if (typeText.isEmpty()) {
            throw new InvalidNetworkConfigException("Backend.Type", "unknown backend type: (Backend has no Type: "
                + JsonTrees.write(node) + "); set \"Backend\": {\"Type\": \"udp\"} or leave Backend out for udp");
        }
        final String type = typeText.toLowerCase(Locale.ROOT);
        if (OTHER_BACKENDS.contains(type)) {
            throw new InvalidNetworkConfigException("Backend.Type", "backend type " + type
                + " is not supported by overlay (only udp is; Backend.Type \"" + typeText + "\")");
        }
        if (!type.equals("udp")) {
            throw new InvalidNetworkConfigException("Backend.Type", "unknown backend type: " + typeText
                + " (overlay supports only udp)");
        }
        if (node == null) {
            return BackendConfig.DEFAULT_UDP;
        }
        final JsonNode portNode = GoJson.field(node, "Port");
        if (portNode == null || portNode.isNull()) {
            return BackendConfig.DEFAULT_UDP;
        }
        if (!portNode.isIntegralNumber()) {
            throw new InvalidNetworkConfigException("Backend.Port", "error decoding UDP backend config: Port must be "
                + "an integer, got: " + JsonTrees.write(portNode));
        }
        final BigInteger port = portNode.bigIntegerValue();
        if (port.signum() <= 0 || port.compareTo(BigInteger.valueOf(65535)) > 0) {
            throw new InvalidNetworkConfigException("Backend.Port", "Backend.Port must be 1..65535, got " + port);
        }
        return new BackendConfig("udp", port.intValue());
    }

    /** A Go bool: null leaves the default, anything but true/false is an error. */
    private static boolean bool(final JsonNode object, final String name, final boolean dflt) {
        final JsonNode n = GoJson.field(object, name);
        if (n == null || n.isNull()) {
            return dflt;
        }
        if (!n.isBoolean()) {
            throw new InvalidNetworkConfigException(name, name + " must be true or false, got: " + JsonTrees.write(n));
        }
        return n.asBoolean();
    }

    /**
     * A field flannel decodes with an UnmarshalJSON of its own (IP4, IP4Net, IP6...): absent means unset, anything
     * present, JSON null included, must be a string (Go hands "null" to the parser, which rejects it).
     */
    private static String string(final JsonNode object, final String name) {
        final JsonNode n = GoJson.field(object, name);
        if (n == null) {
            return null;
        }
        if (!n.isTextual()) {
            throw new InvalidNetworkConfigException(name, name + " must be a string, got: " + JsonTrees.write(n));
        }
        return n.asText();
    }

    /** A Go uint: null or absent is 0, a negative, fractional or over-64-bit number is an error. */
    private static long unsigned(final JsonNode object, final String name) {
        final JsonNode n = GoJson.field(object, name);
        if (n == null || n.isNull()) {
            return 0;
        }
        if (!n.isIntegralNumber()) {
            throw new InvalidNetworkConfigException(name, name + " must be an unsigned integer, got: "
                + JsonTrees.write(n));
        }
        final BigInteger v = n.bigIntegerValue();
        if (v.signum() < 0 || v.compareTo(MAX_UINT64) > 0) {
            throw new InvalidNetworkConfigException(name, name + " must be an unsigned integer, got: "
                + JsonTrees.write(n));
        }
        return v.bitLength() > 62 ? Long.MAX_VALUE : v.longValue();
    }

    /** flannel's IP4 text: absent is 0 (unset); present must be a dotted quad. */
    private static int address(final String name, final String text) {
        if (text == null) {
            return 0;
        }
        try {
            return Ipv4.parse(text);
        } catch (IllegalArgumentException e) {
            throw new InvalidNetworkConfigException(name, name + " is not an IPv4 address: \"" + text + "\"", e);
        }
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

    // Written out: a record's generated equals and hashCode are bootstrapped through method handles at their first
    // call, which spins classes during the launcher's start (docs/performance.md, "Start-up, round five").
    @Override
    public boolean equals(final Object other) {
        return other instanceof NetworkConfig o && network.equals(o.network) && subnetLen == o.subnetLen
            && subnetMin == o.subnetMin && subnetMax == o.subnetMax && backend.equals(o.backend);
    }

    @Override
    public int hashCode() {
        return Objects.hash(network, subnetLen, subnetMin, subnetMax, backend);
    }
}
