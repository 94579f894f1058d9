package io.overlay.udp;

import io.overlay.core.EngineSettings;
import io.overlay.core.PacketEngine;
import io.overlay.core.PacketEngineFactory;
import io.overlay.core.RouteTable;
import io.overlay.core.TunDevice;

/**
 * Creates {@link UdpPacketEngine}s; registered in {@code META-INF/services/io.overlay.core.PacketEngineFactory} so the
 * {@code Overlay} facade finds it through {@link java.util.ServiceLoader}.
 */
public final class UdpPacketEngineFactory implements PacketEngineFactory {
    /** Creates the factory (for ServiceLoader). */
    public UdpPacketEngineFactory() {
    }

    /**
     * Creates an engine; nothing is opened until {@link PacketEngine#start()}.
     *
     * @throws IllegalArgumentException if an argument is null or the device's queue count differs from
     *     {@code settings.loops()}
     */
    @Override
    public PacketEngine create(final EngineSettings settings, final TunDevice device, final RouteTable routes) {
        return new UdpPacketEngine(settings, device, routes);
    }
}
