package io.overlay.examples;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code overlay docker-opts}: the host's {@code subnet.env} as Docker daemon options, so docker0 gets the subnet's
 * first address and the overlay MTU. The options are those of flannel's {@code dist/mk-docker-opts.sh}: {@code --bip}
 * is {@code FLANNEL_SUBNET} as written, {@code --mtu} is {@code FLANNEL_MTU}, and {@code --ip-masq=false} is added
 * only when {@code FLANNEL_IPMASQ=true} (the overlay daemon masquerades already).
 *
 * <p>{@code --format env} (default) writes what {@code mk-docker-opts.sh} writes with its defaults ({@code -i} and
 * {@code -c}, to {@code /run/docker_opts.env}): one {@code DOCKER_OPT_*} variable per option in the order of bash's
 * {@code compgen -v} (alphabetical), then the combined line with a space before and after each option:
 * <pre>
 * DOCKER_OPT_BIP="--bip=100.64.5.1/24"
 * DOCKER_OPT_MTU="--mtu=1472"
 * DOCKER_OPTS=" --bip=100.64.5.1/24 --mtu=1472 "
 * </pre>
 * {@code --format daemon-json} writes the same options as {@code /etc/docker/daemon.json}:
 * <pre>
 * {
 *   "bip": "100.64.5.1/24",
 *   "mtu": 1472
 * }
 * </pre>
 */
@Command(name = "docker-opts", mixinStandardHelpOptions = true, versionProvider = OverlayVersion.class,
    sortOptions = false, usageHelpAutoWidth = true,
    header = "Write Docker daemon options (env file or daemon.json) from subnet.env.",
    description = {"Turn subnet.env into Docker daemon options (bip, mtu; ip-masq=false when FLANNEL_IPMASQ=true):",
        "the env file of flannel's mk-docker-opts.sh, or daemon.json.",
        "Exit status 0 when written, 1 when subnet.env is missing or malformed or the output cannot be written."})
public final class DockerOptsCommand extends RuntimeConfigCommand {
    @Option(names = "--format", paramLabel = "<format>", defaultValue = "env",
        description = "env: mk-docker-opts.sh's DOCKER_OPT_* and combined lines; daemon-json: daemon.json "
            + "(default: ${DEFAULT-VALUE}).")
    String format = "env";

    @Option(names = {"-k", "--combined-key"}, paramLabel = "<name>", defaultValue = "DOCKER_OPTS",
        description = "Name of the combined options variable, as mk-docker-opts.sh -k (default: ${DEFAULT-VALUE}).")
    String combinedKey = "DOCKER_OPTS";

    @Override
    String render(final HostSubnet s) {
        return switch (format) {
            case "env" -> env(s);
            case "daemon-json" -> "{\n"
                + "  \"bip\": \"" + s.gatewayCidr() + "\",\n"
                + (s.ipMasq() ? "  \"ip-masq\": false,\n" : "")
                + "  \"mtu\": " + s.mtu() + "\n"
                + "}\n";
            default -> throw new IllegalArgumentException("--format must be env or daemon-json, got " + format);
        };
    }

    private String env(final HostSubnet s) {
        if (!combinedKey.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            throw new IllegalArgumentException("--combined-key must be a shell variable name, got " + combinedKey);
        }
        final StringBuilder vars = new StringBuilder();
        final StringBuilder combined = new StringBuilder(" ");
        option(vars, combined, "DOCKER_OPT_BIP", "--bip=" + s.gatewayCidr());
        if (s.ipMasq()) {
            option(vars, combined, "DOCKER_OPT_IPMASQ", "--ip-masq=false");
        }
        option(vars, combined, "DOCKER_OPT_MTU", "--mtu=" + s.mtu());
        return vars + combinedKey + "=\"" + combined + "\"\n";
    }

    private static void option(final StringBuilder vars, final StringBuilder combined, final String name,
                               final String value) {
        vars.append(name).append("=\"").append(value).append("\"\n");
        combined.append(value).append(' ');
    }
}
