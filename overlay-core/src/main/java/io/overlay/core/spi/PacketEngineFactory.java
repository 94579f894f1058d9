package io.overlay.core.spi;

import io.overlay.core.Overlay;
import io.overlay.core.net.RouteTable;
import java.io.IOException;

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

    /**
     * Checks, before the {@link Overlay} acquires a lease, that an engine could take what it will need on this host,
     * in the calling thread's network namespace: a second agent (or flanneld) that holds it is then refused before it
     * moves the running agent's lease. The default checks nothing (an engine that binds no UDP socket on the underlay
     * must not be refused because something else uses the network config's port).
     *
     * @param bindAddress the underlay address the engine will bind, int form
     * @param port the network config's {@code Backend.Port}
     * @throws PortInUseException naming what is taken and, when it can, by whom
     * @throws IOException if the check itself fails
     */
    default void checkAvailable(final int bindAddress, final int port) throws IOException {
    }
}
