package io.overlay.tun;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the host's firewall tools ({@code nft}, {@code iptables}) as child processes. A child inherits the network
 * namespace of the thread that starts it (Linux keeps namespaces per thread), so rules land in the namespace the
 * calling thread is in.
 */
final class HostCommand {
    /** Where Debian installs the tools, searched after {@code PATH} (a service's PATH may lack the sbin folders). */
    private static final List<String> SBIN = List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin");
    private static final long TIMEOUT_SECONDS = 30;

    private HostCommand() {
    }

    /**
     * Finds an executable by name in {@code PATH}, then in {@code /usr/sbin}, {@code /sbin}, {@code /usr/bin},
     * {@code /bin}.
     *
     * @param name the program name, e.g. {@code nft}
     * @return its path, or empty when it is not installed
     */
    static Optional<Path> find(final String name) {
        final Set<String> dirs = new LinkedHashSet<>();
        final String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(File.pathSeparator)) {
                if (!d.isEmpty()) {
                    dirs.add(d);
                }
            }
        }
        dirs.addAll(SBIN);
        for (String d : dirs) {
            final Path p = Path.of(d, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /**
     * Runs a command, feeding {@code input} to its standard input, and waits for it (at most 30 s).
     *
     * @param input the text for standard input, or {@code null} for none
     * @param command the program and its arguments
     * @return its standard output and error, merged
     * @throws IOException if it cannot be started, times out or exits non-zero; the message holds the command line,
     *     the exit status and the tool's own output
     */
    static String run(final String input, final String... command) throws IOException {
        final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        final CompletableFuture<byte[]> output = CompletableFuture.supplyAsync(() -> {
            try {
                return p.getInputStream().readAllBytes();
            } catch (IOException e) {
                return new byte[0];
            }
        });
        try (OutputStream in = p.getOutputStream()) {
            if (input != null) {
                in.write(input.getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            // the tool exited before reading its input: its status and output say why
        }
        try {
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish within " + TIMEOUT_SECONDS + " s");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException(String.join(" ", command) + " interrupted", e);
        }
        final String out = new String(output.join(), StandardCharsets.UTF_8).strip();
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed (exit " + p.exitValue() + ")"
                + (out.isEmpty() ? "" : ": " + out.replace('\n', ' ')));
        }
        return out;
    }

    /**
     * Returns the command with its arguments as a list, for building command lines.
     *
     * @param program the program's path
     * @param args its arguments
     * @return a new array: program, then args
     */
    static String[] line(final Path program, final String... args) {
        final List<String> l = new ArrayList<>(args.length + 1);
        l.add(program.toString());
        l.addAll(List.of(args));
        return l.toArray(String[]::new);
    }
}
