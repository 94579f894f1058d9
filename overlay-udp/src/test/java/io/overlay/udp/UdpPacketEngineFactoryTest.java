package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.PacketEngineFactory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.channels.DatagramChannel;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

class UdpPacketEngineFactoryTest {
    @Test
    void isFoundThroughServiceLoader() {
        assertThat(ServiceLoader.load(PacketEngineFactory.class).stream().map(ServiceLoader.Provider::type))
            .contains(UdpPacketEngineFactory.class);
    }

    /** The preflight before the lease: a port bound on the address (by a running agent) is refused, naming it. */
    @Test
    void checkAvailableRefusesAPortInUseAndAcceptsItOnceFree() throws Exception {
        final UdpPacketEngineFactory f = new UdpPacketEngineFactory();
        final int loopback = Ipv4.parse("127.0.0.1");
        final int port;
        try (DatagramChannel running = DatagramChannel.open(StandardProtocolFamily.INET)
            .bind(new InetSocketAddress("127.0.0.1", 0))) {
            port = ((InetSocketAddress) running.getLocalAddress()).getPort();
            assertThatThrownBy(() -> f.checkAvailable(loopback, port)).isInstanceOf(IOException.class)
                .hasMessage("UDP port " + port + " on 127.0.0.1 is already in use: another overlay agent or flanneld "
                    + "is running on this host; stop it first");
        }
        assertThatCode(() -> f.checkAvailable(loopback, port)).doesNotThrowAnyException();
        assertThatThrownBy(() -> f.checkAvailable(Ipv4.parse("192.0.2.1"), port)).isInstanceOf(IOException.class)
            .hasMessageStartingWith("cannot bind UDP port " + port + " on 192.0.2.1: ");
    }
}
