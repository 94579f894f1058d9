package io.overlay.examples;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * What flanneld's Go {@code flag} package accepts and picocli does not, so flanneld command lines and environment
 * files work unchanged: long options with one dash ({@code -etcd-endpoints=...}, {@code -iface eth0}) and Go's
 * boolean spellings ({@code 1 t T TRUE true True 0 f F FALSE false False}, {@code strconv.ParseBool}).
 */
public final class GoFlags {
    private GoFlags() {
    }

    /**
     * Rewrites single-dash long options to the double-dash form picocli expects. An argument {@code -name} or
     * {@code -name=value} becomes {@code --name...} when {@code --name} is an option of the command being parsed
     * (switching to a subcommand's options after its name); everything else, including short options such as
     * {@code -h}, values and arguments after {@code --}, is left as it is.
     *
     * @param commandLine the command whose options (and subcommands) decide what is an option name
     * @param args the arguments as given
     * @return a new array with the rewritten arguments
     */
    public static String[] normalize(final CommandLine commandLine, final String[] args) {
        final List<String> out = new ArrayList<>(args.length);
        CommandLine current = commandLine;
        boolean options = true;
        for (String arg : args) {
            if (!options) {
                out.add(arg);
                continue;
            }
            if (arg.equals("--")) {
                options = false;
                out.add(arg);
                continue;
            }
            if (current.getSubcommands().containsKey(arg)) {
                current = current.getSubcommands().get(arg);
                out.add(arg);
                continue;
            }
            if (arg.length() > 2 && arg.charAt(0) == '-' && arg.charAt(1) != '-') {
                final int eq = arg.indexOf('=');
                final String name = "-" + (eq < 0 ? arg : arg.substring(0, eq));
                if (current.getCommandSpec().findOption(name) != null) {
                    out.add("-" + arg);
                    continue;
                }
            }
            out.add(arg);
        }
        return out.toArray(String[]::new);
    }

    /** Converts Go's boolean spellings ({@code strconv.ParseBool}); used by the boolean options. */
    public static final class Bool implements ITypeConverter<Boolean> {
        @Override
        public Boolean convert(final String value) {
            switch (value) {
                case "1", "t", "T", "TRUE", "true", "True":
                    return Boolean.TRUE;
                case "0", "f", "F", "FALSE", "false", "False":
                    return Boolean.FALSE;
                default:
                    throw new TypeConversionException("'" + value + "' is not a boolean (use true or false; "
                        + "1, t, 0, f are accepted as in flanneld)");
            }
        }
    }
}
