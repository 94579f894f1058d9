package io.overlay.udp.offload;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import io.overlay.core.testing.Netns;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Test-only raw TUN file descriptor created inside a test namespace, through JNA direct calls: a {@link NetnsThread}
 * inside the namespace creates the device there, so the root namespace is never touched. ioctl numbers from
 * {@code include/uapi/linux/if_tun.h}.
 */
final class TunFd implements AutoCloseable {
    static final int TUN_F_CSUM = 0x01;
    static final int TUN_F_TSO4 = 0x02;
    static final int TUN_F_TSO_ECN = 0x08;
    static final int TUN_F_USO4 = 0x20;
    /** The kernel accepts USO only as USO4|USO6 together (tun.c set_offload, EINVAL otherwise). */
    static final int TUN_F_USO6 = 0x40;

    private static final int O_RDWR = 2;
    private static final int O_NONBLOCK = 0x800;
    private static final int O_CLOEXEC = 0x80000;
    private static final long TUNSETIFF = 0x400454caL;
    private static final long TUNSETOFFLOAD = 0x400454d0L;
    private static final long TUNSETVNETHDRSZ = 0x400454d8L;
    private static final short IFF_TUN = 0x0001;
    private static final short IFF_NO_PI = 0x1000;
    private static final short IFF_VNET_HDR = 0x4000;
    private static final short POLLIN = 0x1;

    static {
        Native.register(Platform.C_LIBRARY_NAME);
    }

    private static native int open(String path, int flags) throws LastErrorException;

    private static native int close(int fd) throws LastErrorException;

    private static native int ioctl(int fd, NativeLong request, Pointer arg) throws LastErrorException;

    private static native NativeLong read(int fd, Pointer buf, NativeLong count) throws LastErrorException;

    private static native NativeLong write(int fd, Pointer buf, NativeLong count) throws LastErrorException;

    private static native int poll(Pointer fds, NativeLong nfds, int timeout) throws LastErrorException;

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
     */
    static TunFd create(final Netns ns, final String name, final int vnetOffloads) throws IOException {
        try {
            final int fd = NetnsThread.call(ns.name(), () -> {
                final int created = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
                try {
                    final Memory ifr = new Memory(40);
                    ifr.clear();
                    final byte[] n = name.getBytes(StandardCharsets.US_ASCII);
                    ifr.write(0, n, 0, n.length);
                    ifr.setShort(16, (short) (IFF_TUN | IFF_NO_PI | (vnetOffloads >= 0 ? IFF_VNET_HDR : 0)));
                    ioctl(created, new NativeLong(TUNSETIFF), ifr);
                    if (vnetOffloads >= 0) {
                        final Memory sz = new Memory(4);
                        sz.setInt(0, VirtioNetHdr.LENGTH);
                        ioctl(created, new NativeLong(TUNSETVNETHDRSZ), sz);
                        ioctl(created, new NativeLong(TUNSETOFFLOAD), new Pointer(vnetOffloads));
                    }
                } catch (LastErrorException e) {
                    close(created);
                    throw e;
                }
                return created;
            });
            return new TunFd(fd, name);
        } catch (Exception e) {
            throw new IOException("cannot create TUN " + name + " in " + ns.name() + ": " + e, e);
        }
    }

    String name() {
        return name;
    }

    /** Writes one frame/packet from a direct buffer. */
    void write(final ByteBuffer buf, final int offset, final int length) throws IOException {
        try {
            final long n = write(fd, Native.getDirectBufferPointer(buf).share(offset), new NativeLong(length))
                .longValue();
            if (n != length) {
                throw new IOException("short TUN write on " + name + ": " + n + " of " + length);
            }
        } catch (LastErrorException e) {
            throw new IOException("TUN write on " + name + " failed: errno " + e.getErrorCode(), e);
        }
    }

    /**
     * Waits up to {@code timeoutMillis} for a packet and reads it into {@code buf} at {@code offset}.
     *
     * @return bytes read, or 0 if nothing arrived in time
     */
    int read(final ByteBuffer buf, final int offset, final int max, final int timeoutMillis) throws IOException {
        pollfd.setInt(0, fd);
        pollfd.setShort(4, POLLIN);
        pollfd.setShort(6, (short) 0);
        try {
            if (poll(pollfd, new NativeLong(1), timeoutMillis) <= 0) {
                return 0;
            }
            return (int) read(fd, Native.getDirectBufferPointer(buf).share(offset), new NativeLong(max)).longValue();
        } catch (LastErrorException e) {
            if (e.getErrorCode() == 11) {
                return 0; // EAGAIN
            }
            throw new IOException("TUN read on " + name + " failed: errno " + e.getErrorCode(), e);
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            try {
                close(fd);
            } catch (LastErrorException ignored) {
                // already gone
            }
        }
    }
}
