package io.overlay.examples;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The launcher's claim on its {@code subnet.env}: an exclusive lock ({@code fcntl}, released by the kernel when the
 * process ends, however it ends) on {@code <subnet-file>.lock}, which holds the holder's pid and has mode 0600 (fcntl
 * grants a shared lock to any process that can open the file for reading, which would keep every agent from
 * starting). Taken before anything else happens, so that a second agent started on a host where one already runs with
 * the same {@code --subnet-file} (by hand next to the service, say) stops before it touches etcd, the TUN, the host
 * rules or the file: otherwise it would find the running agent's lease through {@code subnet.env}, move it to an etcd
 * lease of its own and revoke the running agent's one, and on failing remove the host rules the running agent relies
 * on. Held until the agent has closed everything, so the next agent starts only after that. The file stays after exit
 * (removing it would let a waiting agent lock a file no one else sees).
 */
final class InstanceLock implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(InstanceLock.class);
    /** How long a new agent waits for one that is still closing (a restart right after a stop). */
    static final Duration WAIT = Duration.ofSeconds(10);
    /** The lock file's mode: no other user may open it, hence none may lock it. */
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    /**
     * Channels of a second acquisition in this JVM, by lock file, kept open and reachable until the holder closes:
     * closing one (or letting the garbage collector's cleaner close it) would drop the holder's fcntl lock, which is
     * the process's. Guarded by itself.
     */
    private static final Map<Path, List<FileChannel>> REFUSED = new HashMap<>();

    private final Path file;

    private final FileChannel channel;
    private final FileLock lock;

    private InstanceLock(final Path file, final FileChannel channel, final FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    /** The lock file of {@code subnetFile}: {@code <subnet-file>.lock} in the same directory. */
    static Path lockFile(final Path subnetFile) {
        final Path abs = subnetFile.toAbsolutePath();
        return abs.resolveSibling(abs.getFileName() + ".lock");
    }

    /**
     * Takes the lock of {@code subnetFile}, waiting up to {@code wait} for an agent that still holds it (one that is
     * closing); creates the directory (0755) when missing, as {@code subnet.env}'s writer does.
     *
     * @param subnetFile the agent's {@code --subnet-file}
     * @param wait the longest wait for another holder
     * @return the lock, held until {@link #close()} or the end of the process
     * @throws IOException naming the lock file and the holder's pid when another agent holds it, or naming the file
     *     when it cannot be created or locked
     * @throws InterruptedException if interrupted while waiting
     */
    static InstanceLock acquire(final Path subnetFile, final Duration wait) throws IOException, InterruptedException {
        final Path file = lockFile(subnetFile);
        final FileChannel ch;
        try {
            if (!Files.isDirectory(file.getParent())) {
                Files.createDirectories(file.getParent(), PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwxr-xr-x")));
            }
            // 0600: fcntl grants a shared lock to anyone who can open the file for reading, and a shared lock held
            // by any local user would keep every agent from starting. A file left readable by an earlier version is
            // tightened (this agent runs as its owner).
            ch = FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        } catch (IOException e) {
            throw new IOException("cannot create the lock file " + file + " of --subnet-file " + subnetFile + ": "
                + e.getMessage(), e);
        }
        try {
            if (!Files.getPosixFilePermissions(file).equals(OWNER_ONLY)) {
                Files.setPosixFilePermissions(file, OWNER_ONLY);
            }
        } catch (IOException e) {
            LOG.warn("Cannot make {} readable by its owner only: {}", file, e.getMessage());
        }
        boolean keepOpen = false;
        try {
            final long deadline = System.nanoTime() + wait.toNanos();
            boolean logged = false;
            while (true) {
                final FileLock l;
                synchronized (REFUSED) { // not while a holder in this JVM closes
                    try {
                        l = ch.tryLock();
                    } catch (OverlappingFileLockException e) {
                        // fcntl locks are per process, and closing any descriptor of the file drops them all: leave
                        // this channel open, and reachable (the cleaner of an unreachable channel closes it), rather
                        // than release the holder's lock (only a second acquisition in one JVM); the holder closes it
                        keepOpen = true;
                        REFUSED.computeIfAbsent(file, f -> new ArrayList<>()).add(ch);
                        throw new IOException("this process already holds " + file + " (--subnet-file " + subnetFile
                            + ")", e);
                    }
                }
                if (l != null) {
                    writePid(ch, file);
                    return new InstanceLock(file, ch, l);
                }
                if (System.nanoTime() > deadline) {
                    throw new IOException("another overlay agent (pid " + holder(ch) + ") is already running with "
                        + "--subnet-file " + subnetFile + " (it holds " + file + "); stop it first, or give this one "
                        + "its own --subnet-file, network namespace and UDP port");
                }
                if (!logged) {
                    LOG.info("Waiting up to {} s for the overlay agent holding {} (pid {}) to exit", wait.toSeconds(),
                        file, holder(ch));
                    logged = true;
                }
                Thread.sleep(100);
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            if (!keepOpen) {
                ch.close();
            }
            throw e;
        }
    }

    /**
     * Writes this process's pid for the next agent's message; a full file system only costs that message (the lock
     * holds anyway, and the agent reports the file system when it writes {@code subnet.env}).
     */
    private static void writePid(final FileChannel ch, final Path file) {
        final byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        try {
            ch.truncate(0);
            ch.write(ByteBuffer.wrap(pid), 0);
        } catch (IOException e) {
            LOG.warn("Cannot write this agent's pid to {}: {}", file, e.getMessage());
        }
    }

    /** The pid the holder wrote, or "unknown". */
    private static String holder(final FileChannel ch) {
        try {
            final ByteBuffer b = ByteBuffer.allocate(32);
            final int n = ch.read(b, 0);
            final String pid = n <= 0 ? "" : new String(b.array(), 0, n, StandardCharsets.US_ASCII).strip();
            return pid.matches("\\d+") ? pid : "unknown";
        } catch (IOException e) {
            return "unknown";
        }
    }

    @Override
    public void close() {
        synchronized (REFUSED) {
            try {
                lock.release();
                channel.close();
            } catch (IOException e) {
                LOG.debug("Releasing the instance lock: {}", e.toString());
            }
            // the lock is gone: the channels of refused acquisitions can go too
            for (FileChannel refused : REFUSED.getOrDefault(file, List.of())) {
                try {
                    refused.close();
                } catch (IOException e) {
                    LOG.debug("Closing a refused acquisition's channel: {}", e.toString());
                }
            }
            REFUSED.remove(file);
        }
    }
}
