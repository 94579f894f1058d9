package io.overlay.benchmarks;

import com.sun.jna.Library;
import com.sun.jna.Native;
import io.netty.channel.unix.FileDescriptor;
import io.overlay.core.spi.TunDevice;
import io.overlay.core.spi.TunSetup;
import java.io.IOException;

/**
 * A stand-in TUN for driving the real engine without a kernel device: one end of a non-blocking
 * {@code AF_UNIX SOCK_SEQPACKET} socket pair, which like a TUN queue gives one whole packet per {@code read} and takes
 * one per {@code write}. The engine gets {@link #fileDescriptor(int) one end}; the benchmark plays the kernel on
 * {@link #kernelSide()}. No interface, address or route exists, so nothing leaves the process except what the engine
 * sends to its loopback peer.
 */
final class SocketPairTun implements TunDevice {
    private static final int AF_UNIX = 1;
    private static final int SOCK_SEQPACKET = 5;
    private static final int SOCK_NONBLOCK = 0x800;
    private static final int SOCK_CLOEXEC = 0x80000;

    /** The few libc calls needed, bound through JNA. */
    interface LibC extends Library {
        /**
         * socketpair(2).
         *
         * @param domain address family
         * @param type socket type and flags
         * @param protocol 0
         * @param sv receives the two descriptors
         * @return 0, or -1 with errno set
         */
        int socketpair(int domain, int type, int protocol, int[] sv);
    }

    private static final LibC LIBC = Native.load("c", LibC.class);

    private final FileDescriptor engineSide;
    private final FileDescriptor kernelSide;

    /**
     * Creates the pair.
     *
     * @throws IOException if socketpair(2) fails (errno in the message)
     */
    SocketPairTun() throws IOException {
        final int[] sv = new int[2];
        if (LIBC.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
            throw new IOException("socketpair(AF_UNIX, SOCK_SEQPACKET) failed, errno " + Native.getLastError());
        }
        engineSide = new FileDescriptor(sv[0]);
        kernelSide = new FileDescriptor(sv[1]);
    }

    /**
     * Returns the end the benchmark reads and writes, as the kernel would on a TUN.
     *
     * @return the descriptor (non-blocking)
     */
    FileDescriptor kernelSide() {
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

    @Override
    public void close() throws IOException {
        engineSide.close();
        kernelSide.close();
    }
}
