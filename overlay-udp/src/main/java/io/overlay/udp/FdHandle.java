package io.overlay.udp;

import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A raw file descriptor (a TUN queue or the UDP socket) registered on a Netty 4.2 epoll loop (java-notes §2.4):
 * level-triggered {@code EPOLLIN}; a readiness event of the TUN runs {@link ForwardingLoop#onTunReadable()}, one of
 * the socket {@link ForwardingLoop#onUdpReadable()}, so only the fd that has work is read.
 */
final class FdHandle implements EpollIoHandle {
    private static final Logger LOG = LoggerFactory.getLogger(FdHandle.class);

    private final FileDescriptor fd;
    private final boolean tun;
    private final ForwardingLoop loop;

    private FdHandle(final FileDescriptor fd, final boolean tun, final ForwardingLoop loop) {
        this.fd = fd;
        this.tun = tun;
        this.loop = loop;
    }

    /**
     * The handle of a TUN queue; {@link #close()} leaves the fd open (the device owns it).
     *
     * @param fd the TUN queue's descriptor
     * @param loop the loop whose TUN → UDP direction serves it
     * @return the handle
     */
    static FdHandle tun(final FileDescriptor fd, final ForwardingLoop loop) {
        return new FdHandle(fd, true, loop);
    }

    /**
     * The handle of the loop's UDP socket; {@link #close()} closes it.
     *
     * @param fd the socket
     * @param loop the loop whose UDP → TUN direction serves it
     * @return the handle
     */
    static FdHandle udp(final FileDescriptor fd, final ForwardingLoop loop) {
        return new FdHandle(fd, false, loop);
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    @Override
    public void handle(final IoRegistration registration, final IoEvent event) {
        if (!tun) {
            loop.onUdpReadable();
            return;
        }
        loop.onTunReadable();
        if (loop.tunReadFailed() && ((EpollIoEvent) event).ops().contains(EpollIoOps.EPOLLERR)
            && registration.isValid()) {
            // The TUN device is gone: stop polling it (datagrams for it then count as TUN write failures).
            LOG.error("TUN fd {} reports an error and cannot be read; no longer polling it", fd.intValue());
            registration.cancel();
        }
    }

    @Override
    public void close() throws java.io.IOException {
        if (!tun) {
            fd.close();
        }
    }
}
