package io.overlay.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A network namespace made by a test ({@code ip netns add}), removed on {@link #close()} and, as a safety net, by a
 * JVM shutdown hook, so a failing test never leaves one behind. Names are {@code ovt<pid>-<n>}.
 *
 * <p>The network rule for tests: addresses inside a test namespace come only from 198.18.0.0/15 (underlay,
 * RFC 2544's benchmarking range) and 100.64.0.0/10 (overlay, RFC 6598's shared range); outside namespaces tests use
 * loopback only. No test changes the root namespace's interfaces, routes, firewall or sysctls (the one machine-wide
 * effect is dockerd loading the {@code br_netfilter} module in the Docker runtime test).
 */
public final class Netns implements AutoCloseable {
    private static final AtomicInteger COUNTER = new AtomicInteger();
    private static final Set<String> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (String ns : LIVE) {
                try {
                    new ProcessBuilder("ip", "netns", "del", ns).redirectErrorStream(true).start()
                        .waitFor(5, TimeUnit.SECONDS);
                } catch (IOException | InterruptedException ignored) {
                    // best effort at exit
                }
            }
        }, "netns-cleanup"));
    }

    private final String name;
    private final List<Process> processes = new ArrayList<>();

    private Netns(final String name) {
        this.name = name;
    }

    /**
     * Creates a fresh namespace with its loopback up.
     *
     * @return the namespace
     * @throws IOException if {@code ip netns add} fails
     */
    public static Netns create() throws IOException {
        final String name = "ovt" + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
        run("ip", "netns", "add", name);
        LIVE.add(name);
        final Netns ns = new Netns(name);
        ns.exec("ip", "link", "set", "lo", "up");
        return ns;
    }

    /**
     * Returns the namespace's name (as used by {@code ip netns exec}).
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * Runs a command inside the namespace and waits for it (at most 60 s).
     *
     * @param command the command and arguments
     * @return its standard output
     * @throws IOException if it exits non-zero (the message holds its output) or times out
     */
    public String exec(final String... command) throws IOException {
        final List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(List.of(command));
        return run(full.toArray(String[]::new));
    }

    /**
     * Starts a command inside the namespace in the background; it is killed on {@link #close()}.
     *
     * @param command the command and arguments
     * @return the process (output inherited by the test's log unless redirected by the caller)
     * @throws IOException if it cannot be started
     */
    public Process spawn(final ProcessBuilder command) throws IOException {
        final List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(command.command());
        command.command(full);
        final Process p = command.start();
        synchronized (processes) {
            processes.add(p);
        }
        return p;
    }

    /**
     * Runs a task on a fresh thread inside this namespace and waits for it: the thread first enters the namespace
     * ({@code setns(open("/run/netns/<name>"), CLONE_NEWNET)}), so the sockets and devices the task creates live there
     * for their whole life, whichever thread uses them later. The caller's namespace never changes. Test code's own
     * copy of what {@code overlay-tun}'s {@code NetnsThread} does, so test support does not depend on the code it
     * tests.
     *
     * @param task the task
     * @param <T> the result type
     * @return the task's result
     * @throws IOException if the namespace cannot be entered (errno in the message)
     * @throws Exception whatever the task throws, unchanged
     */
    public <T> T call(final Callable<T> task) throws Exception {
        final FutureTask<T> run = new FutureTask<>(() -> {
            final TestLibc c = TestLibc.INSTANCE;
            final int fd = (int) TestLibc.check(c.open("/run/netns/" + name, TestLibc.O_RDONLY | TestLibc.O_CLOEXEC),
                "open /run/netns/" + name);
            try {
                TestLibc.check(c.setns(fd, TestLibc.CLONE_NEWNET), "setns " + name);
            } finally {
                c.close(fd);
            }
            return task.call();
        });
        final Thread thread = new Thread(run, "netns-" + name);
        thread.setDaemon(true);
        thread.start();
        try {
            return run.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw e;
        }
    }

    /**
     * Connects two namespaces with a veth pair and addresses both ends.
     *
     * @param a one namespace
     * @param aIf interface name in a
     * @param aCidr address with prefix in a, e.g. {@code 198.18.0.1/24}
     * @param b the other namespace
     * @param bIf interface name in b
     * @param bCidr address with prefix in b
     * @param mtu the MTU of both ends in bytes
     * @throws IOException if a step fails
     */
    public static void link(final Netns a, final String aIf, final String aCidr, final Netns b, final String bIf,
                            final String bCidr, final int mtu) throws IOException {
        final String tmp = "ovv" + COUNTER.incrementAndGet();
        run("ip", "link", "add", tmp + "a", "type", "veth", "peer", "name", tmp + "b");
        run("ip", "link", "set", tmp + "a", "netns", a.name, "name", aIf);
        run("ip", "link", "set", tmp + "b", "netns", b.name, "name", bIf);
        for (Object[] end : new Object[][] {{a, aIf, aCidr}, {b, bIf, bCidr}}) {
            final Netns ns = (Netns) end[0];
            ns.exec("ip", "link", "set", (String) end[1], "mtu", Integer.toString(mtu));
            ns.exec("ip", "addr", "add", (String) end[2], "dev", (String) end[1]);
            ns.exec("ip", "link", "set", (String) end[1], "up");
        }
    }

    /**
     * Runs a command in the root namespace and waits for it (at most 60 s).
     *
     * @param command the command and arguments
     * @return its standard output and error
     * @throws IOException if it exits non-zero or times out
     */
    public static String run(final String... command) throws IOException {
        final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", command));
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", command), e);
        }
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException("exit " + p.exitValue() + ": " + String.join(" ", command) + "\n" + out);
        }
        return out;
    }

    /**
     * Kills every process still in the namespace ({@code ip netns pids}) that was not started by {@link #spawn}:
     * daemons that detach (an {@code lxc-start -d} monitor, dockerd and its shims) would otherwise keep the namespace
     * alive after {@code ip netns del}. Best effort.
     */
    private void killRemaining() {
        final long self = ProcessHandle.current().pid();
        try {
            final Process p = new ProcessBuilder("ip", "netns", "pids", name).redirectErrorStream(true).start();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(5, TimeUnit.SECONDS);
            for (String line : out.split("\\s+")) {
                if (line.matches("\\d+") && Long.parseLong(line) != self) {
                    ProcessHandle.of(Long.parseLong(line)).ifPresent(h -> {
                        h.destroyForcibly();
                        h.onExit().completeOnTimeout(h, 5, TimeUnit.SECONDS).join();
                    });
                }
            }
        } catch (IOException e) {
            // best effort: the namespace is deleted anyway
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Kills the background processes, then any other process left in the namespace, and deletes the namespace.
     * Idempotent. Also on an interrupted thread (a test cut short by JUnit's {@code @Timeout}): the interrupt is set
     * aside for the clean-up, whose waits would otherwise all fail at once and leave the namespace behind, and set
     * again before returning.
     */
    @Override
    public void close() {
        final boolean interrupted = Thread.interrupted();
        try {
            closeNamespace();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void closeNamespace() {
        synchronized (processes) {
            for (Process p : processes) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
            for (Process p : processes) {
                try {
                    p.waitFor(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            processes.clear();
        }
        if (LIVE.remove(name)) {
            killRemaining();
            try {
                run("ip", "netns", "del", name);
            } catch (IOException e) {
                LIVE.add(name); // the shutdown hook tries again
                throw new IllegalStateException("could not delete netns " + name, e);
            }
        }
    }
}
