package io.overlay.examples;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code overlay cni-conf}: the host's {@code subnet.env} as a CNI network configuration list for the standard
 * {@code bridge} and {@code host-local} plugins, filled as flannel's CNI plugin fills the configuration it delegates to
 * (flannel-io/cni-plugin {@code flannel_linux.go}, {@code doCmdAdd} and {@code getDelegateIPAM}):
 * {@code isGateway: true}, {@code ipMasq} the opposite of {@code FLANNEL_IPMASQ} (masquerade here when the overlay
 * daemon does not), {@code mtu} = {@code FLANNEL_MTU}, and host-local with one range, the subnet (host bits cleared as
 * Go's {@code net.ParseCIDR} does), and one route, to {@code FLANNEL_NETWORK}:
 * <pre>
 * {
 *   "cniVersion": "1.0.0",
 *   "name": "overlay",
 *   "plugins": [
 *     {
 *       "type": "bridge",
 *       "bridge": "cni0",
 *       "isGateway": true,
 *       "ipMasq": true,
 *       "mtu": 1472,
 *       "ipam": {
 *         "type": "host-local",
 *         "ranges": [[{"subnet": "100.64.5.0/24"}]],
 *         "routes": [{"dst": "100.64.0.0/16"}]
 *       }
 *     }
 *   ]
 * }
 * </pre>
 * host-local gives the bridge (the gateway) the range's first address, which is the {@code FLANNEL_SUBNET} address
 * overlay and flanneld write. {@code --ipam-data-dir} adds host-local's {@code dataDir} (default
 * {@code /var/lib/cni/networks}).
 */
@Command(name = "cni-conf", mixinStandardHelpOptions = true, versionProvider = OverlayVersion.class,
    sortOptions = false, usageHelpAutoWidth = true,
    header = "Write a CNI conflist (bridge + host-local) from subnet.env.",
    description = {"Turn subnet.env into a CNI conflist for the bridge and host-local plugins (subnet, route to",
        "the Network, MTU, ipMasq), as flannel's CNI plugin fills them.",
        "Exit status 0 when written, 1 when subnet.env is missing or malformed or the output cannot be written."})
public final class CniConfCommand extends RuntimeConfigCommand {
    @Option(names = "--name", paramLabel = "<name>", defaultValue = "overlay",
        description = "The network's name (default: ${DEFAULT-VALUE}).")
    String name = "overlay";

    @Option(names = "--bridge", paramLabel = "<name>", defaultValue = "cni0",
        description = "The bridge the plugin creates or reuses (default: ${DEFAULT-VALUE}, the bridge plugin's).")
    String bridge = "cni0";

    @Option(names = "--cni-version", paramLabel = "<version>", defaultValue = "1.0.0",
        description = "cniVersion of the list (default: ${DEFAULT-VALUE}).")
    String cniVersion = "1.0.0";

    @Option(names = "--ipam-data-dir", paramLabel = "<dir>",
        description = "host-local's dataDir, where it records the addresses it gave (default: the plugin's, "
            + "/var/lib/cni/networks).")
    String ipamDataDir;

    @Override
    String render(final HostSubnet s) {
        for (String[] v : new String[][] {{"--name", name}, {"--bridge", bridge}, {"--cni-version", cniVersion},
            {"--ipam-data-dir", ipamDataDir == null ? "" : ipamDataDir}}) {
            if (v[1].chars().anyMatch(c -> c == '"' || c == '\\' || c < 0x20)) {
                throw new IllegalArgumentException(v[0] + " must not hold quotes, backslashes or control characters");
            }
        }
        return "{\n"
            + "  \"cniVersion\": \"" + cniVersion + "\",\n"
            + "  \"name\": \"" + name + "\",\n"
            + "  \"plugins\": [\n"
            + "    {\n"
            + "      \"type\": \"bridge\",\n"
            + "      \"bridge\": \"" + bridge + "\",\n"
            + "      \"isGateway\": true,\n"
            + "      \"ipMasq\": " + !s.ipMasq() + ",\n"
            + "      \"mtu\": " + s.mtu() + ",\n"
            + "      \"ipam\": {\n"
            + "        \"type\": \"host-local\",\n"
            + (ipamDataDir == null ? "" : "        \"dataDir\": \"" + ipamDataDir + "\",\n")
            + "        \"ranges\": [[{\"subnet\": \"" + s.subnet() + "\"}]],\n"
            + "        \"routes\": [{\"dst\": \"" + s.network() + "\"}]\n"
            + "      }\n"
            + "    }\n"
            + "  ]\n"
            + "}\n";
    }
}
