package io.overlay.examples;

import com.sun.jna.LastErrorException;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Platform;
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
    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int EAGAIN = 11;

    static {
        Native.register(Platform.C_LIBRARY_NAME);
    }

    private final int fd;

    private NotifySocket(final int fd) {
        this.fd = fd;
    }

    private static native int socket(int domain, int type, int protocol) throws LastErrorException;

    private static native int bind(int fd, byte[] address, int length) throws LastErrorException;

    private static native NativeLong recv(int fd, byte[] buf, NativeLong len, int flags) throws LastErrorException;

    private static native int close(int fd);

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
        a.putShort((short) AF_UNIX);
        if (name.startsWith("@")) {
            a.put((byte) 0).put(path, 1, path.length - 1);
        } else {
            a.put(path).put((byte) 0);
        }
        final int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        try {
            bind(fd, a.array(), a.position());
        } catch (LastErrorException e) {
            close(fd);
            throw new IOException("bind " + name + ": errno " + e.getErrorCode(), e);
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
            try {
                final long n = recv(fd, buf, new NativeLong(buf.length), MSG_DONTWAIT).longValue();
                return new String(buf, 0, (int) n, StandardCharsets.UTF_8);
            } catch (LastErrorException e) {
                if (e.getErrorCode() != EAGAIN) {
                    throw e;
                }
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
        close(fd);
    }
}
