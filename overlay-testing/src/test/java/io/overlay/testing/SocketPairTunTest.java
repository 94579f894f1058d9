package io.overlay.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.jna.Native;
import io.netty.channel.epoll.Epoll;
import org.junit.jupiter.api.Test;

/** The stand-in TUN keeps packet boundaries both ways and reports EAGAIN when empty, as a TUN queue does. */
class SocketPairTunTest {
    @Test
    void onePacketPerReadBothWaysAndEagainWhenEmpty() throws Exception {
        Epoll.ensureAvailability(); // FileDescriptor's JNI
        final TestLibc c = TestLibc.INSTANCE;
        try (SocketPairTun tun = new SocketPairTun()) {
            assertThat(tun.queueCount()).isOne();
            final int engine = tun.fileDescriptor(0);
            final int kernel = tun.kernelSide().intValue();
            assertThat(engine).isEqualTo(tun.engineSide().intValue());
            assertThat(c.write(kernel, new byte[] {1, 2, 3}, 3)).isEqualTo(3);
            assertThat(c.write(kernel, new byte[] {4, 5}, 2)).isEqualTo(2);
            final byte[] buffer = new byte[100];
            assertThat(c.read(engine, buffer, buffer.length)).isEqualTo(3);
            assertThat(c.read(engine, buffer, buffer.length)).isEqualTo(2);
            assertThat(buffer[0]).isEqualTo((byte) 4);
            assertThat(c.read(engine, buffer, buffer.length)).isEqualTo(-1);
            assertThat(Native.getLastError()).isEqualTo(TestLibc.EAGAIN);
            assertThat(c.write(engine, new byte[] {6}, 1)).isEqualTo(1);
            assertThat(c.recv(kernel, buffer, buffer.length, TestLibc.MSG_DONTWAIT)).isEqualTo(1);
        }
    }
}
