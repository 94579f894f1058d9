package io.overlay.examples;

import io.overlay.core.Overlay;
import io.overlay.core.OverlayHistory;
import io.overlay.core.OverlayListener;
import io.overlay.core.OverlayStatus;
import io.overlay.core.LeaseTakeoverRefusedException;
import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.flannel.SubnetEnv;
import io.overlay.core.flannel.UnderlayInterface;
import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.PortInUseException;
import io.overlay.core.spi.TunSetup;
import io.overlay.etcd.EtcdSettings;
import io.overlay.etcd.EtcdSubnetAllocator;
import io.overlay.tun.LinuxTrafficManager;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The launcher a host runs: flanneld's udp mode in one command, {@code java -jar overlay.jar [options]}. Options are
 * named as flanneld's ({@code docs/flannel-compatibility.md#flags-and-environment}) and each can also be given as a
 * {@code FLANNELD_<OPTION>} environment variable ({@link FlannelEnvironment}); the command line wins. As with
 * flanneld's Go flags, long options also work with one dash ({@code -etcd-endpoints=...}) and booleans accept
 * {@code 1/0/t/f} ({@link GoFlags}).
 *
 * <p>Runs until SIGTERM or SIGINT, which close the overlay in order, keep the lease in etcd so a restart gets the
 * same subnet, log "Exiting cleanly" and exit 0, as flanneld does ({@link TerminationSignals}; a second signal during
 * the shutdown exits at once with 143 or 130). Exit status 1 for invalid options (for example
 * {@code --subnet-lease-renew-margin} outside 1..1439, as flanneld), for unsupported {@code FLANNELD_*} variables and
 * when start-up fails; 4 ({@link #OUT_OF_SUBNETS}) when the Network has no free subnet for this host; 2 for a command
 * line picocli cannot parse. The {@code health} subcommand ({@link HealthCommand}) asks a running instance whether it is
 * ready; {@code status} ({@link StatusCommand}) prints its state. With {@code --healthz-port} the health server also
 * serves {@code /metrics} and {@code /status}; logging is set up by {@link LogSetup}.
 *
 * <p>Under systemd ({@code Type=notify}, {@code $NOTIFY_SOCKET} set) it reports {@code READY=1} once ready, its health
 * line as {@code STATUS=}, {@code STOPPING=1} when stopping and watchdog pings ({@link SystemdNotifier}).
 *
 * <p>Longer than this project's ~400-line guideline because picocli declares every flanneld flag as an annotated
 * field of the command, with its help text (about half the file); the work behind the flags lives in the classes
 * named above, {@link HostTraffic} and the libraries.
 */
@Command(name = "overlay", mixinStandardHelpOptions = true, versionProvider = OverlayVersion.class,
    sortOptions = false, subcommands = {HealthCommand.class, StatusCommand.class, LxcNetCommand.class,
        DockerOptsCommand.class, CniConfCommand.class}, usageHelpAutoWidth = true,
    description = {"Joins this host to a flannel-compatible (udp backend) overlay network:",
        "leases a subnet from etcd, opens a TUN device, writes subnet.env and carries",
        "packets to the other hosts inside UDP datagrams.",
        "Every option can also be set as FLANNELD_<OPTION> (dashes as underscores,",
        "e.g. FLANNELD_ETCD_ENDPOINTS); the command line wins.", ""},
    footer = {"", "Exit status: 0 after SIGTERM/SIGINT (\"Exiting cleanly\");",
        "1 invalid options, unsupported FLANNELD_* variables or failed start-up;",
        "2 unparsable command line; 4 no free subnet."})
public final class OverlayMain implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(OverlayMain.class);

    /** Exit status of invalid options and failed start-up (flanneld exits 1 too). */
    public static final int FAILED = 1;
    /**
     * Exit status when the Network has no free subnet for this host (overlay's own; flanneld exits 1). Not 3: that is
     * HotSpot's status for {@code -XX:+ExitOnOutOfMemoryError}, which {@code packaging/deb/overlay.sh} passes.
     */
    public static final int OUT_OF_SUBNETS = 4;

    @Spec
    private CommandSpec spec;

    /** Finds nft and iptables; tests replace it to simulate a missing tool. */
    Function<String, Optional<Path>> findTool = LinuxTrafficManager::findTool;

    /** Why the overlay cannot go on ({@link OverlayListener#failed}), or null; the launcher then exits 1. */
    private volatile String failure;
    /** The thread that waits for a signal, interrupted by {@link #failure}. */
    private volatile Thread waiting;
    /** Orders a failure's interrupt with the main thread's leaving the wait (then {@link #waiting} is null). */
    private final Object waitingLock = new Object();

    /** The process environment, for {@code NOTIFY_SOCKET} and the watchdog ({@link SystemdNotifier}). */
    private final Map<String, String> processEnv;

    private OverlayMain(final Map<String, String> env) {
        this.processEnv = env;
    }

    @Option(names = "--etcd-endpoints", split = ",", paramLabel = "<url>",
        defaultValue = EtcdSettings.DEFAULT_ENDPOINTS,
        description = "Comma-separated etcd client URLs (default: ${DEFAULT-VALUE}).")
    List<String> etcdEndpoints;

    @Option(names = "--etcd-prefix", defaultValue = EtcdSettings.DEFAULT_PREFIX, paramLabel = "<key>",
        description = "etcd key prefix of the network (default: ${DEFAULT-VALUE}).")
    String etcdPrefix;

    @Option(names = "--etcd-cafile", paramLabel = "<file>",
        description = "PEM CA of the etcd servers (https endpoints).")
    Path etcdCaFile;

    @Option(names = "--etcd-certfile", paramLabel = "<file>",
        description = "PEM client certificate for etcd (with --etcd-keyfile).")
    Path etcdCertFile;

    @Option(names = "--etcd-keyfile", paramLabel = "<file>",
        description = "PEM (PKCS#8) client key for etcd (with --etcd-certfile).")
    Path etcdKeyFile;

    @Option(names = "--etcd-username", paramLabel = "<user>", description = "etcd user name.")
    String etcdUsername;

    @Option(names = "--etcd-password", paramLabel = "<password>", description = "etcd password.")
    String etcdPassword;

    @Option(names = "--iface", split = ",", paramLabel = "<name|ip>",
        description = "Underlay interface (name or IPv4 address); repeatable, tried in order. Default: the interface "
            + "carrying --public-ip, else the lowest-metric default route's. A named interface's address is its first "
            + "non-secondary IPv4 address, as flanneld.")
    List<String> ifaces = new ArrayList<>();

    @Option(names = "--iface-regex", paramLabel = "<regex>",
        description = "Choose the underlay interface by a regular expression found in one of its IPv4 addresses, else "
            + "in its name; repeatable, tried in order after --iface, as flanneld.")
    List<String> ifaceRegexes = new ArrayList<>();

    @Option(names = "--iface-can-reach", paramLabel = "<ip>",
        description = "Choose the underlay interface the kernel would use to reach this IPv4 address (with the route's "
            + "source address); tried after --iface and --iface-regex, as flanneld.")
    String ifaceCanReach;

    @Option(names = "--public-ip", paramLabel = "<ip>",
        description = "IPv4 address other hosts send to (lease PublicIP). Default: the interface's address.")
    String publicIp;

    @Option(names = "--subnet-file", defaultValue = SubnetEnv.DEFAULT_FILE, paramLabel = "<file>",
        description = "Where subnet.env is written (default: ${DEFAULT-VALUE}).")
    Path subnetFile;

    @Option(names = "--lease-file", paramLabel = "<file>",
        description = "A copy of subnet.env kept where it survives a reboot (e.g. /var/lib/overlay/lease.env), "
            + "written whenever subnet.env is and read when subnet.env is missing, so a rebooted host keeps its "
            + "subnet (default: none). overlay's own option, not flanneld's.")
    Path leaseFile;

    @Option(names = "--allow-lease-takeover", arity = "0..1", defaultValue = "false", paramLabel = "<bool>",
        converter = GoFlags.Bool.class,
        description = "Take over a live lease that carries this host's PublicIP although nothing shows it is this "
            + "host's (subnet.env, or the --lease-file when subnet.env is missing, names another subnet or none). "
            + "Default: refuse and exit 1, naming the key and its holder, since two hosts with one PublicIP cannot "
            + "share a network. overlay's own option, not flanneld's (flanneld always takes it over).")
    boolean allowLeaseTakeover;

    @Option(names = "--subnet-lease-renew-margin", paramLabel = "<minutes>",
        description = "Renew the lease this many minutes before it expires, 1..1439 (default: ${DEFAULT-VALUE}).")
    int renewMarginMinutes = (int) EtcdSettings.DEFAULT_RENEW_MARGIN.toMinutes();

    @Option(names = "--healthz-ip", defaultValue = "0.0.0.0", paramLabel = "<ip>",
        description = "Address of the /healthz and /readyz server (default: ${DEFAULT-VALUE}).")
    String healthzIp;

    @Option(names = "--healthz-port", defaultValue = "0", paramLabel = "<port>",
        description = "Port of the /healthz and /readyz server; 0 disables it (default: ${DEFAULT-VALUE}).")
    int healthzPort;

    @Option(names = "--ip-masq", arity = "0..1", defaultValue = "false", paramLabel = "<bool>",
        converter = GoFlags.Bool.class,
        description = "Masquerade traffic from the Network to destinations outside it (flanneld's rules, in nftables "
            + "table 'ip overlay'; needs nft); FLANNEL_IPMASQ=true in subnet.env (default: ${DEFAULT-VALUE}).")
    boolean ipMasq;

    @Option(names = "--ip-masq-fully-random-disable", arity = "0..1", defaultValue = "false", paramLabel = "<bool>",
        converter = GoFlags.Bool.class,
        description = "Masquerade without fully random source ports (default: ${DEFAULT-VALUE}).")
    boolean ipMasqFullyRandomDisable;

    @Option(names = "--iptables-forward-rules", arity = "0..1", defaultValue = "true", paramLabel = "<bool>",
        converter = GoFlags.Bool.class,
        description = "Accept forwarded traffic from and to the Network in iptables' filter FORWARD chain (chain "
            + "OVERLAY-FWD), for hosts whose FORWARD policy is DROP, e.g. with Docker (default: ${DEFAULT-VALUE}).")
    boolean iptablesForwardRules;

    @Option(names = "--iptables-resync", paramLabel = "<seconds>",
        description = "Seconds between checks that the masquerade and forward rules, ip_forward, the TUN device and the "
            + "bridge are as set up; what is missing or changed is restored (default: ${DEFAULT-VALUE}).")
    int iptablesResyncSeconds = (int) Overlay.DEFAULT_HOST_CHECK.toSeconds();

    @Option(names = "--bridge", paramLabel = "<name>",
        description = "Create or reuse this Linux bridge (e.g. lxcbr0) with the subnet's first address and the "
            + "overlay MTU, for containers to attach to. Default: none.")
    String bridge;

    @Option(names = "--tun-name", defaultValue = FlannelRules.TUN_NAME_TEMPLATE, paramLabel = "<name>",
        description = "TUN device name or template (default: ${DEFAULT-VALUE}).")
    String tunName;

    @Option(names = "--offloads", arity = "0..1", defaultValue = "true", paramLabel = "<bool>",
        converter = GoFlags.Bool.class,
        description = "Use TUN offloads (IFF_VNET_HDR: TSO super-packets in, coalesced TCP out) and UDP GSO/GRO where "
            + "the kernel allows (default: ${DEFAULT-VALUE}); the wire format is flannel's either way.")
    boolean offloads;

    @Option(names = "--tun-txqueuelen", defaultValue = "" + TunSetup.DEFAULT_TX_QUEUE_LENGTH, paramLabel = "<packets>",
        description = "Transmit queue length of the TUN device: packets the kernel holds for overlay to read before "
            + "dropping them, 1.." + TunSetup.MAX_TX_QUEUE_LENGTH + ", or 0 to leave the device's value (default: "
            + "${DEFAULT-VALUE}). overlay's own option, not flanneld's; flanneld leaves the kernel's 500 (pass 500 "
            + "for that; 0 keeps whatever the device has), which overflows at high packet rates.")
    int tunTxQueueLength;

    @Option(names = "--loops", defaultValue = "" + Overlay.DEFAULT_LOOPS, paramLabel = "<n>",
        description = "Packet loops, 1.." + Overlay.MAX_LOOPS + ", each with its own TUN queue, UDP socket and thread "
            + "(default: ${DEFAULT-VALUE}, flannel's one). With n > 1 loop i sends from UDP port Port + i, so allow "
            + "those source ports where a firewall filters them; flanneld accepts any. overlay's own option.")
    int loops;

    @Option(names = "--accept-any-sender", arity = "0..1", defaultValue = "false", paramLabel = "<bool>",
        converter = GoFlags.Bool.class,
        description = "Accept encapsulated packets from any source address, not only known peers' PublicIPs "
            + "(behind NAT).")
    boolean acceptAnySender;

    @Option(names = "--encryption", defaultValue = "off", paramLabel = "<off|preferred|required>",
        description = "Seal datagrams to other overlay hosts with AES-256-GCM under keys agreed through the public "
            + "keys in the leases: off (flannel's lease value, datagrams and MTU byte for byte), preferred (seal to "
            + "peers with a key, clear text to the others, accept both) or required (seal everything, refuse clear "
            + "text both ways) (default: ${DEFAULT-VALUE}). Sealing lowers the MTU by 29 bytes; see "
            + "docs/encryption.md.")
    String encryption;

    @Option(names = "--psk-file", paramLabel = "<path>",
        description = "Pre-shared key file (at least 16 bytes, the same on every host) mixed into every key, so "
            + "that write access to etcd alone does not let a host in (default: none).")
    Path pskFile;

    @Option(names = "--strict-source", arity = "0..1", defaultValue = "false", paramLabel = "<bool>",
        converter = GoFlags.Bool.class,
        description = "Accept from a peer only packets whose inner source is in that peer's subnet; off by default "
            + "because NodePort and masqueraded traffic a peer forwards has other sources.")
    boolean strictSource;

    @Option(names = "--log-level", defaultValue = "info", paramLabel = "<level>",
        description = "Log level: trace, debug, info, warn or error (default: ${DEFAULT-VALUE}); client libraries "
            + "log at warn or coarser.")
    String logLevel;

    @Option(names = "--log-format", defaultValue = "text", paramLabel = "<text|json>",
        description = "Log lines on stderr: text, or json with one object per line (time, level, logger, thread, "
            + "message, exception) (default: ${DEFAULT-VALUE}).")
    String logFormat;

    /** Records lease and peer events for /status and /metrics in front of the listener; set by {@link #overlay}. */
    private OverlayHistory history;

    /**
     * Runs the launcher and exits the JVM with its status (only when it returns: a running overlay ends by signal).
     *
     * @param args the command line
     */
    public static void main(final String[] args) {
        NettyDefaults.apply(); // before the engine or the preload loads a Netty class
        // after LOG has bound SLF4J (this class's initialisation): Netty logs through it from the preload thread, and
        // SLF4J hands a thread that logs while another initialises it substitute loggers, then warns on stderr
        StartupPreload.start();
        final CommandLine cl = commandLine(System.getenv());
        System.exit(cl.execute(GoFlags.normalize(cl, args)));
    }

    /**
     * Returns the command line with {@code FLANNELD_*} defaults from {@code env}, for {@link #main} and tests.
     *
     * @param env the environment variables to read {@code FLANNELD_*} options from, and {@code NOTIFY_SOCKET}
     *     ({@link SystemdNotifier})
     * @return the picocli command line; {@code execute(args)} returns the exit status
     */
    public static CommandLine commandLine(final Map<String, String> env) {
        final CommandLine cl = new CommandLine(new OverlayMain(env));
        cl.setDefaultValueProvider(new FlannelEnvironment(env));
        // as Go's flags: the argument after an option that needs a value is that value, whatever it reads like
        cl.setAllowSubcommandsAsOptionParameters(true);
        cl.setAllowOptionsAsOptionParameters(true);
        return cl;
    }

    /**
     * Checks the options that picocli's types do not: ranges with the library's own checks (named after the option),
     * and flanneld's rules of its command line.
     *
     * @return the problems, each a sentence naming the option; empty when all is well
     */
    List<String> problems() {
        final List<String> p = new ArrayList<>();
        // flanneld's own range (main.go): a margin of a whole day or more would renew forever
        final long maxRenewMargin = EtcdSettings.DEFAULT_LEASE_TTL.toMinutes() - 1;
        if (renewMarginMinutes < 1 || renewMarginMinutes > maxRenewMargin) {
            p.add("--subnet-lease-renew-margin must be 1.." + maxRenewMargin + " minutes, got " + renewMarginMinutes);
        }
        check(p, () -> HealthServer.checkPort("--healthz-port", healthzPort));
        check(p, () -> TunSetup.checkTxQueueLength("--tun-txqueuelen", tunTxQueueLength));
        check(p, () -> Overlay.checkLoops("--loops", loops));
        check(p, () -> Encryption.parse(encryption));
        if (pskFile != null && !java.nio.file.Files.isReadable(pskFile)) {
            p.add("--psk-file " + pskFile + " is not a readable file");
        }
        p.addAll(LogSetup.problems(logLevel, logFormat));
        check(p, () -> UnderlayInterface.compile("--iface-regex", ifaceRegexes));
        try {
            if (ifaceCanReach != null) {
                Ipv4.parse(ifaceCanReach);
            }
        } catch (IllegalArgumentException e) {
            p.add("--iface-can-reach must be an IPv4 address, got '" + ifaceCanReach + "'");
        }
        if (iptablesResyncSeconds < Overlay.MIN_HOST_CHECK.toSeconds()) {
            p.add("--iptables-resync must be at least " + Overlay.MIN_HOST_CHECK.toSeconds() + " second, got "
                + iptablesResyncSeconds);
        }
        if ((etcdCertFile == null) != (etcdKeyFile == null)) {
            p.add("--etcd-certfile and --etcd-keyfile must be given together");
        }
        if (strictSource && acceptAnySender) {
            p.add("--strict-source cannot be used with --accept-any-sender: a sender that is not a peer's PublicIP "
                + "owns no subnet to check the inner source against");
        }
        if (etcdPassword != null && etcdUsername == null) {
            p.add("--etcd-password needs --etcd-username");
        }
        return p;
    }

    /** Runs a library check; its {@link IllegalArgumentException} becomes a problem with the library's message. */
    private static void check(final List<String> problems, final Runnable libraryCheck) {
        try {
            libraryCheck.run();
        } catch (IllegalArgumentException e) {
            problems.add(e.getMessage());
        }
    }

    /**
     * Builds the etcd settings from the options.
     *
     * @return the settings
     * @throws IllegalArgumentException naming the bad option value (endpoints, prefix, credentials)
     */
    EtcdSettings etcdSettings() {
        final EtcdSettings.Builder b = EtcdSettings.builder()
            .endpoints(etcdEndpoints.toArray(String[]::new))
            .prefix(etcdPrefix)
            .renewMargin(Duration.ofMinutes(renewMarginMinutes))
            .allowLeaseTakeover(allowLeaseTakeover);
        if (etcdCertFile != null && etcdKeyFile != null) {
            b.clientCertificate(etcdCertFile, etcdKeyFile);
        }
        if (etcdCaFile != null) {
            b.flanneldCaFile(etcdCaFile);
        }
        if (etcdUsername != null) {
            b.credentials(etcdUsername, etcdPassword == null ? "" : etcdPassword);
        }
        return b.build();
    }

    /**
     * Builds the overlay from the options (nothing is opened yet).
     *
     * @param listener told of readiness changes
     * @return the overlay
     * @throws IllegalArgumentException naming the bad option value
     * @throws IllegalStateException if a part is missing from the class path
     */
    Overlay overlay(final OverlayListener listener) {
        final EtcdSettings settings = etcdSettings();
        history = new OverlayHistory(listener);
        final Overlay.Builder b = Overlay.builder()
            .listener(history)
            .ifaces(ifaces)
            .ifaceRegexes(ifaceRegexes)
            .ifaceCanReach(ifaceCanReach)
            .ipMasq(ipMasq)
            .subnetFile(subnetFile)
            .leaseFile(leaseFile)
            .bridge(bridge)
            .tunName(tunName)
            .acceptOnlyKnownPeers(!acceptAnySender)
            .strictSource(strictSource)
            .offloads(offloads)
            .tunTxQueueLength(tunTxQueueLength)
            .loops(loops)
            .encryption(Encryption.parse(encryption))
            .pskFile(pskFile)
            .hostCheck(Duration.ofSeconds(iptablesResyncSeconds));
        if (publicIp != null) {
            b.publicIp(publicIp);
        }
        final EtcdSubnetAllocator allocator = new EtcdSubnetAllocator(settings);
        try {
            final Overlay overlay = b.allocator(allocator).build();
            LOG.info("etcd {}", settings);
            return overlay;
        } catch (RuntimeException e) {
            allocator.close();
            throw e;
        }
    }

    @Override
    public Integer call() {
        final PrintWriter err = spec.commandLine().getErr();
        final List<String> problems = problems();
        if (problems.isEmpty()) {
            LogSetup.apply(logLevel, logFormat);
        }
        if (spec.commandLine().getDefaultValueProvider() instanceof FlannelEnvironment env) {
            final FlannelEnvironment.Check check = env.check(spec);
            problems.addAll(check.errors());
            if (!check.ignored().isEmpty()) {
                LOG.warn("ignoring FLANNELD_* variables without effect for overlay (udp backend, etcd): {}",
                    String.join(", ", check.ignored()));
            }
        }
        if (!problems.isEmpty()) {
            problems.forEach(p -> err.println("overlay: " + p));
            err.flush();
            return FAILED;
        }
        final SystemdNotifier systemd = SystemdNotifier.fromEnvironment(processEnv, ProcessHandle.current().pid());
        final HostTraffic traffic;
        try {
            traffic = new HostTraffic(new LinuxTrafficManager(new LinuxTrafficManager.Settings(ipMasq,
                !ipMasqFullyRandomDisable, iptablesForwardRules, bridge != null,
                Duration.ofSeconds(iptablesResyncSeconds)), Executors.defaultThreadFactory(), findTool), systemd);
        } catch (IllegalStateException e) {
            systemd.close();
            err.println("overlay: " + e.getMessage());
            err.flush();
            return FAILED;
        }
        final Overlay overlay;
        try {
            overlay = overlay(new io.overlay.core.ForwardingOverlayListener(traffic) {
                @Override
                public void failed(final String reason) {
                    next.failed(reason);
                    failure = reason; // before the interrupt, which the waiting thread checks it after
                    synchronized (waitingLock) { // never interrupts stop(): the main thread clears waiting first
                        final Thread t = waiting;
                        if (t != null) {
                            t.interrupt();
                        }
                    }
                }
            });
        } catch (IllegalArgumentException | IllegalStateException e) {
            traffic.close();
            systemd.close();
            err.println("overlay: " + e.getMessage());
            err.flush();
            return FAILED;
        }
        traffic.network(() -> overlay.status().network());
        // One set of handlers from the lock to the end: between two sets the JVM's own would end a stop with 143.
        try (systemd; TerminationSignals signals = TerminationSignals.install(Thread.currentThread())) {
            // Before anything touches etcd, the TUN, the host rules or subnet.env: one agent per subnet.env.
            InstanceLock lock = null;
            try {
                lock = InstanceLock.acquire(subnetFile, InstanceLock.WAIT);
            } catch (InterruptedException e) {
                // a stop while waiting for an agent that is closing
            } catch (IOException e) {
                LOG.error("Not starting: {}", e.getMessage());
            }
            if (lock == null || signals.requested()) {
                signals.stopInterrupting();
                Thread.interrupted();
                overlay.close();
                traffic.close();
                if (lock != null) {
                    lock.close();
                }
                if (signals.requested()) {
                    LOG.info("{} received while waiting for the instance lock; Exiting cleanly", signals.received());
                    return 0;
                }
                return FAILED;
            }
            try (InstanceLock held = lock) {
                traffic.prepare();
                return run(overlay, systemd, traffic, signals);
            }
        }
    }

    /** Runs the built overlay until a signal or a failed start-up; returns the exit status. */
    private int run(final Overlay overlay, final SystemdNotifier systemd, final HostTraffic traffic,
                    final TerminationSignals signals) {
        LOG.info("overlay {} starting", OverlayVersion.version());
        // ready only when the overlay is and the host rules are in place, as flanneld's /readyz
        final Supplier<OverlayStatus> hostStatus = () -> traffic.gate(overlay.status());
        HealthServer health = null;
        try {
            if (healthzPort != 0) {
                health = HealthServer.start(healthzIp, healthzPort, hostStatus,
                    PrometheusPage.operatorPages(hostStatus, history));
            }
        } catch (IOException | IllegalArgumentException e) {
            signals.stopInterrupting();
            Thread.interrupted();
            overlay.close();
            traffic.close();
            if (signals.requested()) { // the server's set-up may have been cut short by the signal's interrupt
                LOG.info("{} received while starting the health server; Exiting cleanly", signals.received());
                return 0;
            }
            LOG.error("{}", e.getMessage());
            return FAILED;
        }
        final HealthServer healthServer = health;
        // Other ways the JVM ends (SIGHUP, System.exit elsewhere) still close the overlay; close() is idempotent.
        final Thread hook = new Thread(() -> stop(overlay, healthServer, systemd, traffic), "overlay-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        int status = FAILED;
        waiting = Thread.currentThread();
        try {
            // The notifier's periodic check also passes on a READY=1 held back while the host rules were
            // missing at first and restored by a later re-check; otherwise systemd would time the start out.
            systemd.start(() -> {
                traffic.announceIfReady(overlay.status());
                return hostStatus.get();
            });
            overlay.start();
            traffic.awaitSettled(30_000);
            traffic.announceIfReady(overlay.status());
            LOG.info("Running: {}", hostStatus.get().healthLine());
            if (failure == null) {
                signals.await();
            }
            status = failure == null || signals.requested() ? 0 : FAILED;
        } catch (InterruptedException e) {
            // a signal arrived during start-up, or the overlay failed for good
            status = failure == null || signals.requested() ? 0 : FAILED;
        } catch (OutOfSubnetsException e) {
            LOG.error("Cannot acquire a lease: {}", e.getMessage());
            status = OUT_OF_SUBNETS;
        } catch (LeaseTakeoverRefusedException e) {
            LOG.error("Cannot acquire a lease: {}", e.getMessage()); // an operator's error: no stack trace
        } catch (LinkageError e) {
            // a native library (JNA's, Netty's epoll) that did not load, maybe first on the preload thread, whose
            // error then is the cause of this one: name the first error, and still remove what was set up
            Throwable first = e;
            while (first.getCause() != null) {
                first = first.getCause();
            }
            LOG.error("Start-up failed: a class or native library could not be loaded: {}{}", first,
                nativeLibraryHint(first), e);
        } catch (IOException | RuntimeException e) {
            if (signals.requested()) {
                status = 0; // start-up ended by the signal's interrupt or by closing
            } else if (e instanceof PortInUseException) {
                LOG.error("Start-up failed: {}", e.getMessage()); // an operator's error: no stack trace
            } else {
                LOG.error("Start-up failed: {}", e.getMessage(), e);
            }
        }
        synchronized (waitingLock) {
            waiting = null; // from here a failure no longer interrupts this thread: stop() must run whole
        }
        signals.stopInterrupting(); // nor a first signal arriving during stop() (after a failure began it)
        Thread.interrupted(); // clear a late interrupt from the signal handler or a failure before closing
        if (signals.requested()) {
            LOG.info("{} received: shutting down (lease kept for the next start)", signals.received());
        } else if (failure != null) {
            LOG.error("Exiting with status {} so that a supervisor (systemd's Restart=on-failure) starts the agent "
                + "again: {}", FAILED, failure);
        }
        stop(overlay, healthServer, systemd, traffic);
        removeHook(hook);
        if (status == 0) {
            LOG.info("Exiting cleanly");
        }
        return status;
    }

    private static void stop(final Overlay overlay, final HealthServer healthServer, final SystemdNotifier systemd,
                             final HostTraffic traffic) {
        systemd.stopping();
        overlay.close();
        if (healthServer != null) {
            healthServer.close();
        }
        traffic.close(); // the host rules go last: nothing forwards for the overlay any more
    }

    private static void removeHook(final Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the JVM is already exiting; the hook runs
        }
    }

    /**
     * What to do about a native library the kernel would not map: Netty and JNA unpack theirs from the jar into a
     * directory ({@code java.io.tmpdir}; JNA first tries {@code ~/.cache/JNA/temp}), and where that directory is
     * mounted {@code noexec} loading fails with glibc's "failed to map segment from shared object".
     *
     * @param first the first error of the failed start
     * @return the hint to append to the error line, or "" for other errors
     */
    static String nativeLibraryHint(final Throwable first) {
        return String.valueOf(first.getMessage()).contains("failed to map segment from shared object")
            ? "; the directory the library was unpacked into does not allow execution (mounted noexec, as /tmp often "
                + "is): start through /usr/bin/overlay, which unpacks into /var/cache/overlay/native (or "
                + "OVERLAY_NATIVE_DIR), or give java -Dio.netty.native.workdir=DIR -Djna.tmpdir=DIR for a DIR that "
                + "allows it"
            : "";
    }
}
