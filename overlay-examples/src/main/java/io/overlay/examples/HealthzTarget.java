package io.overlay.examples;

import java.io.PrintWriter;
import java.net.URI;
import java.util.Optional;
import picocli.CommandLine.Option;

/**
 * The {@code --healthz-ip} and {@code --healthz-port} options of the subcommands that ask a running overlay's health
 * server ({@code overlay health}, {@code overlay status}), as a picocli mixin: one definition of the options, their
 * {@code FLANNELD_HEALTHZ_*} defaults and the address rule ({@code 0.0.0.0} means 127.0.0.1, as flanneld's
 * {@code --healthz-ip} default binds every address).
 */
final class HealthzTarget {
    @Option(names = "--healthz-ip", defaultValue = "127.0.0.1", paramLabel = "<ip>",
        description = "Address of the running instance's health server; 0.0.0.0 means 127.0.0.1 "
            + "(default: ${DEFAULT-VALUE}, env FLANNELD_HEALTHZ_IP).")
    private String healthzIp;

    @Option(names = "--healthz-port", defaultValue = "0", paramLabel = "<port>",
        description = "Port of the running instance's health server, as given to it with --healthz-port "
            + "(required; env FLANNELD_HEALTHZ_PORT).")
    private int healthzPort;

    /**
     * Returns the URI of {@code path} on the running instance, or empty (after saying why on {@code err}) when no
     * valid port was given.
     *
     * @param command the subcommand's name for the message, e.g. {@code overlay status}
     * @param path the page, e.g. {@code /readyz}
     * @param err where the problem is printed
     * @return the URI, or empty
     */
    Optional<URI> uri(final String command, final String path, final PrintWriter err) {
        if (healthzPort <= 0 || healthzPort > 65535) {
            err.println(command + ": --healthz-port must be the running instance's health port (1..65535), got "
                + healthzPort);
            err.flush();
            return Optional.empty();
        }
        final String host = healthzIp.equals("0.0.0.0") ? "127.0.0.1"
            : healthzIp.contains(":") ? "[" + healthzIp + "]" : healthzIp;
        return Optional.of(URI.create("http://" + host + ":" + healthzPort + path));
    }
}
