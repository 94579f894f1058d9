package io.overlay.udp;

import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A raw file descriptor registered on a Netty 4.2 epoll loop through the {@code IoHandle} API, level-triggered
 * {@code EPOLLIN}: a readiness event runs the direction of the {@link ForwardingLoop} that reads this fd, so only the
 * fd that has work is read. Netty's role in the engine is only this epoll loop for two raw fds; the TUN is read and
 * written with Netty's {@code FileDescriptor} (JNI) and the socket with {@code recvmmsg}/{@code sendmmsg} (JNA, see
 * {@link LinuxUdp}).
 */
abstract sealed class FdHandle implements EpollIoHandle permits FdHandle.Tun, FdHandle.Udp {
    private static final Logger LOG = LoggerFactory.getLogger(FdHandle.class);

    final FileDescriptor fd;
    final ForwardingLoop loop;

    private FdHandle(final FileDescriptor fd, final ForwardingLoop loop) {
        this.fd = fd;
        this.loop = loop;
    }

    @Override
    public final FileDescriptor fd() {
        return fd;
    }

    @Override
    public abstract void close() throws IOException;

    /** A TUN queue: runs TUN → UDP; {@link #close()} leaves the fd open (the device owns it). */
    static final class Tun extends FdHandle {
        Tun(final FileDescriptor fd, final ForwardingLoop loop) {
            super(fd, loop);
        }

        @Override
        public void handle(final IoRegistration registration, final IoEvent event) {
            if (!loop.onTunReadable() && ((EpollIoEvent) event).ops().contains(EpollIoOps.EPOLLERR)
                && registration.isValid()) {
                // The TUN device is gone: stop polling it, or the level-triggered error would wake the loop forever
                // (datagrams for it then count as TUN write failures).
                LOG.error("TUN fd {} reports an error and cannot be read; no longer polling it", fd.intValue());
                registration.cancel();
            }
        }

        @Override
        public void close() {
            // the TUN device owns the fd
        }
    }

    /** The loop's UDP socket: runs UDP → TUN; {@link #close()} closes it. */
    static final class Udp extends FdHandle {
        Udp(final FileDescriptor fd, final ForwardingLoop loop) {
            super(fd, loop);
        }

        @Override
        public void handle(final IoRegistration registration, final IoEvent event) {
            loop.onUdpReadable();
        }

        @Override
        public void close() throws IOException {
            fd.close();
        }
    }
}
