package io.overlay.core.spi;

import io.overlay.core.Overlay;
import io.overlay.core.net.RouteTable;

/**
 * Creates packet engines. Implemented by {@code overlay-udp}; the {@link Overlay} facade finds it through
 * {@link java.util.ServiceLoader} unless one is given to the builder.
 */
public interface PacketEngineFactory {
    /**
     * Creates an engine; nothing is opened until {@link PacketEngine#start()}.
     *
     * @param settings the engine settings
     * @param device the TUN device, with {@code settings.loops()} queues
     * @param routes the route table the engine reads; the caller keeps writing it
     * @return the engine
     * @throws IllegalArgumentException if the device's queue count does not match the settings
     */
    PacketEngine create(EngineSettings settings, TunDevice device, RouteTable routes);
}
