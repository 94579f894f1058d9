package io.overlay.examples;

import io.overlay.core.flannel.SubnetEnv;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * What the runtime configuration subcommands share: read the host's {@code subnet.env} ({@code --subnet-file},
 * strictly, see {@link HostSubnet}), render the runtime's configuration from it, and write that to
 * {@code --output} atomically (a temporary file in the same directory, forced to disk, mode 0644, renamed over the
 * target: readers see the old file or the new one, never a part) or to standard output.
 *
 * <p>Exit status {@link #OK} when written, {@link #FAILED} when the file is missing or malformed or the output cannot
 * be written; the message on standard error names the file and what is wrong, and an existing output is left as it
 * was.
 */
public abstract class RuntimeConfigCommand implements Callable<Integer> {
    /** Exit status when the configuration was written. */
    public static final int OK = 0;
    /** Exit status when subnet.env is missing or malformed or the output cannot be written. */
    public static final int FAILED = 1;

    @Spec
    CommandSpec spec;

    @Option(names = "--subnet-file", paramLabel = "<file>", defaultValue = "/run/flannel/subnet.env",
        description = "The host's subnet.env, as written by overlay or flanneld (default: ${DEFAULT-VALUE}).")
    Path subnetFile = SubnetEnv.DEFAULT_PATH;

    @Option(names = {"-o", "--output"}, paramLabel = "<file>",
        description = "Write here, atomically (temporary file and rename; directory created); default or '-': "
            + "standard output.")
    Path output;

    /**
     * Renders the runtime's configuration.
     *
     * @param subnet the host's subnet.env
     * @return the file's text, ending in a newline
     * @throws IllegalArgumentException if this command's own options do not fit the subnet (the message says why)
     */
    abstract String render(HostSubnet subnet);

    @Override
    public final Integer call() {
        final PrintWriter err = spec.commandLine().getErr();
        final String name = "overlay " + spec.name();
        final String text;
        try {
            text = render(HostSubnet.read(subnetFile));
        } catch (NoSuchFileException e) {
            err.println(name + ": " + subnetFile + " does not exist (is overlay running with --subnet-file "
                + subnetFile + "?)");
            err.flush();
            return FAILED;
        } catch (IOException e) {
            err.println(name + ": cannot read " + subnetFile + ": " + e);
            err.flush();
            return FAILED;
        } catch (IllegalArgumentException e) {
            err.println(name + ": " + e.getMessage());
            err.flush();
            return FAILED;
        }
        if (output == null || output.toString().equals("-")) {
            final PrintWriter out = spec.commandLine().getOut();
            out.print(text);
            out.flush();
            return OK;
        }
        try {
            SubnetEnv.writeAtomically(output, text);
            return OK;
        } catch (IOException e) {
            err.println(name + ": " + e.getMessage()); // "cannot write <file>: <cause>"
            err.flush();
            return FAILED;
        }
    }
}
