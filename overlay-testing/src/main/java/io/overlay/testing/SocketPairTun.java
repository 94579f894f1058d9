package io.overlay.testing;

import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.spi.TunDevice;
import io.overlay.core.spi.TunSetup;
import java.io.IOException;

/**
 * A stand-in TUN for driving the real engine or loop without a kernel device: one end of a non-blocking
 * {@code AF_UNIX SOCK_SEQPACKET} socket pair, which like a TUN queue gives one whole packet per {@code read} (or
 * {@code EAGAIN} when empty) and takes one per {@code write}. The engine gets {@link #fileDescriptor(int) one end}; the
 * test or benchmark plays the kernel on {@link #kernelSide()}. No interface, address or route exists, so nothing
 * leaves the process except what the engine sends to its loopback peer.
 *
 * <p>Both ends are Netty {@link FileDescriptor}s, read and written through Netty's JNI as the engine does (load it
 * first, e.g. with {@code Epoll.ensureAvailability()}); their {@code int} values work with {@link TestLibc} too.
 */
public final class SocketPairTun implements TunDevice {
    private final FileDescriptor engineSide;
    private final FileDescriptor kernelSide;

    /**
     * Creates the pair.
     *
     * @throws IOException if socketpair(2) fails (errno in the message)
     */
    public SocketPairTun() throws IOException {
        final int[] sv = new int[2];
        TestLibc.check(TestLibc.INSTANCE.socketpair(TestLibc.AF_UNIX,
            TestLibc.SOCK_SEQPACKET | TestLibc.SOCK_NONBLOCK | TestLibc.SOCK_CLOEXEC, 0, sv),
            "socketpair(AF_UNIX, SOCK_SEQPACKET)");
        engineSide = new FileDescriptor(sv[0]);
        kernelSide = new FileDescriptor(sv[1]);
    }

    /**
     * Returns the end the engine reads and writes, as it would a TUN queue.
     *
     * @return the descriptor (non-blocking)
     */
    public FileDescriptor engineSide() {
        return engineSide;
    }

    /**
     * Returns the end the test or benchmark reads and writes, as the kernel would on a TUN.
     *
     * @return the descriptor (non-blocking)
     */
    public FileDescriptor kernelSide() {
        return kernelSide;
    }

    @Override
    public String name() {
        return "socketpair";
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int fileDescriptor(final int queue) {
        if (queue != 0) {
            throw new IllegalArgumentException("queue must be 0, got " + queue);
        }
        return engineSide.intValue();
    }

    @Override
    public void configure(final TunSetup setup) {
        throw new UnsupportedOperationException("a socket pair has no addresses or routes");
    }

    /** Closes both ends. */
    @Override
    public void close() throws IOException {
        engineSide.close();
        kernelSide.close();
    }
}
