package io.overlay.core.flannel;

/**
 * The network config's {@code Backend} object as overlay understands it: only flannel's {@code udp} backend.
 *
 * @param type the backend type, lower case; always {@code "udp"}
 * @param port the UDP port for encapsulated packets, 1..65535, default {@value FlannelRules#DEFAULT_PORT}
 */
public record BackendConfig(String type, int port) {
    /** The udp backend with the default port 8285. */
    public static final BackendConfig DEFAULT_UDP = new BackendConfig("udp", FlannelRules.DEFAULT_PORT);
}
