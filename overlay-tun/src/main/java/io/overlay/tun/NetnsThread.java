package io.overlay.tun;

import com.sun.jna.LastErrorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs code inside another network namespace from the same JVM. Linux keeps the network namespace per thread, so a
 * fresh thread first calls {@code setns(open("/run/netns/<name>"), CLONE_NEWNET)} and then runs the task: TUN
 * devices, netlink sockets and any other sockets it creates live in that namespace for their whole life, whichever
 * thread uses them later. The calling thread's namespace never changes.
 *
 * <pre>{@code
 * TunDevice tun = NetnsThread.call("ovt1234-1", () -> new LinuxTunDeviceFactory().open("flannel%d", 1));
 * tun.configure(setup);   // LinuxTunDevice configures in its own namespace from any thread
 * }</pre>
 *
 * <p>Needs CAP_SYS_ADMIN (root). Namespaces named {@code <name>} are the ones {@code ip netns add <name>} made
 * under {@code /run/netns}; an absolute path (e.g. {@code /proc/<pid>/ns/net}) is accepted as well.
 */
public final class NetnsThread {
    private static final AtomicInteger THREADS = new AtomicInteger();

    private NetnsThread() {
    }

    /**
     * Runs a task on a fresh thread inside the named network namespace and waits for it.
     *
     * @param namespace a name under {@code /run/netns} (as {@code ip netns} uses) or an absolute path to a
     *     network namespace file
     * @param task the task; its sockets and devices are created in the namespace
     * @param <T> the result type
     * @return the task's result
     * @throws IOException if the namespace cannot be opened or entered (the message names it and the errno)
     * @throws Exception whatever the task throws, unchanged
     */
    public static <T> T call(final String namespace, final Callable<T> task) throws Exception {
        final int fd = openNamespace(namespace);
        try {
            return call(fd, namespace, task);
        } finally {
            LibC.closeQuietly(fd);
        }
    }

    /**
     * Returns a thread factory whose threads enter the named network namespace before running their work, e.g. for a
     * Netty {@code MultiThreadIoEventLoopGroup} whose sockets must live in a test namespace. The namespace is opened
     * for each new thread; a thread that cannot enter it ends at once with an {@link IllegalStateException} passed to
     * its uncaught-exception handler, without running its work.
     *
     * @param namespace a name under {@code /run/netns} or an absolute path
     * @return the factory; threads are daemon threads named {@code netns-<namespace>-<n>}
     */
    public static ThreadFactory threadFactory(final String namespace) {
        return work -> {
            final Thread t = new Thread(() -> {
                try {
                    enterNamed(namespace);
                } catch (IOException e) {
                    throw new IllegalStateException(e.getMessage(), e);
                }
                work.run();
            }, "netns-" + namespace + "-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /**
     * Runs a task on a fresh thread inside the namespace of an open namespace descriptor and waits for it.
     *
     * @param namespaceFd an open descriptor of a network namespace file
     * @param label the namespace's name for error messages
     * @param task the task
     * @param <T> the result type
     * @return the task's result
     * @throws IOException if entering the namespace fails
     * @throws Exception whatever the task throws
     */
    static <T> T call(final int namespaceFd, final String label, final Callable<T> task) throws Exception {
        final FutureTask<T> future = new FutureTask<>(() -> {
            enter(namespaceFd, label);
            return task.call();
        });
        final Thread t = new Thread(future, "netns-" + label + "-" + THREADS.incrementAndGet());
        t.setDaemon(true);
        t.start();
        try {
            return future.get();
        } catch (ExecutionException e) {
            final Throwable cause = e.getCause();
            if (cause instanceof Exception) {
                throw (Exception) cause;
            }
            if (cause instanceof Error) {
                throw (Error) cause;
            }
            throw e;
        }
    }

    /**
     * Opens a network namespace file read-only, close-on-exec.
     *
     * @param namespace a name under {@code /run/netns} or an absolute path
     * @return the descriptor; the caller closes it
     * @throws IOException if the name is invalid or the file cannot be opened
     */
    static int openNamespace(final String namespace) throws IOException {
        if (namespace == null || namespace.isEmpty()
            || (!namespace.startsWith("/") && (namespace.contains("/") || namespace.startsWith(".")))) {
            throw new IOException("invalid network namespace name \"" + namespace
                + "\": expected a name under /run/netns (as 'ip netns add' makes) or an absolute path");
        }
        final String path = namespace.startsWith("/") ? namespace : "/run/netns/" + namespace;
        try {
            return LibC.open(path, LibC.O_RDONLY | LibC.O_CLOEXEC);
        } catch (LastErrorException e) {
            throw new IOException("cannot open network namespace " + path + ": " + LibC.describe(e.getErrorCode())
                + (e.getErrorCode() == LibC.ENOENT ? " (create it with 'ip netns add " + namespace + "')" : ""), e);
        }
    }

    /**
     * Returns an identifier of the calling thread's network namespace, e.g. {@code net:[4026531840]}.
     *
     * @return the identifier (the target of {@code /proc/thread-self/ns/net})
     * @throws IOException if {@code /proc} cannot be read
     */
    static String currentNamespaceId() throws IOException {
        return Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString();
    }

    private static void enterNamed(final String namespace) throws IOException {
        final int fd = openNamespace(namespace);
        try {
            enter(fd, namespace);
        } finally {
            LibC.closeQuietly(fd);
        }
    }

    private static void enter(final int fd, final String label) throws IOException {
        try {
            LibC.setns(fd, LibC.CLONE_NEWNET);
        } catch (LastErrorException e) {
            throw new IOException("cannot enter network namespace " + label + " (setns: "
                + LibC.describe(e.getErrorCode()) + ")"
                + (e.getErrorCode() == LibC.EPERM ? ": needs root (CAP_SYS_ADMIN)" : ""), e);
        }
    }
}
