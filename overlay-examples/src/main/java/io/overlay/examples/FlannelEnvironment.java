package io.overlay.examples;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.TypeConversionException;

/**
 * Reads option values from {@code FLANNELD_<OPTION>} environment variables the way flanneld does
 * ({@code SetFlagsFromEnv} of {@code github.com/coreos/pkg/flagutil}, called from flannel v0.28.9 {@code main.go};
 * {@code docs/flannel-compatibility.md#flags-and-environment}): the long option name without its leading dashes,
 * dashes turned into underscores, upper-cased ({@code --etcd-endpoints} is {@code FLANNELD_ETCD_ENDPOINTS},
 * {@code --ip-masq} is {@code FLANNELD_IP_MASQ}).
 * A value given on the command line wins; an unset or empty variable leaves the option's built-in default.
 * Repeatable options take a comma-separated list ({@code FLANNELD_IFACE=eth1,eth0}).
 *
 * <p>flanneld variables for options overlay does not have are not dropped silently ({@link #check}): those that would
 * change what flanneld does ({@code FLANNELD_PUBLIC_IPV6}, {@code FLANNELD_KUBE_SUBNET_MGR=true}, ...) are errors;
 * those without effect for a udp-backend etcd host ({@code FLANNELD_KUBE_ANNOTATION_PREFIX}, {@code FLANNELD_V}, ...) and
 * unknown {@code FLANNELD_*} names are reported in one warning.
 */
public final class FlannelEnvironment implements IDefaultValueProvider {
    /** The prefix flanneld uses for its environment variables. */
    public static final String PREFIX = "FLANNELD_";

    /** flanneld options (flannel v0.28.9 {@code main.go}) that change behaviour and that overlay lacks, with why. */
    private static final Map<String, String> UNSUPPORTED = Map.of(
        "FLANNELD_PUBLIC_IPV6", "IPv6 is not supported (the udp backend is IPv4 only)",
        "FLANNELD_KUBECONFIG_FILE", "the Kubernetes subnet manager is not supported; overlay uses etcd",
        "FLANNELD_KUBE_API_URL", "the Kubernetes subnet manager is not supported; overlay uses etcd",
        "FLANNELD_NET_CONFIG_PATH", "the network configuration comes from etcd (<prefix>/config), not from a file");
    /** flanneld booleans that change behaviour only when true. */
    private static final Map<String, String> UNSUPPORTED_WHEN_TRUE = Map.of(
        "FLANNELD_KUBE_SUBNET_MGR", "the Kubernetes subnet manager is not supported; overlay uses etcd",
        "FLANNELD_IP_BLACKHOLE_ROUTE", "overlay adds no blackhole route for its subnet");
    /** flanneld options without effect here: Kubernetes-only, klog verbosity. */
    private static final Set<String> WITHOUT_EFFECT = Set.of("FLANNELD_KUBE_ANNOTATION_PREFIX",
        "FLANNELD_SET_NODE_NETWORK_UNAVAILABLE", "FLANNELD_V", "FLANNELD_VMODULE", "FLANNELD_LOG_BACKTRACE_AT");

    private final Map<String, String> env;

    /**
     * Creates a provider reading from the given environment.
     *
     * @param env the variables, usually {@link System#getenv()}
     */
    public FlannelEnvironment(final Map<String, String> env) {
        this.env = Map.copyOf(Objects.requireNonNull(env, "env"));
    }

    /**
     * Returns the variable name for a long option name.
     *
     * @param longName the option name with its dashes, e.g. {@code --etcd-endpoints}
     * @return the variable name, e.g. {@code FLANNELD_ETCD_ENDPOINTS}
     */
    public static String variableFor(final String longName) {
        String bare = longName;
        while (bare.startsWith("-")) {
            bare = bare.substring(1);
        }
        return PREFIX + bare.replace('-', '_').toUpperCase(Locale.ROOT);
    }

    @Override
    public String defaultValue(final ArgSpec argSpec) {
        if (!(argSpec instanceof OptionSpec option) || option.usageHelp() || option.versionHelp()) {
            return null;
        }
        final String value = env.get(variableFor(option.longestName()));
        return value == null || value.isEmpty() ? null : value;
    }

    /**
     * What {@link #check} found in the {@code FLANNELD_*} variables that are not options of the command.
     *
     * @param errors one sentence per variable that would change behaviour overlay lacks (exit 1)
     * @param ignored the names (with values) of variables without effect here, and unknown names, for one warning;
     *     empty when there are none
     */
    public record Check(List<String> errors, List<String> ignored) {
    }

    /**
     * Checks the non-empty {@code FLANNELD_*} variables that name no option of {@code command}.
     *
     * @param command the command whose options are read from the environment
     * @return the errors and the ignored variables, each sorted by name
     */
    public Check check(final CommandSpec command) {
        final Set<String> options = new HashSet<>();
        for (OptionSpec o : command.options()) {
            options.add(variableFor(o.longestName()));
        }
        final List<String> errors = new ArrayList<>();
        final List<String> ignored = new ArrayList<>();
        for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
            final String name = e.getKey();
            final String value = e.getValue();
            if (!name.startsWith(PREFIX) || value == null || value.isEmpty() || options.contains(name)) {
                continue;
            }
            if (UNSUPPORTED.containsKey(name)) {
                errors.add(name + " is set (" + value + ") but " + UNSUPPORTED.get(name) + "; unset it");
            } else if (UNSUPPORTED_WHEN_TRUE.containsKey(name)) {
                try {
                    if (new GoFlags.Bool().convert(value)) {
                        errors.add(name + "=" + value + " is not supported: " + UNSUPPORTED_WHEN_TRUE.get(name));
                    } else {
                        ignored.add(name + "=" + value);
                    }
                } catch (TypeConversionException notABoolean) {
                    errors.add(name + ": " + notABoolean.getMessage());
                }
            } else if (WITHOUT_EFFECT.contains(name)) {
                ignored.add(name + "=" + value);
            } else {
                ignored.add(name + "=" + value + " (not a flanneld option)");
            }
        }
        return new Check(List.copyOf(errors), List.copyOf(ignored));
    }
}
