package io.overlay.examples;

import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Reads option values from {@code FLANNELD_<OPTION>} environment variables the way flanneld does (flannel reference
 * §4.2): the long option name without its leading dashes, dashes turned into underscores, upper-cased
 * ({@code --etcd-endpoints} is {@code FLANNELD_ETCD_ENDPOINTS}, {@code --ip-masq} is {@code FLANNELD_IP_MASQ}).
 * A value given on the command line wins; an unset or empty variable leaves the option's built-in default.
 * Repeatable options take a comma-separated list ({@code FLANNELD_IFACE=eth1,eth0}).
 */
public final class FlannelEnvironment implements IDefaultValueProvider {
    /** The prefix flanneld uses for its environment variables. */
    public static final String PREFIX = "FLANNELD_";

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
}
