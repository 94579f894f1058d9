package io.overlay.core.flannel;

import java.util.Objects;

/**
 * The network config's {@code Backend} object as overlay understands it: only flannel's {@code udp} backend.
 *
 * @param type the backend type, lower case; always {@code "udp"}
 * @param port the UDP port for encapsulated packets, 1..65535, default {@value FlannelRules#DEFAULT_PORT}
 */
public record BackendConfig(String type, int port) {
    /** The udp backend with the default port 8285. */
    public static final BackendConfig DEFAULT_UDP = new BackendConfig("udp", FlannelRules.DEFAULT_PORT);

    // Written out: a record's generated equals and hashCode are bootstrapped through method handles at their first
    // call, which spins classes during the launcher's start (docs/performance.md, "Start-up, round five").
    @Override
    public boolean equals(final Object other) {
        return other instanceof BackendConfig o && Objects.equals(type, o.type) && port == o.port;
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, port);
    }
}
