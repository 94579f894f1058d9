// Longer than ~400 lines because a real etcd for tests needs its whole life here: a free port, TLS and auth set-up,
// start and readiness, pause/kill/restart for fault tests, and clean-up even when a test fails.
package io.overlay.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real etcd member ({@code /usr/bin/etcd}, v3 API) on 127.0.0.1 for tests: free client and peer ports, a temporary
 * data directory, started and waited for until {@code /health} answers true. {@link #stop()} and {@link #start()}
 * again keep the same ports and data (for outage tests); {@link #close()} kills the process and deletes the directory.
 * A JVM shutdown hook kills any member a failing test left running. Use {@link EtcdCluster} for several members.
 *
 * <p>The member listens on 127.0.0.1 only: tests talk to etcd over loopback, never over another interface. The
 * member's own log goes to {@code <name>.log} next to its data directory, see {@link #logFile()}.
 *
 * <p>Needs {@code /usr/bin/etcd} and {@code /usr/bin/etcdctl} (etcd 3.4 or later) but not root.
 */
public final class EtcdServer implements AutoCloseable {
    private static final String ETCD = "/usr/bin/etcd";
    private static final String ETCDCTL = "/usr/bin/etcdctl";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly),
            "etcd-cleanup"));
    }

    /**
     * TLS for a test member: the CA that signed both certificates, the server's certificate and key (for 127.0.0.1),
     * and a client certificate and key that {@link #etcdctl} uses; when {@code requireClientCert} the member refuses
     * clients without a certificate signed by the CA ({@code --client-cert-auth}).
     *
     * @param caFile the CA certificate, PEM
     * @param serverCert the server certificate, PEM, with IP SAN 127.0.0.1
     * @param serverKey the server key, PEM
     * @param clientCert a client certificate, PEM
     * @param clientKey its key, PEM
     * @param requireClientCert whether clients must present a certificate
     */
    public record Tls(Path caFile, Path serverCert, Path serverKey, Path clientCert, Path clientKey,
                      boolean requireClientCert) {
    }

    private final String name;
    private final Path dir;
    private volatile Tls tls;
    private volatile List<String> flags = List.of();
    private final int clientPort;
    private final int peerPort;
    private volatile String initialCluster;
    /** {@code new} for a member of a new cluster, {@code existing} for one added with {@code member add}. */
    private volatile String initialClusterState = "new";
    private final String clusterToken;
    private Process process;

    private EtcdServer(final String name, final Path dir, final int clientPort, final int peerPort,
                       final String clusterToken) {
        this.name = name;
        this.dir = dir;
        this.clientPort = clientPort;
        this.peerPort = peerPort;
        this.clusterToken = clusterToken;
        this.initialCluster = name + "=" + peerUrl();
    }

    /**
     * Starts a single-member etcd and waits until it is healthy.
     *
     * @return the running member
     * @throws IOException if etcd cannot be started or does not become healthy within 30 s
     */
    public static EtcdServer launch() throws IOException {
        return launch(null);
    }

    /**
     * Starts a single-member etcd serving clients over TLS ({@code https://127.0.0.1:port}) and waits until healthy.
     *
     * @param tls the certificates, or {@code null} for plain http
     * @return the running member
     * @throws IOException if etcd cannot be started or does not become healthy within 30 s
     */
    public static EtcdServer launch(final Tls tls) throws IOException {
        return launch(tls, List.of());
    }

    /**
     * Starts a single-member etcd with more command-line flags (e.g. {@code --auth-token-ttl 1}) and waits until
     * healthy.
     *
     * @param tls the certificates, or {@code null} for plain http
     * @param flags flags appended to etcd's command line, each word one element
     * @return the running member
     * @throws IOException if etcd cannot be started or does not become healthy within 30 s
     */
    public static EtcdServer launch(final Tls tls, final List<String> flags) throws IOException {
        final EtcdServer server = create("solo", Files.createTempDirectory("etcd-test-"), "solo-"
            + System.nanoTime());
        server.tls = tls;
        server.flags = List.copyOf(flags);
        try {
            server.start();
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    /** Creates a member (not started) with free ports; used by this class and {@link EtcdCluster}. */
    static EtcdServer create(final String name, final Path root, final String clusterToken) throws IOException {
        return new EtcdServer(name, root.resolve(name), freePort(), freePort(), clusterToken);
    }

    void initialCluster(final String value) {
        this.initialCluster = value;
    }

    /** Makes the next start join a running cluster ({@code --initial-cluster-state existing}). */
    void joinExisting(final String cluster) {
        this.initialCluster = cluster;
        this.initialClusterState = "existing";
    }

    /**
     * Starts the member (again) on the same ports and data directory and waits until it answers on its client port.
     * A single member also waits for {@code /health} to be true; a cluster member's health needs a quorum, which
     * {@link EtcdCluster} waits for.
     *
     * @throws IOException if the process cannot be started or does not answer within 30 s
     * @throws IllegalStateException if it is already running
     */
    public synchronized void start() throws IOException {
        startProcess();
        if (initialCluster.indexOf(',') < 0) {
            awaitHealthy(START_TIMEOUT);
        } else {
            awaitListening(START_TIMEOUT);
        }
    }

    synchronized void startProcess() throws IOException {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("etcd member " + name + " is already running");
        }
        Files.createDirectories(dir.getParent());
        final List<String> cmd = new ArrayList<>(List.of(ETCD,
            "--name", name,
            "--data-dir", dir.toString(),
            "--listen-client-urls", endpoint(),
            "--advertise-client-urls", endpoint(),
            "--listen-peer-urls", peerUrl(),
            "--initial-advertise-peer-urls", peerUrl(),
            "--initial-cluster", initialCluster,
            "--initial-cluster-token", clusterToken,
            "--initial-cluster-state", initialClusterState));
        if (tls != null) {
            cmd.addAll(List.of("--cert-file", tls.serverCert().toString(), "--key-file", tls.serverKey().toString(),
                "--trusted-ca-file", tls.caFile().toString()));
            if (tls.requireClientCert()) {
                cmd.add("--client-cert-auth");
            }
        }
        cmd.addAll(flags);
        final ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile().toFile()));
        pb.environment().remove("ETCD_UNSUPPORTED_ARCH");
        process = pb.start();
        LIVE.add(process);
    }

    /**
     * Sets the certificates the member serves with from its next {@link #start()} on (and that {@link #etcdctl} uses
     * from now on), as an operator rolling etcd over to a new CA restarts it with new files: {@link #stop()}, this,
     * {@link #start()}. Only between TLS settings: the scheme of {@link #endpoint()} stays.
     *
     * @param value the new certificates
     * @throws IllegalStateException if the member serves plain http
     */
    public void tls(final Tls value) {
        if (tls == null) {
            throw new IllegalStateException("etcd member " + name + " serves plain http; launch it with TLS");
        }
        this.tls = java.util.Objects.requireNonNull(value, "tls");
    }

    /**
     * Stops the member (SIGKILL, like a crash or a cut cable) and waits for the process to end; ports and data stay.
     * Idempotent.
     */
    public synchronized void stop() {
        if (process == null) {
            return;
        }
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LIVE.remove(process);
        process = null;
    }

    /**
     * Wipes the member's store, as an operator who lost the data directory (or restores an empty one) does: stops it,
     * deletes its data directory and starts it again empty on the same ports. Revisions start again from 1 and every
     * key and etcd lease is gone. Single members only: a cluster member would have to be removed and re-added.
     *
     * @throws IOException if etcd cannot be started again or is not healthy within 30 s
     * @throws IllegalStateException if this is a member of a cluster
     */
    public synchronized void wipe() throws IOException {
        if (initialCluster.indexOf(',') >= 0) {
            throw new IllegalStateException("wipe() is for a single member, " + name + " is in " + initialCluster);
        }
        stop();
        deleteTree(dir);
        start();
    }

    /**
     * Restores the member's store from {@code snapshot} (taken with {@code etcdctl snapshot save}), as an operator
     * recovering from a backup does: stops it, replaces its data directory with the snapshot's ({@code etcdctl snapshot
     * restore}) and starts it again on the same ports. Revisions, keys and etcd leases are those of the snapshot.
     * Single members only.
     *
     * @param snapshot the snapshot file
     * @throws IOException if etcd cannot be started again or is not healthy within 30 s
     * @throws IllegalStateException if this is a member of a cluster, or etcdctl fails
     */
    public synchronized void restore(final Path snapshot) throws IOException {
        if (initialCluster.indexOf(',') >= 0) {
            throw new IllegalStateException("restore() is for a single member, " + name + " is in " + initialCluster);
        }
        stop();
        deleteTree(dir);
        etcdctlAt(endpoint(), "snapshot", "restore", snapshot.toString(), "--data-dir", dir.toString(), "--name", name,
            "--initial-cluster", initialCluster, "--initial-cluster-token", clusterToken,
            "--initial-advertise-peer-urls", peerUrl());
        start();
    }

    /**
     * Freezes the process ({@code SIGSTOP}): its sockets stay open and connected, but nothing answers, as a member
     * hung on a dead disk or swapped out. {@link #unfreeze()} lets it go on; {@link #stop()} kills it frozen or not.
     *
     * @throws IllegalStateException if it is not running or the signal cannot be sent
     */
    public synchronized void freeze() {
        signal("STOP");
    }

    /**
     * Lets a {@link #freeze() frozen} process go on ({@code SIGCONT}).
     *
     * @throws IllegalStateException if it is not running or the signal cannot be sent
     */
    public synchronized void unfreeze() {
        signal("CONT");
    }

    private void signal(final String sig) {
        if (process == null || !process.isAlive()) {
            throw new IllegalStateException("etcd member " + name + " is not running");
        }
        try {
            final Process kill = new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid()))
                .redirectErrorStream(true).start();
            if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
                kill.destroyForcibly();
                throw new IllegalStateException("kill -" + sig + " " + process.pid() + " failed");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted sending SIG" + sig, e);
        }
    }

    /**
     * Returns whether the member's process runs.
     *
     * @return {@code true} while started
     */
    public synchronized boolean isRunning() {
        return process != null && process.isAlive();
    }

    /**
     * Returns the client URL.
     *
     * @return e.g. {@code http://127.0.0.1:41234}
     */
    public String endpoint() {
        return (tls == null ? "http" : "https") + "://127.0.0.1:" + clientPort;
    }

    String peerUrl() {
        return "http://127.0.0.1:" + peerPort;
    }

    String name() {
        return name;
    }

    /**
     * Returns the file the member's own log is appended to.
     *
     * @return {@code <tmp>/etcd-test-*&#47;<name>.log}
     */
    public Path logFile() {
        return dir.getParent().resolve(name + ".log");
    }

    /**
     * Runs {@code etcdctl} (v3 API) against this member and returns its standard output.
     *
     * @param args the arguments, e.g. {@code "get", "/k", "-w", "json"}
     * @return standard output (UTF-8)
     * @throws IllegalStateException if etcdctl exits non-zero (the message holds its output) or takes over 20 s
     */
    public String etcdctl(final String... args) {
        if (tls == null) {
            return etcdctlAt(endpoint(), args);
        }
        final List<String> all = new ArrayList<>(List.of("--cacert=" + tls.caFile(), "--cert=" + tls.clientCert(),
            "--key=" + tls.clientKey()));
        all.addAll(List.of(args));
        return etcdctlAt(endpoint(), all.toArray(new String[0]));
    }

    /**
     * Runs {@code etcdctl} (v3 API) against the given endpoints.
     *
     * @param endpoints comma-separated client URLs
     * @param args the arguments
     * @return standard output (UTF-8)
     * @throws IllegalStateException if etcdctl exits non-zero or takes over 20 s
     */
    static String etcdctlAt(final String endpoints, final String... args) {
        final List<String> cmd = new ArrayList<>();
        cmd.add(ETCDCTL);
        cmd.add("--endpoints=" + endpoints);
        cmd.add("--command-timeout=10s");
        cmd.addAll(List.of(args));
        final ProcessBuilder pb = new ProcessBuilder(cmd);
        final Map<String, String> env = pb.environment();
        env.put("ETCDCTL_API", "3");
        try {
            final Path err = Files.createTempFile("etcdctl-", ".err");
            try {
                pb.redirectError(err.toFile());
                final Process p = pb.start();
                p.getOutputStream().close();
                final byte[] out = p.getInputStream().readAllBytes();
                if (!p.waitFor(20, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException("etcdctl " + String.join(" ", args) + " timed out");
                }
                final String stdout = new String(out, StandardCharsets.UTF_8);
                if (p.exitValue() != 0) {
                    throw new IllegalStateException("etcdctl " + String.join(" ", args) + " exited "
                        + p.exitValue() + ": " + stdout + Files.readString(err));
                }
                return stdout;
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running etcdctl", e);
        }
    }

    /**
     * Returns how many watchers this member serves now: etcd's own gauge {@code etcd_debugging_mvcc_watcher_total}
     * from {@code /metrics} (etcd 3.4), which tells which member a client's watch streams landed on.
     *
     * @return the watcher count; 0 if the gauge is absent; -1 if the member does not answer, or serves TLS
     */
    public long watchers() {
        return metric("etcd_debugging_mvcc_watcher_total");
    }

    /**
     * Returns the sum of one of the member's {@code /metrics} series over the label sets that hold every one of
     * {@code labels}, e.g. {@code metric("grpc_server_started_total", "grpc_method=\"Watch\"")}: the Watch streams
     * the member (and its JSON gateway, one stream per HTTP watch) has opened so far.
     *
     * @param name the metric's name
     * @param labels {@code key="value"} strings each counted series must hold
     * @return the sum; 0 if no series matches; -1 if the member does not answer, or serves TLS
     */
    public long metric(final String name, final String... labels) {
        if (tls != null) {
            return -1;
        }
        try {
            final HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(endpoint() + "/metrics"))
                .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            double sum = 0;
            for (String line : r.body().split("\n")) {
                if (!line.startsWith(name + " ") && !line.startsWith(name + "{")) {
                    continue;
                }
                final String labelSet = line.startsWith(name + "{") ? line.substring(0, line.lastIndexOf('}') + 1)
                    : "";
                if (java.util.Arrays.stream(labels).allMatch(labelSet::contains)) {
                    sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1).trim());
                }
            }
            return (long) sum;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * Returns whether {@code /health} answers {@code "health":"true"} (etcd 3.4: needs a leader).
     *
     * @return {@code true} if healthy now
     */
    public boolean isHealthy() {
        if (tls != null) {
            try {
                // etcdctl 3.4 prints the health line on stderr; a zero exit status means healthy
                etcdctl("endpoint", "health");
                return true;
            } catch (IllegalStateException e) {
                return false;
            }
        }
        try {
            final HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(endpoint() + "/health"))
                .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 && r.body().replace(" ", "").contains("\"health\":\"true\"");
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    void awaitHealthy(final Duration timeout) throws IOException {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!isHealthy()) {
            checkAlive();
            if (System.nanoTime() > deadline) {
                throw new IOException("etcd member " + name + " at " + endpoint() + " not healthy after " + timeout
                    + "; see " + logFile());
            }
            sleep(50);
        }
    }

    private void awaitListening(final Duration timeout) throws IOException {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            checkAlive();
            try (java.net.Socket s = new java.net.Socket(InetAddress.getLoopbackAddress(), clientPort)) {
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("etcd member " + name + " not listening on " + endpoint() + " after "
                        + timeout + "; see " + logFile(), e);
                }
            }
            sleep(50);
        }
    }

    private synchronized void checkAlive() throws IOException {
        if (process == null || !process.isAlive()) {
            throw new IOException("etcd member " + name + " exited; see " + logFile() + ":\n" + tail());
        }
    }

    private String tail() {
        try {
            final List<String> lines = Files.readAllLines(logFile());
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return "(no log)";
        }
    }

    /** Kills the process and deletes the data directory (and the whole temp root of a single member). */
    @Override
    public void close() {
        stop();
        if (initialCluster.indexOf(',') < 0) {
            deleteTree(dir.getParent());
        } else {
            deleteTree(dir);
        }
    }

    static void deleteTree(final Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    static void sleep(final long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    @Override
    public String toString() {
        return "etcd " + name + " " + endpoint();
    }
}
