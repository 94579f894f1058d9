package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.testing.Privileged;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The launcher's instance lock: one holder, a clear refusal, and no other user able to hold it. */
class InstanceLockTest {
    @TempDir
    Path dir;

    @Test
    void theLockFileIsTheOwnersOnlyAndHoldsThePid() throws Exception {
        final Path env = dir.resolve("flannel").resolve("subnet.env");
        try (InstanceLock lock = InstanceLock.acquire(env, Duration.ZERO)) {
            final Path file = InstanceLock.lockFile(env);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
            assertThat(Files.readString(file).strip()).isEqualTo(Long.toString(ProcessHandle.current().pid()));
        }
    }

    @Test
    void aLockFileLeftReadableIsTightened() throws Exception {
        final Path env = dir.resolve("subnet.env");
        final Path file = InstanceLock.lockFile(env);
        Files.writeString(file, "1\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        try (InstanceLock lock = InstanceLock.acquire(env, Duration.ZERO)) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        }
    }

    /**
     * fcntl grants a shared lock to any process that can open the file for reading: with a world-readable lock file
     * any local user could keep the agent from starting. Here user nobody tries, in a directory it can enter.
     */
    @Test
    @Privileged
    void anotherUserCannotHoldTheLock() throws Exception {
        final Path run = dir.resolve("run");
        Files.createDirectory(run);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(run, PosixFilePermissions.fromString("rwxr-xr-x"));
        final Path env = run.resolve("subnet.env");
        InstanceLock.acquire(env, Duration.ZERO).close(); // the file an agent leaves behind
        final Process nobody = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "/usr/bin/python3", "-c", "import fcntl, sys, time\n"
                + "f = open(sys.argv[1])\n"
                + "fcntl.lockf(f, fcntl.LOCK_SH)\n"
                + "print('locked', flush=True)\n"
                + "time.sleep(10)\n", InstanceLock.lockFile(env).toString())
            .redirectErrorStream(true).start();
        try {
            final boolean exited = nobody.waitFor(3, TimeUnit.SECONDS);
            final String out = exited ? new String(nobody.getInputStream().readAllBytes(), StandardCharsets.UTF_8)
                : "(still running)";
            assertThat(exited).as("user nobody could not open the lock file: %s", out).isTrue();
            assertThat(out).contains("PermissionError");
            try (InstanceLock lock = InstanceLock.acquire(env, Duration.ZERO)) {
                assertThat(lock).isNotNull();
            }
        } finally {
            nobody.destroyForcibly();
            nobody.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aSecondHolderIsRefusedNamingThePid() throws Exception {
        final Path env = dir.resolve("subnet.env");
        final ProcessBuilder holder = new ProcessBuilder("/usr/bin/python3", "-c", "import fcntl, os, sys, time\n"
            + "f = open(sys.argv[1], 'r+')\n"
            + "fcntl.lockf(f, fcntl.LOCK_EX)\n"
            + "f.truncate(0); f.write(str(os.getpid()) + '\\n'); f.flush()\n"
            + "print('locked', flush=True)\n"
            + "time.sleep(10)\n", InstanceLock.lockFile(env).toString()).redirectErrorStream(true);
        InstanceLock.acquire(env, Duration.ZERO).close();
        final Process p = holder.start();
        try {
            assertThat(new String(p.getInputStream().readNBytes(7), StandardCharsets.UTF_8)).isEqualTo("locked\n");
            assertThatThrownBy(() -> InstanceLock.acquire(env, Duration.ofMillis(200))).isInstanceOf(IOException.class)
                .hasMessageContaining("pid " + p.pid()).hasMessageContaining("already running");
        } finally {
            p.destroyForcibly();
            p.waitFor(5, TimeUnit.SECONDS);
        }
    }

    /**
     * fcntl locks are the process's: a second acquisition in this JVM is refused, and its channel must stay open, also
     * through a garbage collection (whose cleaner closes an unreachable channel, dropping the holder's lock), until the
     * holder closes.
     */
    @Test
    void aSecondAcquisitionInThisProcessIsRefusedAndTheHolderKeepsItsLockThroughAGc() throws Exception {
        final Path env = dir.resolve("subnet.env");
        try (InstanceLock lock = InstanceLock.acquire(env, Duration.ZERO)) {
            for (int i = 0; i < 3; i++) {
                assertThatThrownBy(() -> InstanceLock.acquire(env, Duration.ZERO)).isInstanceOf(IOException.class)
                    .hasMessageContaining("this process already holds");
            }
            for (int i = 0; i < 5; i++) {
                System.gc();
                Thread.sleep(100);
            }
            assertThat(lockableByAnotherProcess(env)).as("the holder's lock survives the refused channels").isFalse();
        }
        assertThat(lockableByAnotherProcess(env)).as("released by the holder's close").isTrue();
        try (InstanceLock again = InstanceLock.acquire(env, Duration.ZERO)) {
            assertThat(lockableByAnotherProcess(env)).isFalse();
        }
    }

    private static boolean lockableByAnotherProcess(final Path env) throws Exception {
        final Process p = new ProcessBuilder("/usr/bin/python3", "-c", "import fcntl, sys\n"
            + "f = open(sys.argv[1], 'r+')\n"
            + "try:\n"
            + "    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            + "    print('free')\n"
            + "except OSError:\n"
            + "    print('held')\n", InstanceLock.lockFile(env).toString()).redirectErrorStream(true).start();
        try {
            assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertThat(out).isIn("free", "held");
            return out.equals("free");
        } finally {
            p.destroyForcibly();
        }
    }
}
