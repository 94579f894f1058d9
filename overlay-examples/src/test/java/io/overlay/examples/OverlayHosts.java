package io.overlay.examples;

import io.overlay.testing.Netns;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.function.IntUnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Overlay hosts for the container runtime tests: etcd in an infra namespace owning the underlay bridge
 * (198.18.0.254), and hosts 198.18.0.1..n, each a namespace running {@link OverlayMain} as its own process (no
 * {@code --bridge}: the runtime under test makes its bridge) with its own {@code subnet.env}. Everything made here,
 * and every namespace given to {@link #track}, is removed by {@link #close()} in reverse order, with the temporary
 * directory. Logs go to {@code target/<name>/}.
 */
final class OverlayHosts implements AutoCloseable {
    static final String ETCD_IP = "198.18.0.254";
    static final String ETCD = "http://" + ETCD_IP + ":2379";
    static final String CONFIG = "{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}";
    static final int HEALTH_PORT = 8471;
    /** One sample line of a Prometheus text page: series (name with labels), value. */
    private static final Pattern SAMPLE = Pattern.compile("(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\\{[^}]*})?) (\\S+)$");

    /** One overlay host. */
    record Host(int n, Netns ns, Path dir, Path subnetEnv, Process process) {
        HostSubnet subnet() throws IOException {
            return HostSubnet.read(subnetEnv);
        }
    }

    private final List<Netns> namespaces = new ArrayList<>();
    private final List<AutoCloseable> closers = new ArrayList<>();
    private final List<Host> hosts = new ArrayList<>();
    private final Map<Integer, List<String>> commands = new HashMap<>();
    private final Path dir;
    private final Path logs;
    private Netns infra;
    private IntUnaryOperator underlayMtu = h -> 1500;
    /** Flags appended to etcd's command line ({@link #infra(String, List)}). */
    private List<String> etcdFlags = List.of();

    private OverlayHosts(final Path dir, final Path logs) {
        this.dir = dir;
        this.logs = logs;
    }

    /**
     * Starts etcd and the hosts and waits (bounded) until each has written subnet.env and answers /readyz.
     *
     * @param name the log directory under target/
     * @param count the number of hosts
     * @return the running hosts; closed on failure
     * @throws Exception if a step fails or a wait runs out
     */
    static OverlayHosts start(final String name, final int count) throws Exception {
        return start(name, count, h -> List.of());
    }

    /**
     * Starts etcd and the hosts, each with more {@link OverlayMain} options, and waits as {@link #start(String, int)}.
     *
     * @param name the log directory under target/
     * @param count the number of hosts
     * @param extraArgs the further options of host n (1-based), e.g. {@code --log-format=json}
     * @return the running hosts; closed on failure
     * @throws Exception if a step fails or a wait runs out
     */
    static OverlayHosts start(final String name, final int count, final IntFunction<List<String>> extraArgs)
        throws Exception {
        return start(name, count, extraArgs, (n, ns, subnetEnv) -> { });
    }

    /** What a test sets up in a host's namespace before its {@link OverlayMain} starts. */
    @FunctionalInterface
    interface Preparation {
        /**
         * Prepares host {@code n}.
         *
         * @param n the host's number, 1-based
         * @param ns its namespace (underlay eth0 configured)
         * @param subnetEnv the path its {@code --subnet-file} will name (absent so far)
         * @throws Exception if a step fails
         */
        void prepare(int n, Netns ns, Path subnetEnv) throws Exception;
    }

    /**
     * Starts etcd and the hosts as {@link #start(String, int, IntFunction)} does, preparing each host's namespace
     * first.
     *
     * @param name the log directory under target/
     * @param count the number of hosts
     * @param extraArgs the further options of host n (1-based)
     * @param preparation what to set up in each host before its launcher starts
     * @return the running hosts; closed on failure
     * @throws Exception if a step fails or a wait runs out
     */
    static OverlayHosts start(final String name, final int count, final IntFunction<List<String>> extraArgs,
                              final Preparation preparation) throws Exception {
        return start(name, count, extraArgs, h -> 1500, preparation);
    }

    /**
     * Starts etcd and the hosts as {@link #start(String, int, IntFunction, Preparation)} does, host n's underlay link
     * (its {@code eth0} and that veth's end on the bridge) with MTU {@code underlayMtu(n)} instead of 1500, so that
     * the launcher derives its overlay MTU from it as flannel does.
     *
     * @param name the log directory under target/
     * @param count the number of hosts
     * @param extraArgs the further options of host n (1-based)
     * @param underlayMtu the underlay MTU of host n (1-based), in bytes
     * @param preparation what to set up in each host before its launcher starts
     * @return the running hosts; closed on failure
     * @throws Exception if a step fails or a wait runs out
     */
    static OverlayHosts start(final String name, final int count, final IntFunction<List<String>> extraArgs,
                              final IntUnaryOperator underlayMtu, final Preparation preparation) throws Exception {
        final Path logs = Path.of("target", name).toAbsolutePath();
        Files.createDirectories(logs);
        final OverlayHosts o = new OverlayHosts(Files.createTempDirectory("overlay-" + name + "-"), logs);
        o.underlayMtu = underlayMtu;
        try {
            o.startAll(count, extraArgs, preparation);
            return o;
        } catch (Exception | Error e) {
            o.close();
            throw e;
        }
    }

    /**
     * Starts only etcd in the infra namespace, with the network config {@link #CONFIG}; hosts are added with
     * {@link #spawnHost}, which does not wait.
     *
     * @param name the log directory under target/
     * @return etcd running; closed on failure
     * @throws Exception if a step fails or a wait runs out
     */
    static OverlayHosts infra(final String name) throws Exception {
        return infra(name, List.of());
    }

    /**
     * Starts only etcd as {@link #infra(String)} does, with more flags on etcd's command line.
     *
     * @param name the log directory under target/
     * @param etcdFlags flags appended to etcd's command line, each word one element, e.g.
     *     {@code --grpc-keepalive-min-time 60s}
     * @return etcd running; closed on failure
     * @throws Exception if a step fails or a wait runs out
     */
    static OverlayHosts infra(final String name, final List<String> etcdFlags) throws Exception {
        final Path logs = Path.of("target", name).toAbsolutePath();
        Files.createDirectories(logs);
        final OverlayHosts o = new OverlayHosts(Files.createTempDirectory("overlay-" + name + "-"), logs);
        o.etcdFlags = List.copyOf(etcdFlags);
        try {
            o.startInfra();
            return o;
        } catch (Exception | Error e) {
            o.close();
            throw e;
        }
    }

    private void startAll(final int count, final IntFunction<List<String>> extraArgs, final Preparation preparation)
        throws Exception {
        startInfra();
        for (int h = 1; h <= count; h++) {
            spawnHost(h, extraArgs.apply(h), preparation);
        }
        for (Host h : hosts) {
            await("subnet.env of h" + h.n(), Duration.ofSeconds(60),
                () -> Files.exists(h.subnetEnv()) && Files.size(h.subnetEnv()) > 0 || !h.process().isAlive());
            if (!h.process().isAlive()) {
                throw new IOException("OverlayMain of h" + h.n() + " exited; see " + logs.resolve("h" + h.n()
                    + ".log"));
            }
            await("/readyz of h" + h.n(), Duration.ofSeconds(60), () -> readyz(h) == 200);
        }
    }

    private void startInfra() throws Exception {
        infra = track(Netns.create());
        infra.exec("ip", "link", "add", "ul0", "type", "bridge");
        infra.exec("ip", "addr", "add", ETCD_IP + "/24", "dev", "ul0");
        infra.exec("ip", "link", "set", "ul0", "up");
        final List<String> etcd = new ArrayList<>(List.of("/usr/bin/etcd", "--name", "rt",
            "--data-dir", dir.resolve("etcd").toString(), "--listen-client-urls", ETCD, "--advertise-client-urls", ETCD,
            "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "rt=http://127.0.0.1:2380"));
        etcd.addAll(etcdFlags);
        infra.spawn(new ProcessBuilder(etcd).redirectErrorStream(true)
            .redirectOutput(logs.resolve("etcd.log").toFile()));
        await("etcd health", Duration.ofSeconds(30), () -> {
            try {
                etcdctl("endpoint", "health");
                return true;
            } catch (IOException e) {
                return false;
            }
        });
        etcdctl("put", "/coreos.com/network/config", CONFIG);
    }

    /**
     * Starts host {@code h} (198.18.0.h on the underlay bridge) running {@link OverlayMain}; does not wait for it.
     *
     * @param h the host number, 1..253
     * @param extraArgs further {@link OverlayMain} options
     * @return the host
     * @throws Exception if the namespace or the process cannot be made
     */
    Host spawnHost(final int h, final List<String> extraArgs) throws Exception {
        return spawnHost(h, extraArgs, (n, ns, subnetEnv) -> { });
    }

    /**
     * Makes host {@code h}'s namespace (tracked, removed on close) with {@code eth0} on the underlay bridge at
     * 198.18.0.{@code h}/24 and MTU {@code mtu}; nothing runs in it yet.
     */
    Netns underlayHost(final int h, final int mtu) throws IOException {
        final Netns ns = track(Netns.create());
        Netns.run("ip", "-n", infra.name(), "link", "add", "ul-h" + h, "type", "veth", "peer", "name", "eth0",
            "netns", ns.name());
        infra.exec("ip", "link", "set", "ul-h" + h, "mtu", Integer.toString(mtu), "master", "ul0", "up");
        ns.exec("ip", "addr", "add", "198.18.0." + h + "/24", "dev", "eth0");
        ns.exec("ip", "link", "set", "eth0", "mtu", Integer.toString(mtu), "up");
        return ns;
    }

    private Host spawnHost(final int h, final List<String> extraArgs, final Preparation preparation) throws Exception {
        final Netns ns = underlayHost(h, underlayMtu.applyAsInt(h));
        ns.exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
        final Path hostDir = Files.createDirectories(dir.resolve("h" + h));
        final Path subnetEnv = hostDir.resolve("subnet.env");
        preparation.prepare(h, ns, subnetEnv);
        final List<String> args = new ArrayList<>(List.of("--etcd-endpoints", ETCD, "--iface", "eth0",
            "--subnet-file", subnetEnv.toString(), "--healthz-ip", "127.0.0.1",
            "--healthz-port", Integer.toString(HEALTH_PORT)));
        args.addAll(extraArgs);
        final List<String> command = java(OverlayMain.class.getName(), args.toArray(String[]::new));
        final Process p = ns.spawn(new ProcessBuilder(command)
            .redirectErrorStream(true).redirectOutput(logs.resolve("h" + h + ".log").toFile()));
        final Host host = new Host(h, ns, hostDir, subnetEnv, p);
        hosts.add(host);
        commands.put(h, command);
        return host;
    }

    /**
     * Kills host {@code n}'s OverlayMain (SIGKILL: its lease stays in etcd) and starts it again with the same options,
     * its log appended to {@code h<n>.log}. Does not wait for it to become ready.
     *
     * @param n the host number
     * @return the restarted host
     */
    Host restart(final int n) throws Exception {
        final Host old = host(n);
        old.process().destroyForcibly();
        if (!old.process().waitFor(10, TimeUnit.SECONDS)) {
            throw new IOException("OverlayMain of h" + n + " did not die within 10 s");
        }
        return startAgain(old, commands.get(n));
    }

    /** Host {@code n}, started by this set. */
    private Host host(final int n) {
        return hosts.stream().filter(h -> h.n() == n).findFirst()
            .orElseThrow(() -> new IllegalArgumentException("no host h" + n));
    }

    /** Starts {@code old}'s host again with {@code command}, its log appended to {@code h<n>.log}, in its place. */
    private Host startAgain(final Host old, final List<String> command) throws IOException {
        final int n = old.n();
        final Process p = old.ns().spawn(new ProcessBuilder(command).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(logs.resolve("h" + n + ".log").toFile())));
        final Host h = new Host(n, old.ns(), old.dir(), old.subnetEnv(), p);
        hosts.set(hosts.indexOf(old), h);
        commands.put(n, command);
        return h;
    }

    /**
     * Stops host {@code n}'s OverlayMain with SIGTERM and waits for its exit (a clean stop: its host rules removed, its
     * lease kept), then starts it again with its options plus {@code extraArgs}, its log appended to
     * {@code h<n>.log}. Does not wait for it to become ready. {@code extraArgs} must not repeat an option the host
     * already has: the launcher refuses a repeated option ("should be specified only once", exit 2).
     *
     * @param n the host number
     * @param extraArgs options the host's command line does not have yet, e.g. {@code --iptables-forward-rules=false}
     * @return the restarted host
     * @throws Exception if the old process does not exit within 30 s or the new one cannot be started
     */
    Host restartWith(final int n, final String... extraArgs) throws Exception {
        final Host old = host(n);
        old.process().destroy();
        if (!old.process().waitFor(30, TimeUnit.SECONDS)) {
            throw new IOException("OverlayMain of h" + n + " did not exit within 30 s of SIGTERM");
        }
        final List<String> command = new ArrayList<>(commands.get(n));
        command.addAll(List.of(extraArgs));
        return startAgain(old, command);
    }

    /**
     * Sends host {@code n}'s OverlayMain SIGTERM and, without waiting for it to exit, starts it again with the same
     * options, as an operator's {@code kill; overlay ...} does; the new one logs to {@code h<n>-again.log} (the old
     * one still writes {@code h<n>.log}). Does not wait for either.
     *
     * @param n the host number
     * @return the new host (the old one's process may still be closing)
     */
    Host stopAndStartAtOnce(final int n) throws Exception {
        final Host old = host(n);
        old.process().destroy();
        final Process p = old.ns().spawn(new ProcessBuilder(commands.get(n)).redirectErrorStream(true)
            .redirectOutput(logs.resolve("h" + n + "-again.log").toFile()));
        final Host h = new Host(n, old.ns(), old.dir(), old.subnetEnv(), p);
        hosts.set(hosts.indexOf(old), h);
        return h;
    }

    /** The infra namespace, which runs etcd. */
    Netns infra() {
        return infra;
    }

    /**
     * Runs etcdctl in the infra namespace with {@code input} on its standard input (e.g. {@code txn} operations).
     *
     * @param input the text to feed it
     * @param args etcdctl's arguments
     * @return its output
     * @throws IOException if it fails
     */
    String etcdctlWithInput(final String input, final String... args) throws IOException {
        final Path file = Files.createTempFile(dir, "etcdctl-", ".txt");
        Files.writeString(file, input);
        final StringBuilder cmd = new StringBuilder("ETCDCTL_API=3 /usr/bin/etcdctl --endpoints " + ETCD
            + " --dial-timeout 2s --command-timeout 30s");
        for (String a : args) {
            cmd.append(' ').append(a);
        }
        return infra.exec("sh", "-c", cmd + " < " + file);
    }

    String etcdctl(final String... args) throws IOException {
        final List<String> cmd = new ArrayList<>(List.of("env", "ETCDCTL_API=3", "/usr/bin/etcdctl", "--endpoints",
            ETCD, "--dial-timeout", "2s", "--command-timeout", "5s"));
        cmd.addAll(List.of(args));
        return infra.exec(cmd.toArray(String[]::new));
    }

    /** The java command running {@code mainClass} with the test class path. */
    static List<String> java(final String mainClass, final String... args) {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isEmpty()) {
            cp = System.getProperty("java.class.path");
        }
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "--add-opens=java.base/com.sun.crypto.provider=ALL-UNNAMED", "-cp", cp, mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** /readyz from inside the host namespace ("Connection: close": the JDK's keep-alive cache ignores netns). */
    static int readyz(final Host host) throws Exception {
        return io.overlay.tun.NetnsThread.call(host.ns().name(), () -> {
            final HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + HEALTH_PORT + "/readyz")
                .openConnection(java.net.Proxy.NO_PROXY);
            c.setConnectTimeout(1000);
            c.setReadTimeout(2000);
            c.setRequestProperty("Connection", "close");
            try {
                return c.getResponseCode();
            } catch (IOException notYet) {
                return -1;
            } finally {
                c.disconnect();
            }
        });
    }

    /** Host {@code h}'s TUN address (its subnet's network address, as flannel assigns it), dotted. */
    static String tunAddress(final Host h) throws IOException {
        return io.overlay.core.net.Ipv4.format(io.overlay.core.flannel.FlannelRules.tunAddress(h.subnet().subnet())
            .address());
    }

    /** Starts a daemon thread that hands each line of {@code p}'s output to {@code onLine} until the output ends. */
    static Thread lineReader(final Process p, final java.util.function.Consumer<String> onLine) {
        final Thread t = new Thread(() -> {
            try (java.io.BufferedReader r = new java.io.BufferedReader(new java.io.InputStreamReader(
                p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    onLine.accept(line);
                }
            } catch (IOException ended) {
                // the process was stopped
            }
        }, "test-reader");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /**
     * GETs a page of host {@code host}'s health server from inside its namespace ("Connection: close", as
     * {@link #readyz}).
     *
     * @return the body, or {@code null} when the server does not answer 200 (yet)
     */
    static String get(final Host host, final String path) throws Exception {
        return io.overlay.tun.NetnsThread.call(host.ns().name(), () -> {
            final HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + HEALTH_PORT + path)
                .openConnection(java.net.Proxy.NO_PROXY);
            c.setConnectTimeout(1000);
            c.setReadTimeout(5000);
            c.setRequestProperty("Connection", "close");
            try {
                if (c.getResponseCode() != 200) {
                    return null;
                }
                return new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException notYet) {
                return null;
            } finally {
                c.disconnect();
            }
        });
    }

    /**
     * Every sample of host {@code host}'s {@code /metrics}: series (name with labels) to value.
     *
     * @throws IOException if the page cannot be had
     */
    static Map<String, Double> metrics(final Host host) throws Exception {
        final String body = get(host, "/metrics");
        if (body == null) {
            throw new IOException("no /metrics from h" + host.n());
        }
        final Map<String, Double> samples = new HashMap<>();
        final Matcher m = SAMPLE.matcher(body);
        while (m.find()) {
            samples.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        return samples;
    }

    /**
     * Runs a command inside host {@code host}'s namespace (bounded) and returns exit status and output, as
     * {@link #runStatus}.
     */
    static Object[] runIn(final Host host, final Duration timeout, final String... command) throws Exception {
        final List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", host.ns().name()));
        full.addAll(List.of(command));
        return runStatus(timeout, full.toArray(String[]::new));
    }

    /**
     * Polls a condition every 200 ms until it holds.
     *
     * @throws AssertionError naming {@code what} when the timeout runs out
     */
    static void await(final String what, final Duration timeout, final Callable<Boolean> condition)
        throws Exception {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.call()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + " not reached within " + timeout.toSeconds() + " s");
            }
            Thread.sleep(200);
        }
    }

    /**
     * Runs a command (root namespace, bounded) and returns exit status and output.
     *
     * @param timeout the longest wait
     * @param command the command
     * @return {exit status, output (stdout and stderr)}
     */
    static Object[] runStatus(final Duration timeout, final String... command) throws IOException,
        InterruptedException {
        final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        final byte[][] out = new byte[1][];
        final Thread reader = new Thread(() -> {
            try {
                out[0] = p.getInputStream().readAllBytes();
            } catch (IOException e) {
                out[0] = new byte[0];
            }
        });
        reader.start();
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(5, TimeUnit.SECONDS);
        }
        reader.join(5000);
        return new Object[] {p.isAlive() ? -1 : p.exitValue(),
            out[0] == null ? "" : new String(out[0], StandardCharsets.UTF_8)};
    }

    /**
     * Runs a command until it exits 0 (each try at most 10 s).
     *
     * @throws AssertionError naming {@code what} and the last try's output when the timeout runs out
     */
    static void awaitSuccess(final String what, final Duration timeout, final List<String> command)
        throws Exception {
        final String[] last = {""};
        try {
            await(what, timeout, () -> {
                final Object[] r = runStatus(Duration.ofSeconds(10), command.toArray(String[]::new));
                last[0] = (String) r[1];
                return (int) r[0] == 0;
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; last try (" + String.join(" ", command) + "): " + last[0], e);
        }
    }

    /**
     * Runs a command (bounded) and returns its output.
     *
     * @throws IOException if it exits non-zero or times out (the message holds the output)
     */
    static String run(final Duration timeout, final List<String> command) throws Exception {
        final Object[] r = runStatus(timeout, command.toArray(String[]::new));
        if ((int) r[0] != 0) {
            throw new IOException("exit " + r[0] + ": " + String.join(" ", command) + "\n" + r[1]);
        }
        return (String) r[1];
    }

    /**
     * Makes a busybox root file system tarball from Debian's busybox-static ({@code /bin/busybox}, an applet link
     * for each of its commands in /bin), the image that can be had without pulling.
     *
     * @param dir where to make it
     * @return the tarball
     */
    static Path busyboxRootfs(final Path dir) throws Exception {
        final Path tar = dir.resolve("busybox-rootfs.tar");
        run(Duration.ofSeconds(60), List.of("sh", "-c", "set -e; r=$1/busybox-rootfs; mkdir -p $r/bin $r/etc $r/proc "
            + "$r/sys $r/dev $r/tmp; cp /bin/busybox $r/bin/busybox; for a in $(/bin/busybox --list); do "
            + "[ $a = busybox ] || ln -s busybox $r/bin/$a; done; tar -C $r -cf $2 .", "sh", dir.toString(),
            tar.toString()));
        return tar;
    }

    List<Host> hosts() {
        return hosts;
    }

    Path dir() {
        return dir;
    }

    Path logs() {
        return logs;
    }

    /** Removes the namespace on {@link #close()} (before those made earlier). */
    Netns track(final Netns ns) {
        namespaces.add(ns);
        return ns;
    }

    /** Runs a clean-up step on {@link #close()}, before the namespaces are removed (later steps first). */
    void onClose(final AutoCloseable step) {
        closers.add(step);
    }

    @Override
    public void close() {
        for (int i = closers.size() - 1; i >= 0; i--) {
            try {
                closers.get(i).close();
            } catch (Exception e) {
                System.err.println("clean-up step failed: " + e);
            }
        }
        for (int i = namespaces.size() - 1; i >= 0; i--) {
            try {
                namespaces.get(i).close();
            } catch (RuntimeException e) {
                System.err.println("namespace clean-up failed: " + e);
            }
        }
        try (var files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("could not delete " + dir + ": " + e);
        }
    }
}
