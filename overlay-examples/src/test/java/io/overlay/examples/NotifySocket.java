package io.overlay.examples;

import com.sun.jna.Native;
import io.overlay.testing.TestLibc;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * systemd's side of {@code $NOTIFY_SOCKET} for tests: an {@code AF_UNIX SOCK_DGRAM} socket bound to a path or an
 * abstract name ({@code @name}), read one datagram at a time. The address is encoded here independently of
 * {@link SystemdNotifier} so that a wrong encoding there cannot reach a socket bound with the same mistake.
 */
final class NotifySocket implements AutoCloseable {
    private static final TestLibc C = TestLibc.INSTANCE;

    private final int fd;

    private NotifySocket(final int fd) {
        this.fd = fd;
    }

    /**
     * Binds a datagram socket.
     *
     * @param name an absolute path (created by bind) or {@code @name} for the abstract namespace
     * @return the socket
     * @throws IOException if bind fails
     */
    static NotifySocket bind(final String name) throws IOException {
        final byte[] path = name.getBytes(StandardCharsets.US_ASCII);
        // sockaddr_un: sa_family_t (host order), then sun_path; abstract: NUL + name, length = exactly that
        final ByteBuffer a = ByteBuffer.allocate(110).order(ByteOrder.nativeOrder());
        a.putShort((short) TestLibc.AF_UNIX);
        if (name.startsWith("@")) {
            a.put((byte) 0).put(path, 1, path.length - 1);
        } else {
            a.put(path).put((byte) 0);
        }
        final int fd = (int) TestLibc.check(C.socket(TestLibc.AF_UNIX, TestLibc.SOCK_DGRAM | TestLibc.SOCK_CLOEXEC, 0),
            "socket(AF_UNIX, SOCK_DGRAM)");
        if (C.bind(fd, a.array(), a.position()) != 0) {
            final int errno = Native.getLastError();
            C.close(fd);
            throw new IOException("bind " + name + ": errno " + errno);
        }
        return new NotifySocket(fd);
    }

    /**
     * Returns the next datagram, waiting up to {@code timeout}.
     *
     * @param timeout how long to wait
     * @return the datagram as UTF-8 text, or {@code null} if none arrived in time
     * @throws InterruptedException if interrupted while waiting
     */
    String receive(final Duration timeout) throws InterruptedException {
        final long deadline = System.nanoTime() + timeout.toNanos();
        final byte[] buf = new byte[4096];
        while (true) {
            final long n = C.recv(fd, buf, buf.length, TestLibc.MSG_DONTWAIT);
            if (n >= 0) {
                return new String(buf, 0, (int) n, StandardCharsets.UTF_8);
            }
            final int errno = Native.getLastError();
            if (errno != TestLibc.EAGAIN) {
                throw new IllegalStateException("recv on the notify socket: errno " + errno);
            }
            if (System.nanoTime() - deadline > 0) {
                return null;
            }
            Thread.sleep(10);
        }
    }

    /**
     * Returns the next datagram that contains {@code text}, skipping others, waiting up to {@code timeout} in all.
     *
     * @param text e.g. {@code READY=1}
     * @param timeout how long to wait in all
     * @return the datagram, or {@code null} if none came in time
     * @throws InterruptedException if interrupted while waiting
     */
    String await(final String text, final Duration timeout) throws InterruptedException {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() - deadline < 0) {
            final String m = receive(Duration.ofNanos(Math.max(deadline - System.nanoTime(), 0)));
            if (m != null && m.lines().anyMatch(text::equals)) {
                return m;
            }
        }
        return null;
    }

    @Override
    public void close() {
        C.close(fd);
    }
}
