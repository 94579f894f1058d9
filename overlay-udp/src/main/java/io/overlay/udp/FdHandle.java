package io.overlay.udp;

import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.unix.FileDescriptor;

/**
 * A raw file descriptor (a TUN queue or the UDP socket) registered on a Netty 4.2 epoll loop (java-notes §2.4):
 * level-triggered {@code EPOLLIN}; every readiness event runs the loop's {@link ForwardingLoop#drain()}, which serves
 * both directions.
 */
final class FdHandle implements EpollIoHandle {
    private final FileDescriptor fd;
    private final boolean owned;
    private final ForwardingLoop loop;

    /**
     * Creates a handle.
     *
     * @param fd the descriptor
     * @param owned whether {@link #close()} closes it (the UDP socket) or not (a TUN queue, owned by the device)
     * @param loop the loop to drain when it is readable
     */
    FdHandle(final FileDescriptor fd, final boolean owned, final ForwardingLoop loop) {
        this.fd = fd;
        this.owned = owned;
        this.loop = loop;
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    @Override
    public void handle(final IoRegistration registration, final IoEvent event) {
        loop.drain();
        if (!owned && loop.tunReadFailed() && registration.isValid()) {
            registration.cancel(); // the TUN is broken: stop polling it (UDP -> TUN drops are counted as write failures)
        }
    }

    @Override
    public void close() throws java.io.IOException {
        if (owned) {
            fd.close();
        }
    }
}
