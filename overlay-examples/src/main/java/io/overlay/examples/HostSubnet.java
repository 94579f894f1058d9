package io.overlay.examples;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A host's {@code subnet.env} read strictly, for the runtime configuration subcommands ({@link LxcNetCommand},
 * {@link DockerOptsCommand}, {@link CniConfCommand}): the four lines flanneld and overlay write,
 * <pre>
 * FLANNEL_NETWORK=100.64.0.0/16
 * FLANNEL_SUBNET=100.64.5.1/24
 * FLANNEL_MTU=1472
 * FLANNEL_IPMASQ=false
 * </pre>
 * {@code KEY=value}, one per line. Other keys (flannel's {@code FLANNEL_IPV6_*}) are ignored, as flannel's CNI plugin
 * does (flannel-io/cni-plugin {@code flannel.go}, {@code loadFlannelSubnetEnv}); a line that is not {@code KEY=value},
 * a repeated or missing key, or a value that does not parse is refused with a message naming the file, the line and
 * what is wrong.
 *
 * @param network the overlay Network ({@code FLANNEL_NETWORK}, host bits must be zero)
 * @param subnet this host's subnet, host bits cleared ({@code FLANNEL_SUBNET} {@code 100.64.5.1/24} gives
 *     {@code 100.64.5.0/24}); inside network
 * @param gateway the address {@code FLANNEL_SUBNET} names, the bridge's (int form, see {@link Ipv4}); a host address
 *     of subnet (neither its network nor its broadcast address)
 * @param mtu the overlay MTU in bytes ({@code FLANNEL_MTU}), 68..65535
 * @param ipMasq {@code FLANNEL_IPMASQ}: whether the overlay daemon masquerades traffic leaving the Network
 */
public record HostSubnet(Ipv4Prefix network, Ipv4Prefix subnet, int gateway, int mtu, boolean ipMasq) {
    /** The keys a subnet.env must have, in flannel's order. */
    static final List<String> KEYS = List.of("FLANNEL_NETWORK", "FLANNEL_SUBNET", "FLANNEL_MTU", "FLANNEL_IPMASQ");

    /**
     * Reads and checks a {@code subnet.env}.
     *
     * @param file the file, e.g. {@code /run/flannel/subnet.env}
     * @return its values
     * @throws NoSuchFileException if the file does not exist
     * @throws IOException if it cannot be read
     * @throws IllegalArgumentException if it is malformed; the message starts with the file name and says what is
     *     wrong (line number, key, value)
     */
    public static HostSubnet read(final Path file) throws IOException {
        return parse(file.toString(), Files.readAllLines(file, StandardCharsets.UTF_8));
    }

    /**
     * Parses the lines of a {@code subnet.env}.
     *
     * @param name the file name for messages
     * @param lines the lines
     * @return the values
     * @throws IllegalArgumentException if malformed, naming {@code name}, the line and what is wrong
     */
    static HostSubnet parse(final String name, final List<String> lines) {
        final Map<String, String> vars = new LinkedHashMap<>();
        final Map<String, Integer> lineOf = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            final String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            final int eq = line.indexOf('=');
            if (eq <= 0) {
                throw bad(name, i + 1, "is not KEY=value: \"" + line + "\"");
            }
            final String key = line.substring(0, eq);
            if (lineOf.containsKey(key)) {
                throw bad(name, i + 1, key + " repeats line " + lineOf.get(key));
            }
            vars.put(key, line.substring(eq + 1));
            lineOf.put(key, i + 1);
        }
        final List<String> missing = KEYS.stream().filter(k -> !vars.containsKey(k)).toList();
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(name + ": " + String.join(", ", missing) + " missing (is it a "
                + "subnet.env written by overlay or flanneld?)");
        }
        final Ipv4Prefix network;
        try {
            network = Ipv4Prefix.parse(vars.get("FLANNEL_NETWORK"));
        } catch (IllegalArgumentException e) {
            throw bad(name, lineOf.get("FLANNEL_NETWORK"), "FLANNEL_NETWORK: " + e.getMessage());
        }
        final String subnetText = vars.get("FLANNEL_SUBNET");
        final Ipv4Prefix subnet;
        final int gateway;
        try {
            subnet = Ipv4Prefix.parseMasked(subnetText);
            gateway = Ipv4.parse(subnetText.substring(0, subnetText.indexOf('/')));
        } catch (IllegalArgumentException e) {
            throw bad(name, lineOf.get("FLANNEL_SUBNET"), "FLANNEL_SUBNET: " + e.getMessage());
        }
        if (subnet.length() > 30 || gateway == subnet.address() || gateway == subnet.hostAddress(subnet.size() - 1)) {
            throw bad(name, lineOf.get("FLANNEL_SUBNET"), "FLANNEL_SUBNET=" + subnetText
                + " must name a host address of a subnet of at most /30 (the bridge's, e.g. "
                + Ipv4.format(subnet.address() + 1) + "/" + subnet.length() + ")");
        }
        if (!network.contains(subnet)) {
            throw bad(name, lineOf.get("FLANNEL_SUBNET"), "FLANNEL_SUBNET=" + subnetText + " is not inside "
                + "FLANNEL_NETWORK=" + network);
        }
        final String mtuText = vars.get("FLANNEL_MTU");
        final int mtu;
        try {
            mtu = Integer.parseInt(mtuText);
        } catch (NumberFormatException e) {
            throw bad(name, lineOf.get("FLANNEL_MTU"), "FLANNEL_MTU=" + mtuText + " is not a number of bytes");
        }
        if (mtu < Ipv4.MIN_MTU || mtu > Ipv4.MAX_MTU) {
            throw bad(name, lineOf.get("FLANNEL_MTU"), "FLANNEL_MTU=" + mtu + " is outside " + Ipv4.MIN_MTU + ".."
                + Ipv4.MAX_MTU);
        }
        final String masq = vars.get("FLANNEL_IPMASQ");
        if (!masq.equals("true") && !masq.equals("false")) {
            throw bad(name, lineOf.get("FLANNEL_IPMASQ"), "FLANNEL_IPMASQ=" + masq + " is neither true nor false");
        }
        return new HostSubnet(network, subnet, gateway, mtu, masq.equals("true"));
    }

    private static IllegalArgumentException bad(final String name, final int line, final String what) {
        return new IllegalArgumentException(name + " line " + line + ": " + what);
    }

    /**
     * Returns {@code FLANNEL_SUBNET} as written: the gateway address with the subnet's prefix length.
     *
     * @return e.g. {@code 100.64.5.1/24}
     */
    public String gatewayCidr() {
        return Ipv4.format(gateway) + "/" + subnet.length();
    }

    /**
     * Returns the subnet's netmask in dotted form.
     *
     * @return e.g. {@code 255.255.255.0}
     */
    public String netmask() {
        return Ipv4.format(subnet.mask());
    }

    /**
     * Returns the first address after the gateway up to the last host address: the addresses a DHCP server may hand
     * out without the bridge's ({@code 100.64.5.2} to {@code 100.64.5.254} for {@code 100.64.5.1/24}), as lxc-net's
     * defaults. A gateway in the middle of the subnet leaves the addresses below it out; a gateway on the last host
     * address gives the addresses below it.
     *
     * @return {first, last} in int form, first &lt;= last (never empty: the subnet is at most a /30)
     */
    int[] dhcpRange() {
        final int lastHost = subnet.hostAddress(subnet.size() - 2);
        if (gateway == lastHost) {
            return new int[] {subnet.address() + 1, lastHost - 1};
        }
        return new int[] {gateway + 1, lastHost};
    }
}
