package io.overlay.examples;

import com.sun.jna.LastErrorException;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Platform;
import io.overlay.core.OverlayListener;
import io.overlay.core.OverlayStatus;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells systemd about the launcher's state with the {@code sd_notify} protocol: one {@code AF_UNIX}
 * {@code SOCK_DGRAM} datagram of newline-separated {@code KEY=VALUE} lines per message, sent to the socket named by
 * {@code $NOTIFY_SOCKET} (a path, or an abstract name written {@code @name}); see systemd's {@code sd_notify(3)} and
 * {@code systemd.service(5)} ({@code Type=notify}, {@code WatchdogSec=}).
 *
 * <p>Messages: {@code READY=1} with {@code STATUS=<health line>} at each {@link #ready} (the overlay calls it once
 * {@code subnet.env} is written and the engine forwards), {@code STATUS=not-ready <reason>} at each {@link #notReady},
 * {@code STATUS=} with the current health line whenever it changes (checked every second, so start-up steps such as
 * "waiting for the network config" show in {@code systemctl status}), {@code STOPPING=1} at {@link #stopping()}, and
 * {@code WATCHDOG=1} every {@code $WATCHDOG_USEC}/2 when that is set and {@code $WATCHDOG_PID} is unset or this
 * process's id (as {@code sd_watchdog_enabled(3)}). The watchdog proves the JVM is alive and scheduling, not that
 * packets flow.
 *
 * <p>When {@code $NOTIFY_SOCKET} is unset or empty, every method does nothing and JNA is not loaded. A name in another
 * form ({@code vsock:...}) or too long is logged once and then ignored. Send errors are logged once and never stop the
 * overlay: systemd then times the start-up out, which says more than a crash would.
 *
 * <p>All datagrams are sent from one daemon thread, in the order of the calls; listener methods only queue and never
 * block the overlay's event thread.
 */
public final class SystemdNotifier implements OverlayListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SystemdNotifier.class);
    /** {@code sizeof(((struct sockaddr_un *) 0)->sun_path)} on Linux (linux/un.h). */
    static final int SUN_PATH_MAX = 108;
    private static final long STATUS_CHECK_MILLIS = 1000;

    private final byte[] address;
    private final long watchdogMicros;
    private final ScheduledExecutorService thread;
    private int fd = -1;
    private boolean sendFailed;
    private String lastStatus;
    private boolean stopping;

    private SystemdNotifier(final byte[] address, final long watchdogMicros) {
        this.address = address;
        this.watchdogMicros = watchdogMicros;
        this.thread = address == null ? null : Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = new Thread(r, "systemd-notify");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Returns a notifier for the socket named in {@code env}, or one that does nothing.
     *
     * @param env the process environment: {@code NOTIFY_SOCKET}, {@code WATCHDOG_USEC}, {@code WATCHDOG_PID}
     * @param pid this process's id, compared with {@code WATCHDOG_PID}
     * @return the notifier; {@link #enabled()} tells whether it sends anything
     */
    public static SystemdNotifier fromEnvironment(final Map<String, String> env, final long pid) {
        final String name = env.get("NOTIFY_SOCKET");
        if (name == null || name.isEmpty()) {
            return new SystemdNotifier(null, 0);
        }
        try {
            return new SystemdNotifier(socketAddress(name), watchdogMicros(env, pid));
        } catch (IllegalArgumentException e) {
            LOG.warn("NOTIFY_SOCKET ignored: {}", e.getMessage());
            return new SystemdNotifier(null, 0);
        }
    }

    /**
     * Encodes {@code NOTIFY_SOCKET} as a {@code struct sockaddr_un} of exactly the length to pass to {@code sendto}.
     * A path gets its terminating NUL; an abstract name ({@code @name}) becomes a leading NUL and the name's bytes,
     * without a terminator (an abstract name's length is part of the name, unix(7)).
     *
     * @param name {@code /run/systemd/notify} or {@code @name}
     * @return family (native byte order) followed by the path bytes
     * @throws IllegalArgumentException if the name is neither a path nor {@code @name}, or longer than
     *     {@code sun_path}
     */
    static byte[] socketAddress(final String name) {
        final boolean abstractName = name.startsWith("@");
        if (!abstractName && !name.startsWith("/")) {
            throw new IllegalArgumentException("'" + name + "' is neither an absolute path nor an abstract name "
                + "(@name); other forms (vsock:) are not supported");
        }
        final byte[] path = name.getBytes(StandardCharsets.UTF_8);
        final int pathLength = abstractName ? path.length : path.length + 1;
        if (pathLength > SUN_PATH_MAX || path.length < 2) {
            throw new IllegalArgumentException("'" + name + "' does not fit a socket address (1.." + (SUN_PATH_MAX - 1)
                + " bytes)");
        }
        final ByteBuffer b = ByteBuffer.allocate(2 + pathLength).order(ByteOrder.nativeOrder());
        b.putShort((short) LibC.AF_UNIX);
        if (abstractName) {
            b.put((byte) 0).put(path, 1, path.length - 1);
        } else {
            b.put(path).put((byte) 0);
        }
        return b.array();
    }

    /**
     * Returns the watchdog period systemd asks for, as {@code sd_watchdog_enabled(3)} reads it.
     *
     * @param env {@code WATCHDOG_USEC} (a positive number of microseconds) and {@code WATCHDOG_PID} (optional)
     * @param pid this process's id
     * @return the period in microseconds, or 0 when there is no watchdog for this process (unset, not a positive
     *     number, or meant for another process)
     */
    static long watchdogMicros(final Map<String, String> env, final long pid) {
        final String usec = env.get("WATCHDOG_USEC");
        if (usec == null || usec.isEmpty()) {
            return 0;
        }
        final String watchdogPid = env.get("WATCHDOG_PID");
        try {
            if (watchdogPid != null && !watchdogPid.isEmpty() && Long.parseLong(watchdogPid) != pid) {
                return 0;
            }
            final long micros = Long.parseLong(usec);
            return Math.max(micros, 0);
        } catch (NumberFormatException e) {
            LOG.warn("WATCHDOG_USEC/WATCHDOG_PID ignored: not numbers ({}, {})", usec, watchdogPid);
            return 0;
        }
    }

    /**
     * Returns whether messages are sent.
     *
     * @return {@code true} when {@code $NOTIFY_SOCKET} named a usable socket
     */
    public boolean enabled() {
        return thread != null;
    }

    /**
     * Starts the periodic work: {@code STATUS=} when the health line changes, and the watchdog pings if systemd asked
     * for them. Call once, before the overlay starts.
     *
     * @param status the overlay's current status (must not block; {@code Overlay::status} takes no lock)
     */
    public void start(final Supplier<OverlayStatus> status) {
        Objects.requireNonNull(status, "status");
        if (!enabled()) {
            return;
        }
        thread.scheduleWithFixedDelay(() -> status(status.get().healthLine()), 0, STATUS_CHECK_MILLIS,
            TimeUnit.MILLISECONDS);
        if (watchdogMicros > 0) {
            final long every = Math.max(watchdogMicros / 2, 1);
            LOG.info("systemd watchdog: WATCHDOG=1 every {} ms", TimeUnit.MICROSECONDS.toMillis(every));
            thread.scheduleAtFixedRate(() -> send("WATCHDOG=1"), 0, every, TimeUnit.MICROSECONDS);
        }
    }

    @Override
    public void ready(final OverlayStatus status) {
        final String line = status.healthLine();
        queue(() -> {
            lastStatus = line;
            send("READY=1\nSTATUS=" + line);
        });
    }

    @Override
    public void notReady(final String reason) {
        queue(() -> status("not-ready " + reason));
    }

    /** Sends {@code STOPPING=1}, waiting up to 2 s for it and what was queued before it to be sent. */
    public void stopping() {
        if (!enabled()) {
            return;
        }
        try {
            thread.submit(() -> {
                stopping = true; // the health line of a closing overlay is no news
                send("STOPPING=1\nSTATUS=stopping");
            }).get(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | java.util.concurrent.RejectedExecutionException e) {
            LOG.warn("STOPPING=1 not sent to systemd: {}", e.toString());
        }
    }

    /** Stops the periodic work and closes the socket; later calls send nothing. */
    @Override
    public void close() {
        if (!enabled()) {
            return;
        }
        thread.shutdownNow();
        try {
            thread.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (fd >= 0) {
            LibC.close(fd);
            fd = -1;
        }
    }

    private void queue(final Runnable task) {
        if (!enabled()) {
            return;
        }
        try {
            thread.execute(task);
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            // closed: nothing more to tell
        }
    }

    /** Notifier thread: sends {@code STATUS=line} unless it was the last one sent or stopping was sent. */
    private void status(final String line) {
        if (!stopping && !line.equals(lastStatus)) {
            lastStatus = line;
            send("STATUS=" + line);
        }
    }

    /** Notifier thread: one datagram; the socket is opened at the first message. */
    private void send(final String message) {
        final byte[] data = message.getBytes(StandardCharsets.UTF_8);
        try {
            if (fd < 0) {
                fd = LibC.socket(LibC.AF_UNIX, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
            }
            LibC.sendto(fd, data, new NativeLong(data.length), LibC.MSG_NOSIGNAL, address, address.length);
        } catch (LastErrorException e) {
            if (!sendFailed) {
                sendFailed = true;
                LOG.warn("cannot notify systemd ({}): errno {}; further failures not logged",
                    message.lines().findFirst().orElse(""), e.getErrorCode());
            }
        }
    }

    /** The socket calls, bound with JNA direct mapping on first use (never when {@code $NOTIFY_SOCKET} is unset). */
    private static final class LibC {
        static final int AF_UNIX = 1;
        static final int SOCK_DGRAM = 2;
        static final int SOCK_CLOEXEC = 0x80000;
        static final int MSG_NOSIGNAL = 0x4000;

        static {
            Native.register(Platform.C_LIBRARY_NAME);
        }

        private LibC() {
        }

        static native int socket(int domain, int type, int protocol) throws LastErrorException;

        static native NativeLong sendto(int fd, byte[] buf, NativeLong len, int flags, byte[] addr, int addrlen)
            throws LastErrorException;

        static native int close(int fd);
    }
}
