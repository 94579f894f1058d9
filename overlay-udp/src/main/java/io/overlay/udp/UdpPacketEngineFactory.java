package io.overlay.udp;

import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.spi.PacketEngineFactory;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.TunDevice;

/**
 * Creates {@link UdpPacketEngine}s; registered in {@code META-INF/services/io.overlay.core.spi.PacketEngineFactory} so the
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
