package io.overlay.tun;

import io.overlay.core.Overlay;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TrafficManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Linux {@link TrafficManager}: masquerade rules in nftables ({@link NftMasqueradeRules}, needs {@code nft}),
 * FORWARD accept rules through iptables ({@link IptablesForwardRules}, needs {@code iptables} and
 * {@code iptables-restore}) and {@code net.ipv4.ip_forward}, each only when asked for. After {@link #apply} every
 * part is checked every {@link Settings#resync} (flanneld's {@code --iptables-resync}, default 5 s) and restored when
 * missing, so a firewall reload or {@code nft flush ruleset} heals; {@link #close()} removes the rules. The first
 * {@link #apply} also removes overlay's rules of a feature that is off, left by an earlier run that was killed or had
 * other options (as flanneld's {@code CleanUp} of the traffic manager it does not use, v0.28.9 {@code main.go}).
 *
 * <p>All work runs on one thread of the manager's own, so the tools run in the network namespace that thread was
 * created in (the process's, unless a {@link ThreadFactory} says otherwise).
 */
public final class LinuxTrafficManager implements TrafficManager {
    private static final Logger LOG = LoggerFactory.getLogger(LinuxTrafficManager.class);
    private static final Path IP_FORWARD = Path.of("/proc/sys/net/ipv4/ip_forward");

    /**
     * What to manage.
     *
     * @param masquerade install the masquerade rules ({@code --ip-masq})
     * @param randomFully masquerade with fully random source ports (flanneld's default; off with
     *     {@code --ip-masq-fully-random-disable})
     * @param forwardRules install the FORWARD accept rules ({@code --iptables-forward-rules})
     * @param ipForward keep {@code net.ipv4.ip_forward} at 1 (needed when containers on a bridge reach other hosts)
     * @param resync how often the rules are checked, at least 1 s ({@code --iptables-resync})
     */
    public record Settings(boolean masquerade, boolean randomFully, boolean forwardRules, boolean ipForward,
                           Duration resync) {
        /**
         * Checks the interval.
         *
         * @throws IllegalArgumentException if {@code resync} is under 1 s
         */
        public Settings {
            Objects.requireNonNull(resync, "resync");
            if (resync.compareTo(Overlay.MIN_HOST_CHECK) < 0) {
                throw new IllegalArgumentException("resync must be at least " + Overlay.MIN_HOST_CHECK.toSeconds()
                    + " s, got " + resync);
            }
        }
    }

    private final Settings settings;
    private final NftMasqueradeRules masq;
    private final IptablesForwardRules forward;
    /** The rules of a feature that is off, to remove if an earlier run (killed, or with other options) left them. */
    private final NftMasqueradeRules staleMasq;
    private final IptablesForwardRules staleForward;
    /** Whether the rules of features that are off were looked for (manager thread only). */
    private boolean staleRemoved;
    private final ScheduledExecutorService thread;
    private volatile Optional<String> problem = Optional.of(INSTALLING);
    private Ipv4Prefix network;
    private Ipv4Prefix subnet;
    private boolean checking;
    private boolean closed;

    /**
     * Creates a manager whose work runs on a thread of {@code threads} (e.g. one that enters a network namespace).
     *
     * @param settings what to manage
     * @param threads makes the manager's one thread
     * @throws IllegalStateException if a tool the settings need is not installed; the message names the package and
     *     the option that turns the feature off
     */
    public LinuxTrafficManager(final Settings settings, final ThreadFactory threads) {
        this(settings, threads, LinuxTrafficManager::findTool);
    }

    /**
     * Creates a manager that looks its tools up with {@code findTool} (for tests that simulate a missing tool).
     *
     * @param settings what to manage
     * @param threads makes the manager's one thread
     * @param findTool returns the path of a program by name, or empty when it is not installed
     * @throws IllegalStateException as {@link #LinuxTrafficManager(Settings, ThreadFactory)}
     */
    public LinuxTrafficManager(final Settings settings, final ThreadFactory threads,
                               final Function<String, Optional<Path>> findTool) {
        this.settings = Objects.requireNonNull(settings, "settings");
        final Optional<Path> nftTool = findTool.apply("nft");
        if (settings.masquerade()) {
            final Path nft = nftTool.orElseThrow(() -> new IllegalStateException(
                "--ip-masq needs the nft program, which is not installed: install it (apt install nftables) or drop "
                    + "--ip-masq"));
            masq = new NftMasqueradeRules(nft, settings.randomFully());
        } else {
            masq = null;
        }
        final Optional<Path> iptables = findTool.apply("iptables");
        final Optional<Path> restore = findTool.apply("iptables-restore");
        if (settings.forwardRules() && (iptables.isEmpty() || restore.isEmpty())) {
            // Only iptables users (Docker among them) put a DROP policy on FORWARD; without iptables there is none.
            LOG.warn("iptables is not installed: no FORWARD accept rules are needed or added (install iptables "
                + "if a firewall drops forwarded packets, or pass --iptables-forward-rules=false to silence this)");
            forward = null;
        } else {
            forward = settings.forwardRules() ? new IptablesForwardRules(iptables.get(), restore.get()) : null;
        }
        staleMasq = masq == null ? nftTool.map(n -> new NftMasqueradeRules(n, true)).orElse(null) : null;
        staleForward = !settings.forwardRules() && iptables.isPresent() && restore.isPresent()
            ? new IptablesForwardRules(iptables.get(), restore.get()) : null;
        this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
            final Thread t = threads.newThread(r);
            t.setName("overlay-traffic");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Creates a manager working in the process's network namespace.
     *
     * @param settings what to manage
     * @throws IllegalStateException as {@link #LinuxTrafficManager(Settings, ThreadFactory)}
     */
    public LinuxTrafficManager(final Settings settings) {
        this(settings, Executors.defaultThreadFactory());
    }

    /**
     * Finds a program the way the manager does by default: in {@code PATH}, then in {@code /usr/sbin}, {@code /sbin},
     * {@code /usr/bin}, {@code /bin}.
     *
     * @param name the program, e.g. {@code nft}
     * @return its path, or empty when it is not installed
     */
    public static Optional<Path> findTool(final String name) {
        return HostCommand.find(name);
    }

    @Override
    public void apply(final Ipv4Prefix network, final Ipv4Prefix subnet) {
        Objects.requireNonNull(network, "network");
        Objects.requireNonNull(subnet, "subnet");
        submit(() -> {
            this.network = network;
            this.subnet = subnet;
            install();
            if (!checking) {
                checking = true;
                final long every = settings.resync().toMillis();
                thread.scheduleWithFixedDelay(this::check, every, every, TimeUnit.MILLISECONDS);
            }
        });
    }

    @Override
    public void prepare() {
        submit(this::removeStaleOnce);
    }

    @Override
    public Optional<String> problem() {
        return problem;
    }

    /**
     * Manager thread: removes the rules of features that are off, then installs every part, each on its own; the
     * first failure becomes the problem.
     */
    private void install() {
        removeStaleOnce();
        final List<Exception> failures = new ArrayList<>();
        step(failures, () -> {
            if (settings.ipForward()) {
                ensureIpForward();
            }
        });
        step(failures, () -> {
            if (masq != null) {
                masq.apply(network, subnet);
                LOG.info("Masquerade rules installed: nft table {} for Network {}, subnet {}",
                    NftMasqueradeRules.TABLE, network, subnet);
            }
        });
        step(failures, () -> {
            if (forward != null) {
                forward.apply(network);
                LOG.info("FORWARD accept rules installed: iptables chain {} for {}", IptablesForwardRules.CHAIN,
                    network);
            }
        });
        settle(failures);
    }

    /** Manager thread, every resync period: restores what is missing, each part on its own. */
    private void check() {
        if (closed) {
            return;
        }
        final List<Exception> failures = new ArrayList<>();
        step(failures, () -> {
            if (settings.ipForward()) {
                ensureIpForward();
            }
        });
        step(failures, () -> {
            if (masq != null && !masq.intact()) {
                LOG.warn("Masquerade rules (nft table {}) missing or changed; restoring", NftMasqueradeRules.TABLE);
                masq.apply(network, subnet);
            }
        });
        step(failures, () -> {
            if (forward != null && !forward.intact()) {
                LOG.warn("FORWARD accept rules (iptables chain {}) missing or changed; restoring",
                    IptablesForwardRules.CHAIN);
                forward.apply(network);
            }
        });
        if (failures.isEmpty() && problem.isPresent() && !problem.get().equals(INSTALLING)) {
            LOG.info("Host rules in place again");
        }
        settle(failures);
    }

    /** Manager thread: {@link #removeStale} at the first install or {@link #prepare}, whichever comes first. */
    private void removeStaleOnce() {
        if (!staleRemoved) {
            staleRemoved = true;
            removeStale();
        }
    }

    /** As flanneld cleans up the rules of the mode it does not use: here, those of a feature that is off. */
    private void removeStale() {
        try {
            if (staleMasq != null && staleMasq.present()) {
                staleMasq.remove();
                LOG.info("Removed masquerade rules left by an earlier run (nft table {}): --ip-masq is off",
                    NftMasqueradeRules.TABLE);
            }
            if (staleForward != null && staleForward.present()) {
                staleForward.remove();
                LOG.info("Removed FORWARD accept rules left by an earlier run (iptables chain {}): "
                    + "--iptables-forward-rules is off", IptablesForwardRules.CHAIN);
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Removing rules left by an earlier run failed: {}", e.getMessage());
        }
    }

    /** One part of the host set-up; may fail without stopping the others. */
    @FunctionalInterface
    private interface Step {
        void run() throws IOException;
    }

    private static void step(final List<Exception> failures, final Step step) {
        try {
            step.run();
        } catch (IOException | RuntimeException e) {
            failures.add(e);
        }
    }

    private void settle(final List<Exception> failures) {
        if (failures.isEmpty()) {
            problem = Optional.empty();
        } else {
            fail(failures.get(0));
        }
    }

    private void fail(final Exception e) {
        final String why = "host rules: " + e.getMessage();
        if (!problem.equals(Optional.of(why))) {
            LOG.error("Setting up the host failed (retrying every {} s): {}", settings.resync().toSeconds(),
                e.getMessage());
        }
        problem = Optional.of(why);
    }

    /** Sets {@code net.ipv4.ip_forward} to 1 when it is not; containers on a bridge reach other hosts only so. */
    private static void ensureIpForward() throws IOException {
        if (Files.readString(IP_FORWARD).strip().equals("1")) {
            return;
        }
        try {
            Files.writeString(IP_FORWARD, "1\n");
        } catch (IOException e) {
            throw new IOException("net.ipv4.ip_forward is 0 and cannot be set (" + e.getMessage() + "): containers "
                + "on the bridge cannot reach other hosts; run sysctl -w net.ipv4.ip_forward=1", e);
        }
        LOG.warn("net.ipv4.ip_forward was 0; set it to 1 so containers on the bridge reach other hosts");
    }

    @Override
    public void close() {
        final java.util.concurrent.Future<?> removal;
        try {
            removal = thread.submit(() -> {
                closed = true;
                removeAll();
            });
        } catch (RejectedExecutionException alreadyClosed) {
            return;
        }
        // Wait even if interrupted (a shutdown signal interrupts the main thread): the rules must go on a clean exit.
        boolean interrupted = false;
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        try {
            while (true) {
                try {
                    removal.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    LOG.warn("Removing host rules did not finish: {}", e.toString());
                    break;
                }
            }
        } finally {
            thread.shutdownNow();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }


    /** Manager thread: removes what this manager installed; nothing is run if {@link #apply} never ran. */
    private void removeAll() {
        if (network == null) {
            return;
        }
        if (masq != null) {
            try {
                masq.remove();
                LOG.info("Masquerade rules removed (nft table {})", NftMasqueradeRules.TABLE);
            } catch (IOException e) {
                LOG.warn("Removing the masquerade rules failed: {}", e.getMessage());
            }
        }
        if (forward != null) {
            try {
                forward.remove();
                LOG.info("FORWARD accept rules removed (iptables chain {})", IptablesForwardRules.CHAIN);
            } catch (IOException e) {
                LOG.warn("Removing the FORWARD accept rules failed: {}", e.getMessage());
            }
        }
    }

    private void submit(final Runnable task) {
        try {
            thread.execute(() -> {
                if (!closed) {
                    task.run();
                }
            });
        } catch (RejectedExecutionException closing) {
            // closed: nothing more to install
        }
    }
}
