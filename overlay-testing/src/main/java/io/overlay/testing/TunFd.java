package io.overlay.testing;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A raw TUN file descriptor of the test's own, created inside a test namespace ({@link Netns#call}) so the root
 * namespace is never touched: {@code IFF_TUN | IFF_NO_PI}, optionally {@code IFF_VNET_HDR} with a
 * {@value TestLibc#VIRTIO_NET_HDR_LENGTH}-byte virtio header and {@code TUNSETOFFLOAD} flags (the ioctls of
 * {@code include/uapi/linux/if_tun.h}, through {@link TestLibc}). Non-blocking; {@link #read} polls.
 */
public final class TunFd implements AutoCloseable {
    /** {@link TestLibc#TUN_F_CSUM}. */
    public static final int TUN_F_CSUM = TestLibc.TUN_F_CSUM;
    /** {@link TestLibc#TUN_F_TSO4}. */
    public static final int TUN_F_TSO4 = TestLibc.TUN_F_TSO4;
    /** {@link TestLibc#TUN_F_TSO_ECN}. */
    public static final int TUN_F_TSO_ECN = TestLibc.TUN_F_TSO_ECN;
    /** {@link TestLibc#TUN_F_USO4}. */
    public static final int TUN_F_USO4 = TestLibc.TUN_F_USO4;
    /** {@link TestLibc#TUN_F_USO6}: the kernel accepts USO only as USO4|USO6 together (EINVAL otherwise). */
    public static final int TUN_F_USO6 = TestLibc.TUN_F_USO6;

    private static final TestLibc C = TestLibc.INSTANCE;

    private final int fd;
    private final String name;
    private final Memory pollfd = new Memory(8);
    private boolean closed;

    private TunFd(final int fd, final String name) {
        this.fd = fd;
        this.name = name;
    }

    /**
     * Creates a TUN in {@code ns}.
     *
     * @param ns the namespace
     * @param name the interface name
     * @param vnetOffloads -1 for a plain {@code IFF_TUN|IFF_NO_PI} device; otherwise {@code IFF_VNET_HDR} with a
     *     10-byte header and these {@code TUNSETOFFLOAD} flags
     * @return the open device (not up, no address)
     * @throws IOException if a call fails (errno in the message)
     */
    public static TunFd create(final Netns ns, final String name, final int vnetOffloads) throws IOException {
        try {
            final int fd = ns.call(() -> {
                final int created = (int) TestLibc.check(C.open("/dev/net/tun",
                    TestLibc.O_RDWR | TestLibc.O_NONBLOCK | TestLibc.O_CLOEXEC), "open /dev/net/tun");
                try {
                    final Memory ifr = new Memory(TestLibc.IFREQ_SIZE);
                    ifr.clear();
                    final byte[] n = name.getBytes(StandardCharsets.US_ASCII);
                    ifr.write(0, n, 0, n.length);
                    ifr.setShort(TestLibc.IFREQ_UNION, (short) (TestLibc.IFF_TUN | TestLibc.IFF_NO_PI
                        | (vnetOffloads >= 0 ? TestLibc.IFF_VNET_HDR : 0)));
                    TestLibc.check(C.ioctl(created, TestLibc.TUNSETIFF, ifr), "TUNSETIFF");
                    if (vnetOffloads >= 0) {
                        final Memory size = new Memory(4);
                        size.setInt(0, TestLibc.VIRTIO_NET_HDR_LENGTH);
                        TestLibc.check(C.ioctl(created, TestLibc.TUNSETVNETHDRSZ, size), "TUNSETVNETHDRSZ");
                        TestLibc.check(C.ioctl(created, TestLibc.TUNSETOFFLOAD, vnetOffloads), "TUNSETOFFLOAD");
                    }
                } catch (IOException | RuntimeException e) {
                    C.close(created);
                    throw e;
                }
                return created;
            });
            return new TunFd(fd, name);
        } catch (Exception e) {
            throw new IOException("cannot create TUN " + name + " in " + ns.name() + ": " + e, e);
        }
    }

    /**
     * Returns the interface name.
     *
     * @return the name given to {@link #create}
     */
    public String name() {
        return name;
    }

    /**
     * Writes one frame or packet from a direct buffer.
     *
     * @param buf a direct buffer
     * @param offset absolute index of the first byte
     * @param length bytes to write
     * @throws IOException if the write fails or is short
     */
    public void write(final ByteBuffer buf, final int offset, final int length) throws IOException {
        final long n = C.write(fd, Native.getDirectBufferPointer(buf).share(offset), length);
        if (n < 0) {
            throw new IOException("TUN write on " + name + " failed: errno " + Native.getLastError());
        }
        if (n != length) {
            throw new IOException("short TUN write on " + name + ": " + n + " of " + length);
        }
    }

    /**
     * Waits up to {@code timeoutMillis} for a packet and reads it into {@code buf} at {@code offset}.
     *
     * @param buf a direct buffer
     * @param offset absolute index to read to
     * @param max room in bytes
     * @param timeoutMillis how long to wait
     * @return bytes read, or 0 if nothing arrived in time
     * @throws IOException if poll or read fails (other than {@code EAGAIN})
     */
    public int read(final ByteBuffer buf, final int offset, final int max, final int timeoutMillis)
        throws IOException {
        pollfd.setInt(0, fd);
        pollfd.setShort(4, TestLibc.POLLIN);
        pollfd.setShort(6, (short) 0);
        final int ready = C.poll(pollfd, 1, timeoutMillis);
        if (ready < 0) {
            throw new IOException("poll on TUN " + name + " failed: errno " + Native.getLastError());
        }
        if (ready == 0) {
            return 0;
        }
        final long n = C.read(fd, Native.getDirectBufferPointer(buf).share(offset), max);
        if (n < 0) {
            final int errno = Native.getLastError();
            if (errno == TestLibc.EAGAIN) {
                return 0;
            }
            throw new IOException("TUN read on " + name + " failed: errno " + errno);
        }
        return (int) n;
    }

    /** Closes the descriptor (the device goes with it). Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            C.close(fd);
        }
    }
}
