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
 * level-triggered {@code EPOLLIN}; every readiness event runs the loop's {@link ForwardingLoop#drain()}, which serves
 * both directions.
 */
final class FdHandle implements EpollIoHandle {
    private static final Logger LOG = LoggerFactory.getLogger(FdHandle.class);

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
        if (!owned && loop.tunReadFailed() && ((EpollIoEvent) event).ops().contains(EpollIoOps.EPOLLERR)
            && registration.isValid()) {
            // The TUN device is gone: stop polling it (datagrams for it then count as TUN write failures).
            LOG.error("TUN fd {} reports an error and cannot be read; no longer polling it", fd.intValue());
            registration.cancel();
        }
    }

    @Override
    public void close() throws java.io.IOException {
        if (owned) {
            fd.close();
        }
    }
}
