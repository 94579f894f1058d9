package io.overlay.examples;

import java.util.Map;

/**
 * System properties the launcher gives Netty (the packet engine's and gRPC's transport) before any Netty class loads,
 * each only when not already set (a {@code -D} on the command line or in {@code OVERLAY_JAVA_OPTS} wins):
 *
 * <ul>
 *   <li>{@code io.netty.jfr.enabled=false}: Netty 4.2 registers its buffer allocation events with Java Flight
 *       Recorder when its allocator first runs, loading about 100 {@code jdk.jfr} classes (about 0.3 s of start-up
 *       on two busy CPUs, and their metadata for the life of the process) for events only a JFR recording reads.
 *       Pass {@code -Dio.netty.jfr.enabled=true} when recording.</li>
 *   <li>{@code io.netty.eventLoopThreads=1}: gRPC's shared client event loop group ({@code grpc-default-worker})
 *       takes Netty's default size, two threads per CPU; the launcher talks to etcd over one connection at a time,
 *       which one event loop serves. The packet engine sizes its own event loops ({@code overlay-udp}), so this does
 *       not touch the packet path.</li>
 *   <li>{@code io.grpc.netty.useCustomAllocator=false} and {@code io.netty.allocator.type=unpooled}: gRPC's own
 *       pooled allocator keeps 2 MiB chunks per arena, heap and direct (about 9 MiB of RSS for an idle agent); etcd's
 *       requests and answers are few and small, so they get plain buffers, freed when released. The packet engine
 *       uses buffers of its own, allocated once, not Netty's allocator.</li>
 * </ul>
 */
final class NettyDefaults {
    /** The properties and their launcher defaults. */
    static final Map<String, String> DEFAULTS = Map.of(
        "io.netty.jfr.enabled", "false",
        "io.netty.eventLoopThreads", "1",
        "io.grpc.netty.useCustomAllocator", "false",
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
