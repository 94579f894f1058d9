package io.overlay.udp;

import io.netty.channel.IoEventLoop;
import io.netty.channel.IoHandle;
import io.netty.channel.IoRegistration;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutor;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.EncryptionStatus;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.EngineOffloads;
import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.EngineTuning;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.core.spi.TunDevice;
import io.overlay.udp.crypto.PeerSessions;
import io.overlay.udp.offload.VirtioNetHdr;
import java.io.IOException;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * flannel's udp backend data plane on Netty 4.2 epoll: IPv4 packets read from the TUN go as raw UDP payloads to the
 * PublicIP of the peer owning the destination subnet, and datagrams received are written to the TUN (flannel v0.20.2
 * {@code backend/udp/proxy_amd64.c}; see {@code docs/flannel-compatibility.md}). Wire-compatible with flanneld's udp
 * backend; stricter about what it accepts.
 *
 * <p><b>Threads.</b> {@link EngineSettings#loops()} event loops ({@code MultiThreadIoEventLoopGroup} with
 * {@code EpollIoHandler}); loop {@code i} serves TUN queue {@code i} and its own UDP socket, both registered as
 * {@link io.netty.channel.epoll.EpollIoHandle}s on the same thread, so a packet never changes thread. With more than
 * one loop the sockets share the port through {@code SO_REUSEPORT} and the TUN must be multi-queue. The packet path
 * is {@link ForwardingLoop}.
 *
 * <p><b>I/O.</b> The TUN fd is read and written through Netty's {@code FileDescriptor} (JNI, one packet per call, no
 * allocation). The UDP socket is not a Netty channel: it is a plain fd driven with {@code recvmmsg}/{@code sendmmsg}
 * (with UDP GSO for runs of equal-size packets) over pre-built message arrays, because that is the only way to get
 * batching, the sender address of every datagram and the {@code MSG_TRUNC} flag without allocating per packet (Netty's
 * datagram channel and {@code Socket.recvFrom}/{@code sendTo} allocate address objects; see {@code LinuxUdp}). Our own
 * msghdr/cmsg buffers carry the UDP GRO segment size, so Netty's own handling of {@code UDP_GRO} with recvmmsg is not
 * involved.
 *
 * <p><b>Offloads</b> follow the device and {@link EngineSettings#tuning()}: when the TUN was opened with a
 * {@code virtio_net_hdr} ({@link TunDevice#vnetHeaderLength()} 10, e.g. {@code TunDeviceFactory.openWithOffloads}),
 * each loop reads TSO super-packets and segments them in software exactly as the kernel would, receives with
 * {@code UDP_GRO} (when the tuning asks for it and the kernel accepts it) and coalesces in-order TCP segments into
 * super-packets for the TUN; with a plain TUN it runs the plain path. {@code UDP_SEGMENT} is used when the tuning asks
 * for it and the kernel supports it. What is in use is reported by {@link #offloads()} and logged once. Every datagram on the wire carries exactly one inner IPv4
 * packet of at most the MTU either way, as flanneld sends, so hosts with and without offloads interoperate.
 *
 * <p><b>Counters.</b> Packets and bytes per direction count inner packets actually sent or written; every packet not
 * forwarded is counted under one {@link DropReason}. Drops inside the kernel (a full TUN queue, a full socket
 * receive buffer) are not visible here.
 *
 * <p><b>Namespaces.</b> {@link #start()} creates the UDP sockets in the calling thread's network namespace.
 *
 * <p><b>Control.</b> Routes are read from the {@link RouteTable} (lock-free snapshot, written by the allocator's
 * thread); the local subnet changes by a command each loop executes ({@link #localSubnet}). {@link #counters()} and
 * {@link #localSubnet} are safe from any thread; {@link #start()} and {@link #close()} are serialised.
 */
public final class UdpPacketEngine implements PacketEngine {
    /** Requested socket send and receive buffer, in bytes (forced past the sysctl limits when root). */
    public static final int SOCKET_BUFFER_BYTES = 4 << 20;
    /**
     * System property: {@code false} keeps every loop on the listen port (flannel's single source port) when there
     * are several loops; anything else spreads the loops over source ports (see {@code EngineSockets.openSendSockets}).
     */
    public static final String SPREAD_PORTS_PROP_NAME = "overlay.udp.spreadSourcePorts";

    private static final Logger LOG = LoggerFactory.getLogger(UdpPacketEngine.class);

    private final EngineSettings settings;
    private final TunDevice device;
    private final RouteTable routes;
    private final Object lifecycle = new Object();
    /** The UDP sockets; the engine's lifecycle lock guards them. Package-private for the rebind tests' hooks. */
    final EngineSockets sockets;
    private volatile Ipv4Prefix localSubnet;
    private volatile ForwardingLoop[] loops = new ForwardingLoop[0];
    private volatile IoEventLoop[] executors = new IoEventLoop[0];
    /** The peer sessions when encryption is on, else {@code null}. */
    private final PeerSessions sessions;
    private MultiThreadIoEventLoopGroup group;
    private boolean started;

    private boolean closed;

    /**
     * Creates an engine; nothing is opened until {@link #start()}.
     *
     * @param settings the engine settings
     * @param device the TUN device with {@code settings.loops()} queues; the engine never closes it
     * @param routes the route table, written by the caller
     * @throws IllegalArgumentException if an argument is null or the device's queue count differs from
     *     {@code settings.loops()}
     */
    public UdpPacketEngine(final EngineSettings settings, final TunDevice device, final RouteTable routes) {
        if (settings == null || device == null || routes == null) {
            throw new IllegalArgumentException("settings, device and routes are required");
        }
        if (device.queueCount() != settings.loops()) {
            throw new IllegalArgumentException("TUN " + device.name() + " has " + device.queueCount()
                + " queue(s) but the engine is set up for " + settings.loops() + " loop(s); they must match");
        }
        this.settings = settings;
        this.device = device;
        this.routes = routes;
        this.localSubnet = settings.localSubnet();
        this.sockets = new EngineSockets(settings.port());
        final EngineEncryption enc = settings.encryption();
        this.sessions = enc.on() ? new PeerSessions(enc.mode(), enc.keyPair(), enc.publicKey(), enc.psk(),
            settings.loops()) : null;
    }

    /**
     * Binds one UDP socket per loop to {@code bindAddress:port} and registers it and the TUN queue on the loop.
     *
     * @throws IOException if a socket cannot be created or bound (the message names address, port and the error)
     * @throws IllegalStateException if already started or closed
     * @throws UnsatisfiedLinkError if Netty's native epoll transport is unavailable
     */
    @Override
    public void start() throws IOException {
        synchronized (lifecycle) {
            if (closed || started) {
                throw new IllegalStateException("UDP packet engine already " + (closed ? "closed" : "started"));
            }
            Epoll.ensureAvailability();
            final int n = settings.loops();
            sockets.open(settings.bindAddress(), n);
            group = new MultiThreadIoEventLoopGroup(n, new DefaultThreadFactory("overlay-udp", true),
                EpollIoHandler.newFactory());
            try {
                registerLoops(n);
            } catch (RuntimeException | Error e) {
                group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
                group = null;
                sockets.close();
                throw e;
            }
            started = true;
            if (sessions != null) {
                LOG.info("Encryption {}: AES-256-GCM through {}; public key {}", settings.encryption().mode(),
                    io.overlay.udp.crypto.Gcm.description(), sessions.status().publicKey());
            }
            LOG.info("UDP engine up: {} loop(s) on {}:{}, TUN {} (MTU {}), network {}, local subnet {}, "
                    + "known peers only: {}, strict source: {}, encryption {}", n, Ipv4.format(settings.bindAddress()),
                settings.port(), device.name(), settings.mtu(), settings.network(), localSubnet,
                settings.acceptOnlyKnownPeers(), settings.strictSource(), settings.encryption().mode());
        }
    }

    /** Creates each loop's state and registers TUN queue i and UDP socket i on event loop i. */
    private void registerLoops(final int n) {
        final int vnet = device.vnetHeaderLength();
        if (vnet != 0 && vnet != VirtioNetHdr.LENGTH) {
            throw new IllegalStateException("TUN " + device.name() + " has a " + vnet
                + "-byte vnet header; only 0 or 10 (struct virtio_net_hdr) is supported");
        }
        final EngineTuning tuning = settings.tuning();
        final boolean gso = tuning.udpGso() && LinuxUdp.supportsGso(sockets.receive(0).intValue());
        final ForwardingLoop[] newLoops = new ForwardingLoop[n];
        final IoEventLoop[] newExecutors = new IoEventLoop[n];
        final IoRegistration[] registrations = new IoRegistration[n];
        final Iterator<EventExecutor> it = group.iterator();
        for (int i = 0; i < n; i++) {
            final IoEventLoop executor = (IoEventLoop) it.next();
            final FileDescriptor udp = sockets.receive(i);
            final FileDescriptor tun = new FileDescriptor(device.fileDescriptor(i));
            final boolean gro = vnet > 0 && tuning.udpGro() && LinuxUdp.enableGro(udp.intValue());
            final ForwardingLoop loop = ForwardingLoop.create(tun, udp.intValue(), sockets.send(i).intValue(), i,
                routes,
                new LoopConfig(settings.network(), localSubnet, settings.mtu(), settings.acceptOnlyKnownPeers(), vnet,
                    tuning.batchSize(), gso, gro, settings.strictSource()), sessions);
            newLoops[i] = loop;
            newExecutors[i] = executor;
            registrations[i] = register(executor, new FdHandle.Udp(udp, loop));
            register(executor, new FdHandle.Tun(tun, loop));
        }
        loops = newLoops;
        executors = newExecutors;
        sockets.attach(newLoops, newExecutors, registrations);
        final EngineOffloads on = offloads();
        LOG.info("UDP engine offloads: TUN virtio_net_hdr {}{}, UDP GSO {}, UDP GRO {}, TCP coalescing {}, batch {}",
            vnet > 0 ? "on" : "off", vnet > 0 ? " (" + tunFeatures(device.offloadFlags()) + ")" : "",
            on.udpGso() ? "on" : "off", on.udpGro() ? "on" : "off", vnet > 0 ? "on" : "off", tuning.batchSize());
    }

    /**
     * Returns the offloads in use: the TUN's {@code virtio_net_hdr}, and UDP GSO and GRO where every loop uses them
     * (a loop that met a GSO refusal sends without it from then on; a loop whose new socket refused GRO at a
     * {@link #rebind} receives without it on that socket).
     *
     * @return the offloads; {@link EngineOffloads#NONE} before start
     */
    @Override
    public EngineOffloads offloads() {
        final ForwardingLoop[] current = loops;
        if (current.length == 0) {
            return EngineOffloads.NONE;
        }
        boolean vnet = true;
        boolean gso = true;
        boolean gro = true;
        for (ForwardingLoop loop : current) {
            vnet &= loop.offloads();
            gso &= loop.gsoActive();
            gro &= loop.groActive();
        }
        return new EngineOffloads(vnet, gso, gro);
    }

    /** Names the {@code TUN_F_*} bits of {@code flags}, e.g. {@code CSUM,TSO4,USO4,USO6}. */
    static String tunFeatures(final int flags) {
        final StringBuilder b = new StringBuilder();
        final String[] names = {"CSUM", "TSO4", "TSO6", "TSO_ECN", "UFO", "USO4", "USO6"};
        for (int i = 0; i < names.length; i++) {
            if ((flags & (1 << i)) != 0) {
                b.append(b.length() == 0 ? "" : ",").append(names[i]);
            }
        }
        return b.length() == 0 ? "no TUN_F offloads" : "TUN_F " + b;
    }

    private static IoRegistration register(final IoEventLoop executor, final IoHandle handle) {
        final IoRegistration registration = executor.register(handle).syncUninterruptibly().getNow();
        executor.submit(() -> registration.submit(EpollIoOps.EPOLLIN)).syncUninterruptibly();
        return registration;
    }

    /**
     * {@inheritDoc}
     *
     * <p>All or nothing. Opens the new sockets (port, {@code SO_REUSEPORT} group, source-port steering and send ports
     * as at start) on loop 0's thread, so in the network namespace the engine started in, whatever thread calls; then
     * prepares every loop, registering its new socket edge-triggered (a datagram arriving before the switch wakes the
     * loop once and is read after it) and asking for UDP GRO when the loop was set up with it (a refusal is logged
     * and that loop receives datagram by datagram there, as {@link #offloads()} then reports); then switches each loop, on its own thread
     * between two batches: it reads what queued on the old socket, then reads and sends on the new socket, polled
     * level-triggered, and the old one is polled edge-triggered only (a datagram reaching the old address after its
     * loop switched is not read; it went to an address the host is leaving). Only once every loop switched are the old registrations cancelled and the old sockets
     * closed. A step that fails undoes what was done (loops switched back, new registrations cancelled, new sockets
     * closed), so the engine stays on the old sockets and a retry starts afresh; sockets loop 0 opens after the
     * open's timeout are closed when it finishes. The packet path is untouched: a loop's socket changes only between
     * its batches, by a task on its own thread.
     *
     * @throws IOException also when a step fails unexpectedly (the message names the step and loop); the engine then
     *     still runs on its old sockets, except a loop the undo could not put back: that one stays on its new socket,
     *     which the engine then owns, and the message names each loop's address; a rebind to either address then
     *     moves every loop there
     */
    @Override
    public void rebind(final int address) throws IOException {
        synchronized (lifecycle) {
            if (!started || closed) {
                throw new IllegalStateException("UDP packet engine " + (closed ? "closed" : "not started"));
            }
            sockets.moveTo(address);
        }
    }

    /**
     * Changes the local subnet; each loop applies it before its next readiness event. {@code null} (lease lost)
     * makes every loop drop all inbound datagrams as {@code FOREIGN_DESTINATION} until a subnet is set again.
     *
     * @param subnet the new local subnet, or {@code null} for none
     * @throws IllegalArgumentException if it is not inside the overlay Network
     */
    @Override
    public void localSubnet(final Ipv4Prefix subnet) {
        if (subnet != null && !settings.network().contains(subnet)) {
            throw new IllegalArgumentException("local subnet " + subnet + " is not inside network "
                + settings.network());
        }
        synchronized (lifecycle) {
            localSubnet = subnet;
            final ForwardingLoop[] current = loops;
            final IoEventLoop[] currentExecutors = executors;
            for (int i = 0; i < current.length; i++) {
                final ForwardingLoop loop = current[i];
                if (!currentExecutors[i].isShuttingDown()) {
                    currentExecutors[i].execute(() -> loop.onLocalSubnet(subnet));
                }
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Derives the peer's keys (X25519, HKDF) on the calling thread and publishes them to every loop with one
     * volatile write; ignored when encryption is off.
     */
    @Override
    public void peerKey(final int publicIp, final byte[] publicKey) {
        if (sessions != null) {
            sessions.peerKey(publicIp, publicKey);
        }
    }

    @Override
    public void peerGone(final int publicIp) {
        if (sessions != null) {
            sessions.peerGone(publicIp);
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Derives the new keys on the calling thread, outside the table's lock, and publishes the table once.
     */
    @Override
    public void peerKeys(final List<io.overlay.core.spi.PeerKey> changes) {
        if (sessions != null) {
            sessions.peerKeys(changes);
        }
    }

    @Override
    public EncryptionStatus encryption() {
        return sessions == null ? EncryptionStatus.OFF : sessions.status();
    }

    /**
     * Sums the counters of every loop.
     *
     * @return a snapshot; all zero before {@link #start()}
     */
    @Override
    public TrafficCounters counters() {
        final Map<Counter, Long> counters = new EnumMap<>(Counter.class);
        final Map<DropReason, Long> drops = new EnumMap<>(DropReason.class);
        for (ForwardingLoop loop : loops) {
            final LoopCounters c = loop.counters();
            for (Counter k : Counter.values()) {
                counters.merge(k, c.get(k), Long::sum);
            }
            for (DropReason r : DropReason.values()) {
                drops.merge(r, c.drops(r), Long::sum);
            }
        }
        return new TrafficCounters(counters, drops);
    }

    /**
     * Stops the loops and closes the UDP sockets; the TUN device stays open. Idempotent.
     */
    @Override
    public void close() {
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            if (group != null) {
                group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
            }
            sockets.close();
            LOG.info("UDP engine on port {} stopped", settings.port());
        }
    }

    /** Loop {@code i}'s packet path, for tests in this package. */
    ForwardingLoop loop(final int i) {
        return loops[i];
    }

    /** Loop {@code i}'s event loop, for tests in this package (e.g. to hold the loop while packets queue up). */
    IoEventLoop executor(final int i) {
        return executors[i];
    }

}
