package io.overlay.examples;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.OptionSpec;
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
     * (switching to a subcommand's options after its name). An option that needs a value and is written without
     * {@code =} is joined with the next argument ({@code -iface eth0} becomes {@code --iface=eth0}), so a value that
     * reads like a subcommand or an option ({@code --bridge health}) stays a value, as with Go's flags. Everything
     * else, including short options such as {@code -h} and arguments after {@code --}, is left as it is.
     *
     * @param commandLine the command whose options (and subcommands) decide what is an option name
     * @param args the arguments as given
     * @return a new array with the rewritten arguments
     */
    public static String[] normalize(final CommandLine commandLine, final String[] args) {
        final List<String> out = new ArrayList<>(args.length);
        CommandLine current = commandLine;
        boolean options = true;
        boolean value = false;
        for (String arg : args) {
            if (value) {
                // the value of the option before, even "health" or "-x": joined so picocli cannot take it for a
                // subcommand or an option
                out.set(out.size() - 1, out.get(out.size() - 1) + "=" + arg);
                value = false;
                continue;
            }
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
            String option = arg;
            if (arg.length() > 2 && arg.charAt(0) == '-' && arg.charAt(1) != '-') {
                final int eq = arg.indexOf('=');
                if (current.getCommandSpec().findOption("-" + (eq < 0 ? arg : arg.substring(0, eq))) != null) {
                    option = "-" + arg;
                }
            }
            out.add(option);
            value = takesNextArgument(current, option);
        }
        return out.toArray(String[]::new);
    }

    /**
     * Returns whether {@code arg} is an option of {@code command} written without {@code =value} that needs a value,
     * so the next argument is that value (booleans, arity {@code 0..1}, take theirs only as {@code --flag=value}, as
     * with Go's flags).
     */
    private static boolean takesNextArgument(final CommandLine command, final String arg) {
        if (!arg.startsWith("-") || arg.indexOf('=') >= 0) {
            return false;
        }
        final OptionSpec option = command.getCommandSpec().findOption(arg);
        return option != null && option.arity().min() > 0;
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
