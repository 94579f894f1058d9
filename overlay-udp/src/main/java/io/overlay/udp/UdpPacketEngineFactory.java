package io.overlay.udp;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.spi.PacketEngineFactory;
import io.overlay.core.spi.PortInUseException;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.TunDevice;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.channels.DatagramChannel;

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

    /**
     * Fails when the UDP port is taken on the underlay address: another agent (overlay or flanneld) runs on this host,
     * in this network namespace. Acquiring first would find that agent's lease by its PublicIP and move it to an etcd
     * lease of this overlay's, only to fail at the engine's bind moments later. A bind and close, in the calling
     * thread's network namespace, where the engine binds too.
     *
     * @throws PortInUseException naming the address and port when they are in use
     * @throws IOException naming them and the bind error when the bind fails otherwise
     */
    @Override
    public void checkAvailable(final int bindAddress, final int port) throws IOException {
        try (DatagramChannel ch = DatagramChannel.open(StandardProtocolFamily.INET)) {
            ch.bind(new InetSocketAddress(Ipv4.toInetAddress(bindAddress), port));
        } catch (BindException e) {
            final String where = "UDP port " + port + " on " + Ipv4.format(bindAddress);
            if (String.valueOf(e.getMessage()).contains("in use")) {
                throw new PortInUseException(where + " is already in use: another overlay agent or flanneld is running on "
                    + "this host; stop it first", e);
            }
            throw new IOException("cannot bind " + where + ": " + e.getMessage(), e);
        }
    }
}
