// Longer than ~400 lines because the public Overlay.Builder (Overlay.builder(), about 480 lines with its Javadoc) must
// be nested here; the overlay itself is about 260 lines of code and hands its other jobs to the package-private
// classes next to it (HostConfigurator, LeaseFollower, Readiness, UnknownSenderMonitor).
package io.overlay.core;

import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.flannel.SubnetEnv;
import io.overlay.core.flannel.UnderlayInterface;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.BridgeConfigurator;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.EncryptionStatus;
import io.overlay.core.spi.EngineOffloads;
import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.EngineTuning;
import io.overlay.core.spi.InterfaceAddresses;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.spi.PacketEngineFactory;
import io.overlay.core.spi.SubnetAllocator;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.core.spi.TunDevice;
import io.overlay.core.spi.TunDeviceFactory;
import io.overlay.core.spi.TunSetup;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One host's membership in a flannel-compatible overlay: the facade that composes a {@link SubnetAllocator}, a
 * {@link TunDevice} and a {@link PacketEngine} (and optionally a container bridge) into what flanneld's udp backend
 * does ({@code main.go} and {@code pkg/backend/udp/udp_network_amd64.go} in flannel v0.28.9):
 * <ol>
 * <li>read the network config (waiting while it is missing or invalid);</li>
 * <li>choose the underlay interface and its MTU; the overlay MTU is that minus 28;</li>
 * <li>acquire a lease (reusing the previous subnet from {@code subnet.env});</li>
 * <li>open the TUN ({@code flannel%d}) with the subnet address as /32, the MTU, and the whole Network routed to it;</li>
 * <li>create or reuse the bridge with the subnet's first host address;</li>
 * <li>start the engine, then keep the lease and follow peers' leases into the route table;</li>
 * <li>once the peers present at start are routed, write {@code subnet.env} atomically and become ready.</li>
 * </ol>
 * flanneld writes {@code subnet.env} before it follows the peers; overlay writes it when it is ready (the engine
 * forwards for the lease and every peer listed at start is in the route table), so a runtime that waits for the file
 * never starts containers on a host that cannot reach its peers yet. {@link OverlayListener#ready}, the status and the
 * launcher's {@code /readyz} and health line turn ready at the same moment.
 *
 * <pre>{@code
 * try (Overlay overlay = Overlay.builder()
 *         .allocator(new EtcdSubnetAllocator(EtcdSettings.builder().endpoints("http://127.0.0.1:2379").build()))
 *         .bridge("lxcbr0")
 *         .listener(new OverlayListener() {
 *             public void ready(OverlayStatus s) { System.out.println(s.healthLine()); }
 *         })
 *         .build()) {
 *     overlay.start();
 *     ...
 * }
 * }</pre>
 *
 * <p><b>Losing the lease.</b> Never keep forwarding for a subnet this host no longer owns. Real flanneld exits when its
 * lease is revoked ({@code docs/flannel-compatibility.md#lease-ttl-and-renewal}); overlay re-acquires in-process. On
 * {@link LeaseListener#leaseLost} the engine is told there is no local subnet ({@link PacketEngine#localSubnet
 * localSubnet(null)}: every inbound datagram is dropped and counted as {@link DropReason#FOREIGN_DESTINATION}), the
 * status turns not-ready (so {@code /readyz} answers 503) and the status carries no lease. The TUN address, the bridge
 * address and {@code subnet.env} are left as they are, as flanneld leaves them: local containers keep their addresses,
 * and re-acquiring the same subnet changes nothing on the host. On {@link LeaseListener#leaseReacquired} (same or
 * another subnet) everything that depends on the subnet is applied again in start-up order: TUN address and route,
 * bridge address, the engine's local subnet, then {@code subnet.env}; then the overlay is ready again. A failed step is
 * retried with capped exponential backoff (1 s doubling up to 30 s) until it succeeds, a newer lease event supersedes
 * it or the overlay is closed; meanwhile the status is not-ready naming the failure and the engine still delivers
 * nothing.
 *
 * <p><b>Threads.</b> The TUN factory, engine factory and bridge configurator default to the implementations found
 * with {@link ServiceLoader} ({@code overlay-tun}, {@code overlay-udp}). Peer changes go into the route table on the
 * allocator's thread, one snapshot per batch, as they arrive; everything else the allocator reports, re-configuration,
 * retries and listener calls run on one overlay event thread, one at a time. Readiness changes happen there only (and
 * the start-up steps in {@link #start()} before the allocator starts); once {@link #close()} began the
 * status stays not-ready and no listener is called any more. {@link #status()} takes no lock and never waits for
 * netlink or file I/O. {@link #close()} shuts down in order (allocator, event thread, engine, TUN) and keeps the
 * lease, so a restart gets the same subnet; it may be called from a listener.
 *
 * <p><b>Underlay address changes.</b> flanneld advertises the address it found at start until it is restarted; after
 * DHCP renumbering or a re-addressed interface every peer sends to an address nobody holds. Here the event thread
 * checks every {@link Builder#underlayCheck} (1 s) whether the address the engine is bound to is still the host's.
 * When it is gone and the PublicIP came from the interface, the interface is chosen again with the same criteria, the
 * engine moves its socket there ({@link PacketEngine#rebind}) and the allocator rewrites the lease's PublicIP in place
 * ({@link SubnetAllocator#changePublicIp}: same subnet, key and etcd lease), which peers follow through their watch;
 * the overlay is not ready until that is written. An explicit {@link Builder#publicIp} that is gone is never replaced,
 * and an address gone with nothing to replace it, keep the overlay not ready, naming the address, until it is back.
 *
 * <p><b>Unknown senders.</b> With {@link Builder#acceptOnlyKnownPeers} on (the default), datagrams whose source is
 * not a peer's lease PublicIP are dropped as {@link DropReason#UNKNOWN_SENDER}; peers behind NAT (whose
 * {@code --public-ip} is not the address their datagrams come from) are then silently unreachable. A control-plane
 * timer (every 30 s, never on the packet path) logs one WARN whenever that counter grew since the last check.
 *
 * <p><b>Host set-up changed by someone else.</b> Once ready, the overlay compares the TUN device and the bridge with
 * what it set up every {@link Builder#hostCheck} (on the event thread; {@link TunDevice#drift},
 * {@link BridgeConfigurator#drift}) and applies them again when someone else took the link down, removed an address
 * or the Network route, changed the MTU or deleted the bridge, logging at WARN what it found. While a restore fails
 * the overlay is not ready, naming why; a deleted TUN device (its descriptors are dead) makes it not ready for good
 * and is reported once as {@link OverlayListener#failed}.
 *
 * <p><b>Drop summary.</b> On the same timer, whatever {@link Builder#acceptOnlyKnownPeers} says, one WARN line names
 * every {@link DropReason} whose count grew in the last interval with the number dropped ({@link DropSummary});
 * nothing is logged when no counter grew.
 */
public final class Overlay implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.%-]{1,15}");

    /**
     * Most packet loops an overlay runs ({@link Builder#loops}): each has its own TUN queue, UDP socket and thread;
     * far below the kernel's 256 TUN queues ({@code MAX_TAP_QUEUES}, drivers/net/tun.c), and more loops than cores
     * only compete for them.
     */
    public static final int MAX_LOOPS = 64;

    /** Packet loops an overlay runs unless {@link Builder#loops} says otherwise: one, as flanneld's proxy. */
    public static final int DEFAULT_LOOPS = 1;

    /** How often the underlay address is checked by default ({@link Builder#underlayCheck}): every second. */
    public static final Duration DEFAULT_UNDERLAY_CHECK = Duration.ofSeconds(1);

    /**
     * How often, by default, the TUN device and the bridge are compared with their set-up and restored
     * ({@link Builder#hostCheck}): 5 s, flanneld's {@code --iptables-resync} default, at which flanneld re-checks its
     * iptables rules.
     */
    public static final Duration DEFAULT_HOST_CHECK = Duration.ofSeconds(5);

    /** The shortest interval {@link Builder#hostCheck} takes: 1 s. */
    public static final Duration MIN_HOST_CHECK = Duration.ofSeconds(1);

    private final OverlayConfig cfg;
    private final RouteTable routes = new RouteTable();
    private final Readiness readiness = new Readiness();
    private final EventThread events;
    private final Object lock = new Object();
    /** The current lease: set at start, then by the {@link LeaseFollower}; {@code null} while lost. */
    private final AtomicReference<Lease> lease = new AtomicReference<>();
    /** Completed on the event thread when the overlay is first ready; what {@link #start()} waits for. */
    private final CompletableFuture<Void> firstReady = new CompletableFuture<>();

    private volatile NetworkConfig config;
    private volatile int mtu;
    private volatile TunDevice tun;
    private volatile PacketEngine engine;
    /** The lease start() acquired for a subnet the old subnet.env did not name, or null; released if never recorded. */
    private volatile Lease unrecorded;
    /** Follows the lease once started; knows whether a write of subnet.env or the lease file began. */
    private volatile LeaseFollower follower;
    private boolean started;
    private boolean closed;

    private Overlay(final OverlayConfig cfg) {
        this.cfg = cfg;
        this.events = new EventThread(readiness, cfg.listener());
    }

    /**
     * The previous subnet: from {@code subnet.env}, else, when that file is missing (a reboot emptied its tmpfs), from
     * the lease file.
     */
    private static Optional<Ipv4Prefix> previousSubnet(final OverlayConfig cfg) throws IOException {
        if (cfg.subnetFile() != null && java.nio.file.Files.exists(cfg.subnetFile())) {
            return SubnetEnv.readPreviousSubnet(cfg.subnetFile());
        }
        if (cfg.leaseFile() == null) {
            return Optional.empty();
        }
        final Optional<Ipv4Prefix> p = SubnetEnv.readPreviousSubnet(cfg.leaseFile());
        p.ifPresent(s -> LOG.info("No {}; previous subnet {} from the lease file {}", cfg.subnetFile(), s,
            cfg.leaseFile()));
        return p;
    }

    /** The config this overlay was built with (for tests in this package). */
    OverlayConfig config() {
        return cfg;
    }

    /**
     * Returns a new builder.
     *
     * @return the builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Checks a number of packet loops, naming the setting in the error (the launcher passes its option's name).
     *
     * @param what the setting's name, e.g. {@code --loops}
     * @param loops the value
     * @return {@code loops}
     * @throws IllegalArgumentException if outside 1..{@link #MAX_LOOPS}
     */
    public static int checkLoops(final String what, final int loops) {
        if (loops < 1 || loops > MAX_LOOPS) {
            throw new IllegalArgumentException(what + " must be 1.." + MAX_LOOPS + ", got " + loops);
        }
        return loops;
    }

    /**
     * Starts the overlay and returns once it is ready: it forwards for its lease, the peers present at start are
     * routed (when the allocator {@link SubnetAllocator#reportsPeersListed() reports that}) and {@code subnet.env} is
     * written. Blocks while the network config is missing or invalid (the allocator logs why) and while the peers'
     * leases cannot be listed.
     *
     * @throws IOException if the underlay interface, the TUN device, {@code subnet.env}, the bridge or the engine
     *     cannot be set up (also when that fails for a lease re-acquired before the overlay was ready once), or the
     *     engine factory finds what the engine needs taken ({@link PacketEngineFactory#checkAvailable}, before the lease
     *     is acquired: the UDP engine's port on the underlay address), or the overlay was closed meanwhile; what was
     *     set up is closed again
     * @throws OutOfSubnetsException if no subnet is free
     * @throws InterruptedException if interrupted while waiting for etcd
     * @throws IllegalStateException if already started or closed
     */
    public void start() throws IOException, InterruptedException {
        synchronized (lock) {
            if (started || closed) {
                throw new IllegalStateException(closed ? "overlay is closed" : "overlay already started");
            }
            started = true;
        }
        try {
            readiness.progress("waiting for the network config");
            final NetworkConfig network = cfg.allocator().awaitNetworkConfig();
            config = network;
            final InterfaceAddresses addresses = UnderlayInterface.addressSource();
            final UnderlayInterface iface = UnderlayInterface.select(cfg.ifaces(), cfg.ifaceRegexes(),
                cfg.ifaceCanReach(), cfg.publicIp(), addresses);
            final int publicIp = cfg.publicIp().orElse(iface.address());
            final EngineEncryption encryption = EngineEncryption.create(cfg.encryption(), readPsk(cfg.pskFile()));
            // a host that may seal leaves room for the frame; off keeps flannel's MTU
            mtu = FlannelRules.mtu(iface.mtu()) - (encryption.on() ? EngineEncryption.OVERHEAD : 0);
            if (encryption.on()) {
                LOG.info("Encryption {}: {}", cfg.encryption(), encryption);
            }
            LOG.info("Using interface {} address {} (MTU {}), PublicIP {}; overlay MTU {}", iface.name(),
                Ipv4.format(iface.address()), iface.mtu(), Ipv4.format(publicIp), mtu);
            cfg.engineFactory().checkAvailable(iface.address(), network.backend().port());
            final Optional<Ipv4Prefix> previous = previousSubnet(cfg);
            readiness.progress("acquiring a lease");
            final Lease acquired = encryption.on()
                ? cfg.allocator().acquire(encryption.leaseAttrs(publicIp), previous)
                : cfg.allocator().acquire(publicIp, previous);
            lease.set(acquired);
            if (!previous.filter(acquired.subnet()::equals).isPresent()) {
                unrecorded = acquired; // until subnet.env names it, only this process knows the lease is this host's
            }
            events.post(() -> events.tell(l -> l.leaseAcquired(acquired)));
            LOG.info("Acquired lease {} (PublicIP {})", acquired.subnet(), Ipv4.format(publicIp));

            readiness.progress("configuring " + acquired.subnet());
            final TunDevice opened = cfg.offloads() ? cfg.tunFactory().openWithOffloads(cfg.tunName(), cfg.loops())
                : cfg.tunFactory().open(cfg.tunName(), cfg.loops());
            adopt(opened, () -> tun = opened);
            final HostConfigurator host = new HostConfigurator(cfg, opened, network.network(), mtu, previous);
            host.configure(acquired);
            final EngineSettings settings = new EngineSettings(iface.address(), network.backend().port(),
                network.network(), acquired.subnet(), mtu, cfg.acceptOnlyKnownPeers(), cfg.loops(),
                cfg.engineTuning(), cfg.strictSource(), encryption);
            final PacketEngine created = cfg.engineFactory().create(settings, opened, routes);
            adopt(created::close, () -> engine = created);
            created.start();
            readiness.progress("routing the peers' leases");
            synchronized (lock) {
                failIfClosed();
            }
            final LeaseFollower follower = new LeaseFollower(cfg, events, readiness, routes,
                network.backend().port(), host, created, lease, this::status, firstReady, previous.orElse(null));
            this.follower = follower;
            cfg.allocator().start(acquired, encryption.on() ? PeerKeyFollower.before(created, follower) : follower);
            if (!cfg.allocator().reportsPeersListed()) {
                follower.peersListed(); // this allocator does not say when: ready without waiting for peers
            }
            if (cfg.acceptOnlyKnownPeers()) {
                events.every(new UnknownSenderMonitor(created, cfg.unknownSenderCheck(), cfg.unknownSenderWarning()),
                    cfg.unknownSenderCheck());
            }
            events.every(new DropSummary(created::counters, cfg.unknownSenderCheck(), cfg.dropSummary()),
                cfg.unknownSenderCheck());
            if (!cfg.underlayCheck().isZero()) {
                events.every(new UnderlayWatch(cfg, addresses, created, follower::underlay, lease, events, iface,
                    publicIp, mtu, encryption.on() ? EngineEncryption.OVERHEAD : 0), cfg.underlayCheck());
            }
            awaitFirstReady();
            events.every(follower::checkHost, cfg.hostCheck());
        } catch (IOException | InterruptedException | RuntimeException e) {
            readiness.startFailed(e.getMessage());
            close();
            throw e;
        }
    }

    /** Reads the pre-shared key file; empty when none is set. */
    private static byte[] readPsk(final Path file) throws IOException {
        if (file == null) {
            return new byte[0];
        }
        final byte[] psk = java.nio.file.Files.readAllBytes(file);
        if (psk.length < 16) {
            throw new IOException("pre-shared key file " + file + " holds " + psk.length
                + " bytes; it needs at least 16 (e.g. head -c 32 /dev/urandom > " + file + ")");
        }
        return psk;
    }

    /**
     * Waits until the event thread made the overlay ready the first time (subnet.env written), or failed to.
     *
     * @throws IOException the failure, or that the overlay was closed meanwhile
     */
    private void awaitFirstReady() throws IOException, InterruptedException {
        try {
            firstReady.get();
        } catch (ExecutionException e) {
            final Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            throw new IOException(cause);
        }
    }

    /** Stores a resource opened by start() unless close() ran meanwhile, in which case it is closed again. */
    private void adopt(final Closeable resource, final Runnable store) throws IOException {
        synchronized (lock) {
            if (!closed) {
                store.run();
                return;
            }
        }
        resource.close();
        throw new IOException("overlay closed while starting");
    }

    /** Called under {@code lock}. */
    private void failIfClosed() throws IOException {
        if (closed) {
            throw new IOException("overlay closed while starting");
        }
    }

    /**
     * Returns a snapshot of the overlay's state. Safe from any thread; takes no lock and never waits (reads volatile
     * fields and the engine's counters).
     *
     * @return the status
     */
    public OverlayStatus status() {
        final Readiness.State r = readiness.current();
        final PacketEngine e = engine;
        final TunDevice t = tun;
        final NetworkConfig c = config;
        return new OverlayStatus(r.ready(), r.reason(), lease.get(), c == null ? null : c.network(), mtu,
            t == null ? null : t.name(), cfg.bridge(), routes.routes(),
            e == null ? TrafficCounters.ZERO : e.counters(), cfg.allocator().status(),
            e == null ? EngineOffloads.NONE : e.offloads(), e == null ? EncryptionStatus.OFF : e.encryption());
    }

    /**
     * Returns the route table the engine reads (peer subnet to PublicIP:port).
     *
     * @return the live route table; treat as read-only
     */
    public RouteTable routes() {
        return routes;
    }

    /**
     * Stops in order (allocator, event thread, engine, TUN device) and keeps the lease in etcd. Idempotent; the
     * bridge and {@code subnet.env} stay, as with flanneld. Only a lease that {@link #start()} acquired for a subnet
     * the old {@code subnet.env} did not name, and that neither {@code subnet.env} nor the lease file names (closed
     * during start-up, or {@code subnet.env} could not be written; once it is written the lease is kept, also when the
     * lease file then fails), is given back ({@link SubnetAllocator#release}): a later start would find a live lease
     * with this host's PublicIP and nothing showing it is this host's, and refuse it until it expires. From then on
     * the status is not-ready ("closed", or why start-up failed), queued events and retries are dropped and the
     * listener is not called again. Waits up to 5 s for an event handler that is running to finish, except when
     * called from a listener (on the event thread itself), which must not wait for itself.
     */
    @Override
    public void close() {
        final PacketEngine e;
        final TunDevice t;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            e = engine;
            t = tun;
        }
        readiness.close();
        firstReady.completeExceptionally(new IOException("overlay closed while starting"));
        final Lease giveBack = unrecorded;
        final LeaseFollower f = follower;
        if (giveBack != null && (f == null || f.giveBackUnrecorded())) {
            try {
                cfg.allocator().release(giveBack); // a later start could not tell it from another host's
            } catch (RuntimeException ex) {
                LOG.warn("Releasing lease {} failed", giveBack.subnet(), ex);
            }
        }
        try {
            cfg.allocator().close();
        } catch (RuntimeException ex) {
            LOG.warn("Closing the allocator failed", ex);
        }
        events.shutdown();
        if (e != null) {
            e.close();
        }
        if (t != null) {
            try {
                t.close();
            } catch (IOException ex) {
                LOG.warn("Closing TUN {} failed", t.name(), ex);
            }
        }
    }

    /**
     * Builds an {@link Overlay}. Setters validate their value at once ({@link IllegalArgumentException} naming the
     * setting); {@link #build()} checks that the required parts are present and hands the overlay an immutable copy of
     * the settings, so a setter called afterwards changes nothing in an overlay already built, and overlays built
     * from one builder share none of their own state (they do share the objects given to the builder, such as the
     * allocator and the listener). Not thread-safe.
     */
    public static final class Builder {
        private SubnetAllocator allocator;
        private Optional<Integer> publicIp = Optional.empty();
        private List<String> ifaces = List.of();
        private List<Pattern> ifaceRegexes = List.of();
        private Optional<Integer> ifaceCanReach = Optional.empty();
        private boolean ipMasq;
        private String tunName = FlannelRules.TUN_NAME_TEMPLATE;
        private int loops = DEFAULT_LOOPS;
        private Path subnetFile = SubnetEnv.DEFAULT_PATH;
        private String bridge;
        private boolean acceptOnlyKnownPeers = true;
        private boolean strictSource;
        private boolean offloads = true;
        private int tunTxQueueLength = TunSetup.DEFAULT_TX_QUEUE_LENGTH;
        private EngineTuning engineTuning = EngineTuning.defaults();
        private Encryption encryption = Encryption.OFF;
        private Path pskFile;
        private Path leaseFile;
        private OverlayListener listener = new OverlayListener() { };
        private TunDeviceFactory tunFactory;
        private PacketEngineFactory engineFactory;
        private BridgeConfigurator bridgeConfigurator;
        private Duration retryInitial = Duration.ofSeconds(1);
        private Duration retryMax = Duration.ofSeconds(30);
        private Duration unknownSenderCheck = Duration.ofSeconds(30);
        private Duration hostCheck = DEFAULT_HOST_CHECK;
        private Consumer<String> unknownSenderWarning = LOG::warn;
        private Consumer<String> dropSummary = LOG::warn;
        private Duration underlayCheck = DEFAULT_UNDERLAY_CHECK;

        private Builder() {
        }

        /**
         * Sets how often the underlay address is checked while the overlay runs (default
         * {@link Overlay#DEFAULT_UNDERLAY_CHECK}, one rtnetlink address dump each time), or turns the check off with
         * {@link Duration#ZERO} for a host agent that manages the addresses itself. When the address the engine is
         * bound to is gone, the engine moves to the address the interface criteria choose now and, unless
         * {@link #publicIp} was set, the lease's PublicIP is changed in place; an explicit PublicIP that is gone, or
         * no address at all, keeps the overlay not ready until it is back. See {@link Overlay}'s class documentation.
         *
         * @param every the interval, at least 10 ms, or zero for none
         * @return this builder
         * @throws IllegalArgumentException if negative or between zero and 10 ms
         */
        public Builder underlayCheck(final Duration every) {
            if (every.isNegative() || !every.isZero() && every.toMillis() < 10) {
                throw new IllegalArgumentException("underlayCheck: need zero (off) or at least 10 ms, got " + every);
            }
            this.underlayCheck = every;
            return this;
        }

        /**
         * Sets the backoff of re-configuration retries after a re-acquired lease (default 1 s doubling up to 30 s).
         * For tests.
         *
         * @param initial the first delay, at least 1 ms
         * @param max the cap, at least {@code initial}
         * @return this builder
         * @throws IllegalArgumentException if a delay is below 1 ms or {@code max < initial}
         */
        Builder retryBackoff(final Duration initial, final Duration max) {
            if (initial.toMillis() < 1 || max.compareTo(initial) < 0) {
                throw new IllegalArgumentException("retryBackoff: need 1 ms <= initial <= max, got " + initial
                    + " and " + max);
            }
            this.retryInitial = initial;
            this.retryMax = max;
            return this;
        }

        /**
         * Sets how often the UNKNOWN_SENDER drop counter is checked and where the warning goes (default every 30 s,
         * to this class's logger at WARN). For tests.
         *
         * @param every the check interval, at least 1 ms
         * @param warning receives the warning text
         * @return this builder
         * @throws IllegalArgumentException if the interval is below 1 ms
         */
        Builder unknownSenderCheck(final Duration every, final Consumer<String> warning) {
            if (every.toMillis() < 1) {
                throw new IllegalArgumentException("unknownSenderCheck: interval must be at least 1 ms, got " + every);
            }
            this.unknownSenderCheck = every;
            this.unknownSenderWarning = Objects.requireNonNull(warning, "warning");
            return this;
        }

        /**
         * Sets where the periodic drop summary goes (default this class's logger at WARN); it is written at the
         * unknown-sender check's interval. For tests.
         *
         * @param summary receives the summary line
         * @return this builder
         */
        Builder dropSummary(final Consumer<String> summary) {
            this.dropSummary = Objects.requireNonNull(summary, "summary");
            return this;
        }

        /**
         * Sets how often the TUN device and the bridge are compared with what the overlay set up, once it was ready,
         * and restored when someone else changed them (the launcher's {@code --iptables-resync}, which also paces its
         * host rules). A restore is logged at WARN naming what was changed; a part that cannot be restored keeps the
         * overlay not ready until a later check succeeds; a deleted TUN device is reported as
         * {@link OverlayListener#failed}. Default {@link #DEFAULT_HOST_CHECK}.
         *
         * @param every the interval, at least 1 s
         * @return this builder
         * @throws IllegalArgumentException if the interval is below 1 s
         */
        public Builder hostCheck(final Duration every) {
            if (every == null || every.compareTo(MIN_HOST_CHECK) < 0) {
                throw new IllegalArgumentException("hostCheck: interval must be at least " + MIN_HOST_CHECK.toSeconds()
                    + " s, got " + every);
            }
            this.hostCheck = every;
            return this;
        }

        /**
         * As {@link #hostCheck} without its 1 s floor. For tests.
         *
         * @param every the interval, at least 1 ms
         * @return this builder
         */
        Builder hostCheckForTests(final Duration every) {
            this.hostCheck = every;
            return this;
        }

        /**
         * Sets the subnet allocator (required), e.g. {@code overlay-etcd}'s.
         *
         * @param allocator the allocator; the overlay closes it
         * @return this builder
         */
        public Builder allocator(final SubnetAllocator allocator) {
            this.allocator = Objects.requireNonNull(allocator, "allocator");
            return this;
        }

        /**
         * Sets the PublicIP advertised in the lease ({@code --public-ip}); default: the underlay interface's address.
         *
         * @param publicIp a dotted-quad IPv4 address
         * @return this builder
         * @throws IllegalArgumentException if it is not an IPv4 address
         */
        public Builder publicIp(final String publicIp) {
            try {
                this.publicIp = Optional.of(Ipv4.parse(publicIp));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("publicIp: " + e.getMessage(), e);
            }
            return this;
        }

        /**
         * Sets the underlay interfaces to try in order, names or addresses ({@code --iface}); default: the interface
         * carrying the PublicIP, else the default route's.
         *
         * @param ifaces interface names or IPv4 addresses
         * @return this builder
         */
        public Builder ifaces(final List<String> ifaces) {
            this.ifaces = List.copyOf(ifaces);
            return this;
        }

        /**
         * Sets patterns that choose the underlay interface by address, then by name ({@code --iface-regex}), tried
         * after {@link #ifaces}; see {@link UnderlayInterface}. Default none.
         *
         * @param regexes regular expressions, found anywhere in an address or name
         * @return this builder
         * @throws IllegalArgumentException naming the pattern if one does not compile
         */
        public Builder ifaceRegexes(final List<String> regexes) {
            this.ifaceRegexes = UnderlayInterface.compile("ifaceRegex", regexes);
            return this;
        }

        /**
         * Sets an address whose route chooses the underlay interface ({@code --iface-can-reach}), tried after
         * {@link #ifaces} and {@link #ifaceRegexes}. Default none.
         *
         * @param address a dotted-quad IPv4 address, or {@code null} for none
         * @return this builder
         * @throws IllegalArgumentException if it is not an IPv4 address
         */
        public Builder ifaceCanReach(final String address) {
            try {
                this.ifaceCanReach = address == null ? Optional.empty() : Optional.of(Ipv4.parse(address));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("ifaceCanReach: " + e.getMessage(), e);
            }
            return this;
        }

        /**
         * Records whether the host masquerades traffic leaving the Network ({@code --ip-masq}), written as
         * {@code FLANNEL_IPMASQ} in {@code subnet.env} so Docker or CNI do not masquerade it again. The rules themselves
         * are the launcher's ({@link io.overlay.core.spi.TrafficManager}). Default {@code false}.
         *
         * @param ipMasq whether masquerade rules are installed
         * @return this builder
         */
        public Builder ipMasq(final boolean ipMasq) {
            this.ipMasq = ipMasq;
            return this;
        }

        /**
         * Sets the TUN device name or template; default {@value FlannelRules#TUN_NAME_TEMPLATE} as flanneld.
         *
         * @param tunName a name of at most 15 bytes, optionally with {@code %d}
         * @return this builder
         * @throws IllegalArgumentException if the name is empty, too long or has characters other than letters,
         *     digits, {@code _ . - %}
         */
        public Builder tunName(final String tunName) {
            if (tunName == null || !IFNAME.matcher(tunName).matches()) {
                throw new IllegalArgumentException("tunName: \"" + tunName + "\" is not a valid interface name "
                    + "(1-15 characters of letters, digits, _ . - and %d)");
            }
            this.tunName = tunName;
            return this;
        }

        /**
         * Sets the number of packet loops, each with its own TUN queue ({@code IFF_MULTI_QUEUE} when above 1);
         * default {@link #DEFAULT_LOOPS}.
         *
         * With more than one, loop <i>i</i> sends from UDP port {@code Port + i} (receiving stays on {@code Port} for
         * all, spread over the loops by source port), so that a peer's loops spread over this host's; flanneld and
         * one-loop hosts accept any source port.
         *
         * @param loops 1..{@link #MAX_LOOPS}
         * @return this builder
         * @throws IllegalArgumentException if outside 1..{@link #MAX_LOOPS}
         */
        public Builder loops(final int loops) {
            this.loops = checkLoops("loops", loops);
            return this;
        }

        /**
         * Sets where {@code subnet.env} is written ({@code --subnet-file}); default {@link SubnetEnv#DEFAULT_PATH};
         * {@code null} writes none.
         *
         * @param subnetFile the path, or {@code null}
         * @return this builder
         */
        public Builder subnetFile(final Path subnetFile) {
            this.subnetFile = subnetFile;
            return this;
        }

        /**
         * Sets the container bridge to create or reuse (e.g. {@code lxcbr0}); default none.
         *
         * @param bridge the bridge name, at most 15 characters, or {@code null} for none
         * @return this builder
         * @throws IllegalArgumentException if the name is not a valid interface name
         */
        public Builder bridge(final String bridge) {
            if (bridge != null && (!IFNAME.matcher(bridge).matches() || bridge.contains("%"))) {
                throw new IllegalArgumentException("bridge: \"" + bridge + "\" is not a valid interface name "
                    + "(1-15 characters of letters, digits, _ . -)");
            }
            this.bridge = bridge;
            return this;
        }

        /**
         * Accept datagrams only from known peers' PublicIPs (default {@code true}); turn off behind NAT. While on,
         * a WARN is logged at most every 30 s when datagrams from unknown senders were dropped.
         *
         * @param accept whether to filter by sender
         * @return this builder
         */
        public Builder acceptOnlyKnownPeers(final boolean accept) {
            this.acceptOnlyKnownPeers = accept;
            return this;
        }

        /**
         * Strict source mode (default {@code false}): accept from a peer only packets whose inner source lies in that
         * peer's leased subnet, dropping others as {@link DropReason#SPOOFED_SOURCE}. It narrows what a host that can
         * send from a peer's PublicIP (or spoof it on the underlay) can inject; encryption is the real answer to
         * spoofing. Off by default because peers legitimately forward traffic with other sources: NodePort and
         * masqueraded flows carry the sending node's own underlay address, routed or DNAT-ed flows their outside
         * source. Needs {@link #acceptOnlyKnownPeers} on. See {@link EngineSettings#strictSource()}.
         *
         * @param strict whether to check inner sources
         * @return this builder
         */
        public Builder strictSource(final boolean strict) {
            this.strictSource = strict;
            return this;
        }

        /**
         * Whether to use offloads (default {@code true}): the TUN is opened with {@link
         * TunDeviceFactory#openWithOffloads} (TSO super-packets in, coalesced TCP out) and the engine uses UDP GSO/GRO
         * where the kernel allows, falling back to the plain path feature by feature. The wire format is the same
         * either way (one inner IPv4 packet of at most the MTU per datagram, as flannel sends).
         *
         * @param offloads {@code false} for the plain path (one packet per TUN read/write)
         * @return this builder
         */
        public Builder offloads(final boolean offloads) {
            this.offloads = offloads;
            return this;
        }

        /**
         * Sets how the packet engine batches and offloads: packets per {@code recvmmsg}/{@code sendmmsg} and per TUN
         * read pass, and whether it may use UDP GSO and UDP GRO (each only where the kernel accepts it; the datagrams
         * on the wire are flannel's either way). Default {@link EngineTuning#defaults()}, which reads the
         * {@code overlay.udp.*} system properties.
         *
         * @param tuning the tuning
         * @return this builder
         * @throws NullPointerException if {@code tuning} is null
         */
        public Builder engineTuning(final EngineTuning tuning) {
            this.engineTuning = Objects.requireNonNull(tuning, "tuning");
            return this;
        }

        /**
         * Sets the TUN device's transmit queue length ({@code txqueuelen}): how many packets routed into the TUN the
         * kernel holds for the engine to read before dropping them (as TX dropped of the device). Default
         * {@link TunSetup#DEFAULT_TX_QUEUE_LENGTH} (2000), which absorbs the engine's pauses at tens of thousands of
         * packets per second; the kernel's own default, which flanneld keeps, is 500. An overlay setting, not
         * flannel's: the wire format is the same either way. Applied with the rest of the TUN set-up, at start and
         * after a re-acquired lease.
         *
         * @param packets 1..{@value TunSetup#MAX_TX_QUEUE_LENGTH}, or 0 to leave the device's value as it is
         * @return this builder
         * @throws IllegalArgumentException naming the setting and the value if it is out of range
         */
        public Builder tunTxQueueLength(final int packets) {
            this.tunTxQueueLength = TunSetup.checkTxQueueLength("tunTxQueueLength", packets);
            return this;
        }

        /**
         * Sets whether datagrams to other overlay hosts are sealed ({@code --encryption}); default
         * {@link Encryption#OFF}, which keeps flannel's lease value, datagrams and MTU byte for byte. With
         * {@link Encryption#PREFERRED} or {@link Encryption#REQUIRED} the host makes a new X25519 key pair at every
         * start, publishes its public key in the lease's {@code BackendData}, seals AES-256-GCM frames to peers that
         * publish one and lowers the TUN MTU by {@link EngineEncryption#OVERHEAD} bytes; see {@code docs/encryption.md}.
         *
         * @param encryption the mode
         * @return this builder
         */
        public Builder encryption(final Encryption encryption) {
            this.encryption = Objects.requireNonNull(encryption, "encryption");
            return this;
        }

        /**
         * Sets a pre-shared key file ({@code --psk-file}) whose bytes are mixed into every derived key, so that write
         * access to etcd alone does not let a host in; every host of the network needs the same file. Read at start.
         * Default none.
         *
         * @param pskFile the file (at least 16 bytes, e.g. {@code head -c 32 /dev/urandom}), or {@code null}
         * @return this builder
         */
        public Builder pskFile(final Path pskFile) {
            this.pskFile = pskFile;
            return this;
        }

        /**
         * Sets a lease file ({@code --lease-file}): a copy of {@code subnet.env} (same format), written atomically
         * whenever {@code subnet.env} is, and read as the previous subnet when {@code subnet.env} is missing. Put it
         * on persistent storage: {@code subnet.env} lives on tmpfs ({@code /run/flannel}) and is gone after a reboot,
         * and without a previous subnet the live lease carrying this host's PublicIP is refused as another host's
         * until its etcd lease expires. Default none.
         *
         * @param leaseFile the path, e.g. {@code /var/lib/overlay/lease.env}, or {@code null} for none
         * @return this builder
         */
        public Builder leaseFile(final Path leaseFile) {
            this.leaseFile = leaseFile;
            return this;
        }

        /**
         * Sets the listener for lease, peer and readiness events; default none.
         *
         * @param listener the listener; must not block
         * @return this builder
         */
        public Builder listener(final OverlayListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /**
         * Sets the TUN device factory; default the one found by {@link ServiceLoader} ({@code overlay-tun}).
         *
         * @param factory the factory
         * @return this builder
         */
        public Builder tunDeviceFactory(final TunDeviceFactory factory) {
            this.tunFactory = Objects.requireNonNull(factory, "tunDeviceFactory");
            return this;
        }

        /**
         * Sets the packet engine factory; default the one found by {@link ServiceLoader} ({@code overlay-udp}).
         *
         * @param factory the factory
         * @return this builder
         */
        public Builder packetEngineFactory(final PacketEngineFactory factory) {
            this.engineFactory = Objects.requireNonNull(factory, "packetEngineFactory");
            return this;
        }

        /**
         * Sets the bridge configurator; default the one found by {@link ServiceLoader} ({@code overlay-tun}).
         *
         * @param configurator the configurator
         * @return this builder
         */
        public Builder bridgeConfigurator(final BridgeConfigurator configurator) {
            this.bridgeConfigurator = Objects.requireNonNull(configurator, "bridgeConfigurator");
            return this;
        }

        /**
         * Builds the overlay from a copy of the current settings; nothing is opened until {@link Overlay#start()}.
         * Parts not given are found with {@link ServiceLoader}, afresh for every overlay.
         *
         * @return the overlay
         * @throws IllegalStateException naming the missing part: no allocator, or no TUN factory, engine factory or
         *     (with a bridge) bridge configurator given or on the class path; or strict source mode without
         *     {@link #acceptOnlyKnownPeers}
         */
        public Overlay build() {
            if (strictSource && !acceptOnlyKnownPeers) {
                throw new IllegalStateException("strictSource(true) needs acceptOnlyKnownPeers(true): a sender that "
                    + "is not a peer's PublicIP owns no subnet to check the inner source against");
            }
            final List<String> missing = new ArrayList<>();
            if (allocator == null) {
                missing.add("allocator (e.g. overlay-etcd's EtcdSubnetAllocator)");
            }
            final TunDeviceFactory tuns = orLoad(tunFactory, TunDeviceFactory.class,
                "tunDeviceFactory (add overlay-tun to the class path)", missing);
            final PacketEngineFactory engines = orLoad(engineFactory, PacketEngineFactory.class,
                "packetEngineFactory (add overlay-udp to the class path)", missing);
            final BridgeConfigurator bridges = bridge == null ? bridgeConfigurator : orLoad(bridgeConfigurator,
                BridgeConfigurator.class, "bridgeConfigurator (add overlay-tun to the class path)", missing);
            if (!missing.isEmpty()) {
                throw new IllegalStateException("Overlay.builder() is missing: " + String.join(", ", missing));
            }
            return new Overlay(new OverlayConfig(allocator, publicIp, ifaces, ifaceRegexes, ifaceCanReach, ipMasq,
                tunName, loops, subnetFile, bridge, acceptOnlyKnownPeers, offloads, tunTxQueueLength, engineTuning,
                listener, tuns, engines, bridges, retryInitial, retryMax, unknownSenderCheck, unknownSenderWarning,
                dropSummary, strictSource, encryption, pskFile, leaseFile, underlayCheck, hostCheck));
        }

        /** The part given, else the first found by {@link ServiceLoader}, else {@code null} with a note in missing. */
        private static <T> T orLoad(final T given, final Class<T> type, final String whatIsMissing,
                                    final List<String> missing) {
            if (given != null) {
                return given;
            }
            final T found = ServiceLoader.load(type).findFirst().orElse(null);
            if (found == null) {
                missing.add(whatIsMissing);
            }
            return found;
        }
    }
}
