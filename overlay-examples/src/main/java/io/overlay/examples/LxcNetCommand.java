package io.overlay.examples;

import io.overlay.core.net.Ipv4;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code overlay lxc-net}: the host's {@code subnet.env} as LXC settings, so LXC's own dnsmasq hands containers
 * addresses of the host's subnet and containers use the overlay MTU.
 *
 * <p>{@code --format lxc-net} (default) writes the variables of LXC's {@code lxc-net} script (lxc 5.0
 * {@code config/init/common/lxc-net.in}), for {@code /etc/default/lxc-net}: the script sources
 * {@code /etc/default/lxc}, which sources {@code /etc/default/lxc-net} (Debian's and Ubuntu's packages):
 * <pre>
 * USE_LXC_BRIDGE="true"
 * LXC_BRIDGE="lxcbr0"
 * LXC_ADDR="100.64.5.1"                       the FLANNEL_SUBNET address, the bridge's
 * LXC_NETMASK="255.255.255.0"                 the subnet's mask
 * LXC_NETWORK="100.64.0.0/16"                 FLANNEL_NETWORK (see below)
 * LXC_DHCP_RANGE="100.64.5.2,100.64.5.254"    the subnet's host addresses after the bridge's
 * LXC_DHCP_MAX="253"                          the number of addresses in that range
 * </pre>
 * lxc-net uses {@code LXC_NETWORK} only in its masquerade rule ({@code -s LXC_NETWORK ! -d LXC_NETWORK}); with the
 * whole overlay Network there, traffic between containers of different hosts keeps its source address and only
 * traffic leaving the overlay is masqueraded, as flanneld's {@code --ip-masq} rule does. lxc-net has no MTU setting:
 * the container MTU goes in each container's configuration, which {@code --format container} writes:
 * <pre>
 * lxc.net.0.type = veth
 * lxc.net.0.link = lxcbr0
 * lxc.net.0.flags = up
 * lxc.net.0.mtu = 1472
 * </pre>
 */
@Command(name = "lxc-net", mixinStandardHelpOptions = true, versionProvider = OverlayVersion.class,
    sortOptions = false, usageHelpAutoWidth = true,
    header = "Write LXC settings (lxc-net variables or container lines) from subnet.env.",
    description = {"Turn subnet.env into LXC settings: lxc-net's variables (/etc/default/lxc-net), so LXC's",
        "dnsmasq hands out addresses of this host's subnet, or a container's network lines with the overlay MTU.",
        "Exit status 0 when written, 1 when subnet.env is missing or malformed or the output cannot be written."})
public final class LxcNetCommand extends RuntimeConfigCommand {
    /** What to write. */
    enum Format {
        /** lxc-net's variables. */
        lxc_net,
        /** A container's lxc.net.0.* lines. */
        container
    }

    @Option(names = "--format", paramLabel = "<format>", defaultValue = "lxc-net",
        converter = FormatConverter.class,
        description = "lxc-net: lxc-net's variables; container: lxc.net.0.* lines for a container's config "
            + "(default: ${DEFAULT-VALUE}).")
    Format format = Format.lxc_net;

    @Option(names = "--bridge", paramLabel = "<name>", defaultValue = "lxcbr0",
        description = "The LXC bridge (default: ${DEFAULT-VALUE}).")
    String bridge = "lxcbr0";

    /** Accepts {@code lxc-net} and {@code container}. */
    static final class FormatConverter implements picocli.CommandLine.ITypeConverter<Format> {
        @Override
        public Format convert(final String value) {
            return switch (value) {
                case "lxc-net" -> Format.lxc_net;
                case "container" -> Format.container;
                default -> throw new picocli.CommandLine.TypeConversionException(
                    "expected lxc-net or container, got '" + value + "'");
            };
        }
    }

    @Override
    String render(final HostSubnet s) {
        if (format == Format.container) {
            return "lxc.net.0.type = veth\n"
                + "lxc.net.0.link = " + bridge + "\n"
                + "lxc.net.0.flags = up\n"
                + "lxc.net.0.mtu = " + s.mtu() + "\n";
        }
        final int[] range = s.dhcpRange();
        return "# From subnet.env: LXC's dnsmasq hands out " + s.subnet() + "; containers need\n"
            + "# lxc.net.0.mtu = " + s.mtu() + " (overlay lxc-net --format container).\n"
            + "USE_LXC_BRIDGE=\"true\"\n"
            + "LXC_BRIDGE=\"" + bridge + "\"\n"
            + "LXC_ADDR=\"" + Ipv4.format(s.gateway()) + "\"\n"
            + "LXC_NETMASK=\"" + s.netmask() + "\"\n"
            + "LXC_NETWORK=\"" + s.network() + "\"\n"
            + "LXC_DHCP_RANGE=\"" + Ipv4.format(range[0]) + "," + Ipv4.format(range[1]) + "\"\n"
            + "LXC_DHCP_MAX=\"" + (Integer.toUnsignedLong(range[1]) - Integer.toUnsignedLong(range[0]) + 1) + "\"\n";
    }
}
