package io.overlay.examples;

import java.util.Map;

/**
 * System properties the launcher gives Netty (the packet engine's transport) before any Netty class loads,
 * each only when not already set (a {@code -D} on the command line or in {@code OVERLAY_JAVA_OPTS} wins):
 *
 * <ul>
 *   <li>{@code io.netty.jfr.enabled=false}: Netty 4.2 registers its buffer allocation events with Java Flight
 *       Recorder when its allocator first runs, loading about 100 {@code jdk.jfr} classes (about 0.3 s of start-up
 *       on two busy CPUs, and their metadata for the life of the process) for events only a JFR recording reads.
 *       Pass {@code -Dio.netty.jfr.enabled=true} when recording.</li>
 *   <li>{@code io.netty.allocator.type=unpooled}: Netty's pooled allocator keeps 2 MiB chunks per arena, heap and
 *       direct, for buffers the agent hardly uses: the packet engine has buffers of its own, allocated once.</li>
 * </ul>
 */
final class NettyDefaults {
    /** The properties and their launcher defaults. */
    static final Map<String, String> DEFAULTS = Map.of(
        "io.netty.jfr.enabled", "false",
        "io.netty.allocator.type", "unpooled");

    private NettyDefaults() {
    }

    /** Sets each default that the JVM's command line did not set. */
    static void apply() {
        DEFAULTS.forEach((key, value) -> {
            if (System.getProperty(key) == null) {
                System.setProperty(key, value);
            }
        });
    }
}
