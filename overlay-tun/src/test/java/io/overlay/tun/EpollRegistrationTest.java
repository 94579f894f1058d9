package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import io.overlay.testing.TestPackets;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The queue descriptor can be registered on a Netty 4.2 epoll loop the way the packet engine does it (overlay-udp's
 * {@code FdHandle}): an {@link EpollIoHandle} over {@code fileDescriptor(0)}, EPOLLIN, reads on the loop thread.
 */
@Privileged
class EpollRegistrationTest {
    @Test
    void readableEventsArriveOnTheEventLoopForPacketsRoutedToTheDevice() throws Exception {
        final MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try (Netns ns = Netns.create();
             LinuxTunDevice tun = NetnsThread.call(ns.name(), () -> new LinuxTunDeviceFactory().open("ovep%d", 1))) {
            tun.configure(new TunSetup(Ipv4Prefix.parse("100.64.16.0/32"), 1472,
                List.of(Ipv4Prefix.parse("100.64.0.0/16"))));
            final BlockingQueue<Integer> destinations = new LinkedBlockingQueue<>();
            final FileDescriptor fd = new FileDescriptor(tun.fileDescriptor(0)); // not closed: the device owns it
            final ByteBuffer buffer = ByteBuffer.allocateDirect(2048);
            final EpollIoHandle handle = new EpollIoHandle() {
                @Override
                public FileDescriptor fd() {
                    return fd;
                }

                @Override
                public void handle(final IoRegistration registration, final IoEvent event) {
                    try {
                        int n;
                        while ((n = fd.read(buffer, 0, buffer.capacity())) > 0) {
                            if (TestPackets.version(buffer) == 4) {
                                destinations.add(TestPackets.dst(buffer));
                            }
                        }
                    } catch (Exception e) {
                        destinations.add(-1);
                    }
                }

                @Override
                public void close() {
                    // the TUN device closes its descriptor
                }
            };
            final IoEventLoop loop = group.next();
            final IoRegistration registration = loop.register(handle).get(5, TimeUnit.SECONDS);
            loop.submit(() -> registration.submit(EpollIoOps.EPOLLIN)).get(5, TimeUnit.SECONDS);

            ns.spawn(new ProcessBuilder("ping", "-c2", "-i", "0.2", "-W1", "100.64.7.8"));
            assertThat(destinations.poll(5, TimeUnit.SECONDS)).isEqualTo(Ipv4.parse("100.64.7.8"));
            assertThat(destinations.poll(5, TimeUnit.SECONDS)).isEqualTo(Ipv4.parse("100.64.7.8"));
            loop.submit(registration::cancel).get(5, TimeUnit.SECONDS);
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
