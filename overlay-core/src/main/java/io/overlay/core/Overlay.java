package io.overlay.core;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One host's membership in a flannel-compatible overlay: the facade that composes a {@link SubnetAllocator}, a
 * {@link TunDevice} and a {@link PacketEngine} (and optionally a container bridge) into what flanneld's udp backend
 * does (flannel reference §2.1):
 * <ol>
 * <li>read the network config (waiting while it is missing or invalid);</li>
 * <li>choose the underlay interface and its MTU; the overlay MTU is that minus 28;</li>
 * <li>acquire a lease (reusing the previous subnet from {@code subnet.env});</li>
 * <li>open the TUN ({@code flannel%d}) with the subnet address as /32, the MTU, and the whole Network routed to it;</li>
 * <li>write {@code subnet.env} atomically; create or reuse the bridge with the subnet's first host address;</li>
 * <li>start the engine, then keep the lease and follow peers' leases into the route table.</li>
 * </ol>
 *
 * <pre>{@code
 * try (Overlay overlay = Overlay.builder()
 *         .allocator(EtcdSubnetAllocator.builder().endpoints("http://127.0.0.1:2379").build())
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
 * <p>The TUN factory, engine factory and bridge configurator default to the implementations found with
 * {@link ServiceLoader} ({@code overlay-tun}, {@code overlay-udp}). Listener calls happen on one overlay thread.
 * {@link #close()} shuts down in order (allocator, engine, TUN) and keeps the lease, so a restart gets the same subnet.
 */
public final class Overlay implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.%-]{1,15}");

    private final Builder cfg;
    private final RouteTable routes = new RouteTable();
    private final ExecutorService events = Executors.newSingleThreadExecutor(r -> {
        final Thread t = new Thread(r, "overlay-events");
        t.setDaemon(true);
        return t;
    });
    private final Object lock = new Object();
    private final Map<Ipv4Prefix, Lease> peers = new LinkedHashMap<>();

    private volatile boolean ready;
    private volatile String reason = "starting";
    private volatile Lease lease;
    private volatile NetworkConfig config;
    private volatile int mtu;
    private TunDevice tun;
    private PacketEngine engine;
    private boolean started;
    private boolean closed;

    private Overlay(final Builder cfg) {
        this.cfg = cfg;
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
     * Starts the overlay and returns once it forwards for its lease (ready). Blocks while the network config is
     * missing or invalid (the allocator logs why).
     *
     * @throws IOException if the underlay interface, the TUN device, {@code subnet.env}, the bridge or the engine
     *     cannot be set up; what was set up is closed again
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
            progress("waiting for the network config");
            config = cfg.allocator.awaitNetworkConfig();
            final UnderlayInterface iface = UnderlayInterface.select(cfg.ifaces, cfg.publicIp);
            final int publicIp = cfg.publicIp.orElse(iface.address());
            mtu = FlannelRules.mtu(iface.mtu());
            LOG.info("Using interface {} address {} (MTU {}), PublicIP {}; overlay MTU {}", iface.name(),
                Ipv4.format(iface.address()), iface.mtu(), Ipv4.format(publicIp), mtu);
            final Optional<Ipv4Prefix> previous = cfg.subnetFile == null ? Optional.empty()
                : SubnetEnv.readPreviousSubnet(cfg.subnetFile);
            progress("acquiring a lease");
            final Lease acquired = cfg.allocator.acquire(publicIp, previous);
            lease = acquired;
            fire(l -> l.leaseAcquired(acquired));
            LOG.info("Acquired lease {} (PublicIP {})", acquired.subnet(), Ipv4.format(publicIp));

            progress("configuring " + acquired.subnet());
            synchronized (lock) {
                failIfClosed();
                tun = cfg.offloads ? cfg.tunFactory.openWithOffloads(cfg.tunName, cfg.loops)
                    : cfg.tunFactory.open(cfg.tunName, cfg.loops);
            }
            applySubnet(acquired);
            final EngineSettings settings = new EngineSettings(iface.address(), config.backend().port(),
                config.network(), acquired.subnet(), mtu, cfg.acceptOnlyKnownPeers, cfg.loops);
            synchronized (lock) {
                failIfClosed();
                engine = cfg.engineFactory.create(settings, tun, routes);
                engine.start();
            }
            cfg.allocator.start(acquired, new Events());
            markReady();
        } catch (IOException | InterruptedException | RuntimeException e) {
            synchronized (lock) {
                if (!closed) {
                    reason = "start failed: " + e.getMessage();
                }
            }
            close();
            throw e;
        }
    }

    /** Records the start-up step for {@link #status()} ("not-ready <step>"), unless already closed. */
    private void progress(final String step) {
        synchronized (lock) {
            if (!closed) {
                reason = step;
            }
        }
    }

    /** Called under {@code lock}: a close() during start() must not be followed by opening more resources. */
    private void failIfClosed() throws IOException {
        if (closed) {
            throw new IOException("overlay closed while starting");
        }
    }

    /** Configures everything that depends on the subnet: TUN address and route, subnet.env, bridge. */
    private void applySubnet(final Lease l) throws IOException {
        final NetworkConfig c = config;
        tun.configure(new TunSetup(FlannelRules.tunAddress(l.subnet()), mtu, List.of(c.network())));
        if (cfg.subnetFile != null) {
            new SubnetEnv(c.network(), l.subnet(), mtu, false).write(cfg.subnetFile);
        }
        if (cfg.bridge != null) {
            cfg.bridgeConfigurator.ensureBridge(cfg.bridge, l.subnet(), FlannelRules.bridgeAddress(l.subnet()),
                c.network(), mtu);
        }
    }

    private void markReady() {
        ready = true;
        reason = "";
        final OverlayStatus s = status();
        LOG.info("{}", s.healthLine());
        fire(l -> l.ready(s));
    }

    private void fire(final java.util.function.Consumer<OverlayListener> event) {
        post(() -> event.accept(cfg.listener));
    }

    /** Runs a task on the overlay event thread; a handler's exception is logged, never propagated. */
    private void post(final Runnable task) {
        try {
            events.execute(() -> {
                try {
                    task.run();
                } catch (RuntimeException e) {
                    LOG.warn("Overlay event handler threw; ignored", e);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // closed: no more events
        }
    }

    /** Applies allocator events on the overlay event thread, then tells the user's listener. */
    private final class Events implements LeaseListener {
        @Override
        public void leaseRenewed(final Lease l) {
            post(() -> {
                lease = l;
                cfg.listener.leaseRenewed(l);
            });
        }

        @Override
        public void leaseLost(final Lease l) {
            post(() -> {
                ready = false;
                reason = "lease " + l.subnet() + " lost; re-acquiring";
                LOG.warn("Lease {} lost; stopped advertising it, re-acquiring", l.subnet());
                cfg.listener.leaseLost(l);
                cfg.listener.notReady(reason);
            });
        }

        @Override
        public void leaseReacquired(final Lease previous, final Lease current) {
            post(() -> {
                try {
                    lease = current;
                    if (!previous.subnet().equals(current.subnet())) {
                        LOG.warn("Subnet changed from {} to {}; reconfiguring", previous.subnet(), current.subnet());
                        synchronized (lock) {
                            if (closed) {
                                return;
                            }
                            applySubnet(current);
                            engine.localSubnet(current.subnet());
                        }
                    }
                    cfg.listener.leaseReacquired(previous, current);
                    markReady();
                } catch (IOException | RuntimeException e) {
                    ready = false;
                    reason = "reconfiguring for " + current.subnet() + " failed: " + e.getMessage();
                    LOG.error("Reconfiguring for subnet {} failed", current.subnet(), e);
                    cfg.listener.notReady(reason);
                }
            });
        }

        @Override
        public void peerAdded(final Lease l) {
            post(() -> {
                routes.put(l.subnet(), l.peer(config.backend().port()));
                synchronized (lock) {
                    peers.put(l.subnet(), l);
                }
                LOG.info("Subnet added: {} via {}", l.subnet(), Ipv4.format(l.attrs().publicIp()));
                cfg.listener.peerAdded(l);
            });
        }

        @Override
        public void peerChanged(final Lease previous, final Lease current) {
            post(() -> {
                routes.put(current.subnet(), current.peer(config.backend().port()));
                synchronized (lock) {
                    peers.put(current.subnet(), current);
                }
                LOG.info("Subnet changed: {} now via {}", current.subnet(), Ipv4.format(current.attrs().publicIp()));
                cfg.listener.peerChanged(previous, current);
            });
        }

        @Override
        public void peerRemoved(final Lease l) {
            post(() -> {
                routes.remove(l.subnet());
                synchronized (lock) {
                    peers.remove(l.subnet());
                }
                LOG.info("Subnet removed: {}", l.subnet());
                cfg.listener.peerRemoved(l);
            });
        }
    }

    /**
     * Returns a snapshot of the overlay's state. Safe from any thread.
     *
     * @return the status
     */
    public OverlayStatus status() {
        final PacketEngine e;
        final TunDevice t;
        synchronized (lock) {
            e = engine;
            t = tun;
        }
        final NetworkConfig c = config;
        return new OverlayStatus(ready, reason, lease, c == null ? null : c.network(), mtu,
            t == null ? null : t.name(), cfg.bridge, routes.routes(),
            e == null ? new TrafficCounters(0, 0, 0, 0, 0, Map.of()) : e.counters());
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
     * Stops in order (allocator, engine, TUN device) and keeps the lease in etcd. Idempotent; the bridge and
     * {@code subnet.env} stay, as with flanneld.
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
            ready = false;
            if (!reason.startsWith("start failed")) {
                reason = "closed";
            }
            e = engine;
            t = tun;
        }
        try {
            cfg.allocator.close();
        } catch (RuntimeException ex) {
            LOG.warn("Closing the allocator failed", ex);
        }
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
        events.shutdown();
        try {
            events.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Builds an {@link Overlay}. Setters validate at once ({@link IllegalArgumentException} naming the setting);
     * {@link #build()} checks that the required parts are present.
     */
    public static final class Builder {
        private SubnetAllocator allocator;
        private Optional<Integer> publicIp = Optional.empty();
        private List<String> ifaces = List.of();
        private String tunName = "flannel%d";
        private int loops = 1;
        private Path subnetFile = SubnetEnv.DEFAULT_PATH;
        private String bridge;
        private boolean acceptOnlyKnownPeers = true;
        private boolean offloads = true;
        private OverlayListener listener = new OverlayListener() { };
        private TunDeviceFactory tunFactory;
        private PacketEngineFactory engineFactory;
        private BridgeConfigurator bridgeConfigurator;

        private Builder() {
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
         * Sets the TUN device name or template; default {@code flannel%d} as flanneld.
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
         * default 1.
         *
         * @param loops 1..64
         * @return this builder
         * @throws IllegalArgumentException if outside 1..64
         */
        public Builder loops(final int loops) {
            if (loops < 1 || loops > 64) {
                throw new IllegalArgumentException("loops: must be 1..64, got " + loops);
            }
            this.loops = loops;
            return this;
        }

        /**
         * Sets where {@code subnet.env} is written ({@code --subnet-file}); default {@code /run/flannel/subnet.env};
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
         * Accept datagrams only from known peers' PublicIPs (default {@code true}); turn off behind NAT.
         *
         * @param accept whether to filter by sender
         * @return this builder
         */
        public Builder acceptOnlyKnownPeers(final boolean accept) {
            this.acceptOnlyKnownPeers = accept;
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
         * Validates and builds the overlay; nothing is opened until {@link Overlay#start()}.
         *
         * @return the overlay
         * @throws IllegalStateException naming the missing part: no allocator, or no TUN factory, engine factory or
         *     (with a bridge) bridge configurator given or on the class path
         */
        public Overlay build() {
            final List<String> missing = new ArrayList<>();
            if (allocator == null) {
                missing.add("allocator (e.g. overlay-etcd's EtcdSubnetAllocator)");
            }
            if (tunFactory == null) {
                tunFactory = ServiceLoader.load(TunDeviceFactory.class).findFirst().orElse(null);
                if (tunFactory == null) {
                    missing.add("tunDeviceFactory (add overlay-tun to the class path)");
                }
            }
            if (engineFactory == null) {
                engineFactory = ServiceLoader.load(PacketEngineFactory.class).findFirst().orElse(null);
                if (engineFactory == null) {
                    missing.add("packetEngineFactory (add overlay-udp to the class path)");
                }
            }
            if (bridge != null && bridgeConfigurator == null) {
                bridgeConfigurator = ServiceLoader.load(BridgeConfigurator.class).findFirst().orElse(null);
                if (bridgeConfigurator == null) {
                    missing.add("bridgeConfigurator (add overlay-tun to the class path)");
                }
            }
            if (!missing.isEmpty()) {
                throw new IllegalStateException("Overlay.builder() is missing: " + String.join(", ", missing));
            }
            return new Overlay(this);
        }
    }
}
