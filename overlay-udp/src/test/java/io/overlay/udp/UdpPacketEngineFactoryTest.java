package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.spi.PacketEngineFactory;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

class UdpPacketEngineFactoryTest {
    @Test
    void isFoundThroughServiceLoader() {
        assertThat(ServiceLoader.load(PacketEngineFactory.class).stream().map(ServiceLoader.Provider::type))
            .contains(UdpPacketEngineFactory.class);
    }
}
