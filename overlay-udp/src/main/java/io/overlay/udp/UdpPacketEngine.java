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
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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
     * are several loops; anything else spreads the loops over source ports (see {@code openSendSockets}).
     */
    public static final String SPREAD_PORTS_PROP_NAME = "overlay.udp.spreadSourcePorts";

    private static final Logger LOG = LoggerFactory.getLogger(UdpPacketEngine.class);

    private final EngineSettings settings;
    private final TunDevice device;
    private final RouteTable routes;
    private final Object lifecycle = new Object();
    private final List<FileDescriptor> sockets = new ArrayList<>();
    /** Loop i's socket to send from (index 0 and any that could not be opened: the loop's receiving socket). */
    private final List<FileDescriptor> sendSockets = new ArrayList<>();
    private volatile Ipv4Prefix localSubnet;
    private volatile ForwardingLoop[] loops = new ForwardingLoop[0];
    private volatile IoEventLoop[] executors = new IoEventLoop[0];
    /** Loop i's UDP socket registration, to move it to another socket ({@link #rebind}); under {@code lifecycle}. */
    private IoRegistration[] udpRegistrations = new IoRegistration[0];
    /**
     * The address loop i's sockets are bound to: the settings' until {@link #rebind} moves them; after a failed rebind
     * whose undo could not put a loop back, that loop's differs. Under {@code lifecycle}.
     */
    private int[] boundTo = new int[0];
    /** The peer sessions when encryption is on, else {@code null}. */
    private final PeerSessions sessions;
    /**
     * For tests in this package: called on loop i's thread at each per-loop {@link RebindStep} of {@link #rebind} with
     * the step and i; a throw fails that step.
     */
    volatile java.util.function.BiConsumer<RebindStep, Integer> rebindFault;
    /** How long {@link #rebind} waits for loop 0 to open the new sockets, in ms (tests shorten it). */
    volatile long rebindOpenTimeoutMillis = 10_000;
    private MultiThreadIoEventLoopGroup group;
    private boolean started;

    /** The per-loop points of {@link #rebind} where the test hook {@link #rebindFault} is called, in order. */
    enum RebindStep {
        /** Loop i is about to prepare its new socket (GRO, edge-triggered registration). */
        REGISTER,
        /** Loop i asks for {@code UDP_GRO} on its new socket: a throw here stands for the kernel's refusal. */
        ENABLE_GRO,
        /** Loop i is about to take its new sockets. */
        SWITCH,
        /** Loop i took its new sockets; its old registration is still polled level-triggered. */
        SWITCHED,
        /** Undoing a failed rebind: loop i is about to go back to its old sockets. */
        UNDO
    }

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
            try {
                openSockets(settings.bindAddress(), n, sockets, sendSockets);
            } catch (IOException e) {
                closeSockets();
                throw e;
            }
            group = new MultiThreadIoEventLoopGroup(n, new DefaultThreadFactory("overlay-udp", true),
                EpollIoHandler.newFactory());
            try {
                registerLoops(n);
            } catch (RuntimeException | Error e) {
                group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
                group = null;
                closeSockets();
                throw e;
            }
            boundTo = new int[n];
            java.util.Arrays.fill(boundTo, settings.bindAddress());
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

    /**
     * Opens loop i's receiving socket into {@code receive} and its sending socket into {@code send}, all bound to
     * {@code address}; on failure closes what it opened.
     */
    private void openSockets(final int address, final int n, final List<FileDescriptor> receive,
                             final List<FileDescriptor> send) throws IOException {
        try {
            for (int i = 0; i < n; i++) {
                receive.add(new FileDescriptor(LinuxUdp.openBound(address, settings.port(), n > 1,
                    SOCKET_BUFFER_BYTES)));
            }
            openSendSockets(address, n, receive, send);
        } catch (IOException e) {
            closeSockets(receive, send);
            throw e;
        }
    }

    /**
     * With several loops and {@value #SPREAD_PORTS_PROP_NAME} not {@code false}: loop {@code i > 0} sends from its own
     * socket bound to port + i, and the receiving group picks its socket by source port
     * ({@link LinuxUdp#steerBySourcePort}). flannel's fixed port makes all datagrams between two hosts one UDP flow,
     * which {@code SO_REUSEPORT} hands to one socket, so one loop would receive everything; the TUN's multi-queue
     * selection already keeps each inner flow on one queue, hence one loop and one source port, so a TCP flow stays
     * in order. flanneld reads datagrams from any source port (flannel v0.20.2 {@code backend/udp/proxy_amd64.c},
     * {@code udp_to_tun} checks none) and overlay's known-peer check looks at the address only. With one loop the wire
     * is flannel's: everything from the listen port. A port that cannot be bound leaves that loop on the listen port.
     */
    private void openSendSockets(final int address, final int n, final List<FileDescriptor> receive,
                                 final List<FileDescriptor> send) {
        final boolean spread = n > 1 && !"false".equalsIgnoreCase(System.getProperty(SPREAD_PORTS_PROP_NAME));
        send.add(receive.get(0));
        for (int i = 1; i < n; i++) {
            FileDescriptor fd = receive.get(i);
            if (spread && settings.port() + i <= 65535) {
                try {
                    fd = new FileDescriptor(LinuxUdp.openBound(address, settings.port() + i, false,
                        SOCKET_BUFFER_BYTES));
                } catch (IOException e) {
                    LOG.warn("loop {} sends from port {}: {}", i, settings.port(), e.getMessage());
                }
            }
            send.add(fd);
        }
        if (spread && !LinuxUdp.steerBySourcePort(receive.get(0).intValue(), settings.port(), n)) {
            LOG.warn("the kernel refused the SO_REUSEPORT steering program; datagrams are spread by hash");
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
        final boolean gso = tuning.udpGso() && LinuxUdp.supportsGso(sockets.get(0).intValue());
        final ForwardingLoop[] newLoops = new ForwardingLoop[n];
        final IoEventLoop[] newExecutors = new IoEventLoop[n];
        final IoRegistration[] registrations = new IoRegistration[n];
        final Iterator<EventExecutor> it = group.iterator();
        for (int i = 0; i < n; i++) {
            final IoEventLoop executor = (IoEventLoop) it.next();
            final FileDescriptor udp = sockets.get(i);
            final FileDescriptor tun = new FileDescriptor(device.fileDescriptor(i));
            final boolean gro = vnet > 0 && tuning.udpGro() && LinuxUdp.enableGro(udp.intValue());
            final ForwardingLoop loop = ForwardingLoop.create(tun, udp.intValue(), sendSockets.get(i).intValue(), i,
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
        udpRegistrations = registrations;
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
            if (allBoundTo(address)) {
                return;
            }
            final int n = loops.length;
            final List<FileDescriptor>[] opened = openOnLoop0(address, n);
            final List<FileDescriptor> receive = opened[0];
            final List<FileDescriptor> send = opened[1];
            final IoRegistration[] fresh = new IoRegistration[n];
            // set by loop i's own task once it took its new sockets, whatever fails after that in the task
            final boolean[] moved = new boolean[n];
            // whether loop i's new socket has UDP_GRO (written by its register task), and its old one had
            final boolean[] groNew = new boolean[n];
            final boolean[] groOld = new boolean[n];
            for (int i = 0; i < n; i++) {
                groOld[i] = loops[i].groActive();
            }
            RebindStep step = RebindStep.REGISTER;
            int at = 0;
            try {
                for (; at < n; at++) {
                    final int i = at;
                    final ForwardingLoop loop = loops[i];
                    final FileDescriptor udp = receive.get(i);
                    fresh[i] = executors[i].register(new FdHandle.Udp(udp, loop)).syncUninterruptibly().getNow();
                    final IoRegistration r = fresh[i];
                    executors[i].submit(() -> {
                        fault(RebindStep.REGISTER, i);
                        if (loop.groBuffers()) {
                            groNew[i] = enableGro(udp.intValue(), i);
                            if (!groNew[i]) {
                                LOG.warn("the kernel refused UDP GRO on loop {}'s new socket; it receives datagram by "
                                    + "datagram there", i);
                            }
                        }
                        r.submit(EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLET));
                    }).syncUninterruptibly();
                }
                step = RebindStep.SWITCH;
                for (at = 0; at < n; at++) {
                    final int i = at;
                    final ForwardingLoop loop = loops[i];
                    final IoRegistration old = udpRegistrations[i];
                    final IoRegistration r = fresh[i];
                    final int udpFd = receive.get(i).intValue();
                    final int sendFd = send.get(i).intValue();
                    final boolean gro = groNew[i];
                    executors[i].submit(() -> {
                        fault(RebindStep.SWITCH, i);
                        r.submit(EpollIoOps.EPOLLIN); // epoll_ctl MOD: reports what arrived meanwhile
                        loop.drainUdp(); // what queued on the old socket: after the switch nothing reads it
                        loop.onRebind(udpFd, sendFd, gro);
                        moved[i] = true;
                        fault(RebindStep.SWITCHED, i);
                        old.submit(EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLET)); // MOD: never a busy loop on it
                    }).syncUninterruptibly();
                }
            } catch (RuntimeException e) {
                undo(address, moved, groOld, fresh, receive, send);
                throw new IOException("moving the UDP sockets to " + Ipv4.format(address) + ":" + settings.port()
                    + " failed at the " + step.name().toLowerCase(java.util.Locale.ROOT) + " step of loop " + at
                    + " (now on " + where() + "): " + e.getMessage(), e);
            }
            for (int i = 0; i < n; i++) {
                final IoRegistration old = udpRegistrations[i];
                executors[i].submit(() -> {
                    old.cancel(); // on the loop's thread: done at once, before the socket is closed
                }).syncUninterruptibly();
            }
            final List<FileDescriptor> oldReceive = new ArrayList<>(sockets);
            final List<FileDescriptor> oldSend = new ArrayList<>(sendSockets);
            sockets.clear();
            sockets.addAll(receive);
            sendSockets.clear();
            sendSockets.addAll(send);
            udpRegistrations = fresh;
            closeSockets(oldReceive, oldSend);
            LOG.info("UDP engine moved from {} to {}:{} ({} loop(s))", where(), Ipv4.format(address),
                settings.port(), n);
            java.util.Arrays.fill(boundTo, address);
        }
    }

    /**
     * Opens the new sockets on loop 0's thread: {@code [receive, send]}. When it does not finish in
     * {@link #rebindOpenTimeoutMillis}, what it opens later is closed when it finishes (the lists are the task's alone
     * until then).
     */
    @SuppressWarnings("unchecked")
    private List<FileDescriptor>[] openOnLoop0(final int address, final int n) throws IOException {
        final io.netty.util.concurrent.Future<List<FileDescriptor>[]> open = executors[0].submit(() -> {
            final List<FileDescriptor> receive = new ArrayList<>(n);
            final List<FileDescriptor> send = new ArrayList<>(n);
            openSockets(address, n, receive, send);
            return new List[] {receive, send};
        });
        try {
            return open.get(rebindOpenTimeoutMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        } catch (InterruptedException | TimeoutException e) {
            open.addListener(done -> {
                if (done.isSuccess()) {
                    final List<FileDescriptor>[] late = (List<FileDescriptor>[]) done.getNow();
                    closeSockets(late[0], late[1]);
                    LOG.warn("closed the UDP sockets on {} opened after the move was given up", Ipv4.format(address));
                }
            });
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("opening the UDP sockets on " + Ipv4.format(address) + " did not finish within "
                + rebindOpenTimeoutMillis + " ms (loop 0 busy)", e);
        }
    }

    /**
     * Undoes a rebind to {@code address} that failed: the loops that took their new sockets ({@code moved}, also when
     * their switch task failed after that) back on their old sockets (polled level-triggered again), the new
     * registrations cancelled and the new sockets closed. A loop that cannot be switched back is logged at ERROR and
     * stays on its new sockets (polled, so it goes on forwarding): the engine then owns those (closed with it) and
     * records that loop on {@code address}, and its old sockets, which nothing reads any more (one left in the
     * {@code SO_REUSEPORT} group would take its share of the datagrams), are closed.
     */
    private void undo(final int address, final boolean[] moved, final boolean[] groOld, final IoRegistration[] fresh,
                      final List<FileDescriptor> receive, final List<FileDescriptor> send) {
        final boolean[] keep = new boolean[fresh.length];
        for (int i = 0; i < moved.length; i++) {
            if (!moved[i]) {
                continue;
            }
            final ForwardingLoop loop = loops[i];
            final IoRegistration old = udpRegistrations[i];
            final IoRegistration r = fresh[i];
            final int udpFd = sockets.get(i).intValue();
            final int sendFd = sendSockets.get(i).intValue();
            final boolean gro = groOld[i];
            final boolean[] back = new boolean[1]; // set by the task once the loop is on its old sockets again
            try {
                final int at = i;
                executors[i].submit(() -> {
                    fault(RebindStep.UNDO, at);
                    old.submit(EpollIoOps.EPOLLIN);
                    loop.onRebind(udpFd, sendFd, gro);
                    back[0] = true;
                    r.submit(EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLET));
                }).syncUninterruptibly();
            } catch (RuntimeException e) {
                keep[i] = !back[0];
                if (keep[i]) {
                    LOG.error("loop {} cannot go back to its old UDP socket after a failed move; it stays on fd {} "
                        + "({}:{})", i, receive.get(i).intValue(), Ipv4.format(address), settings.port(), e);
                }
            }
        }
        final List<FileDescriptor> closeReceive = new ArrayList<>();
        final List<FileDescriptor> closeSend = new ArrayList<>();
        for (int i = 0; i < fresh.length; i++) {
            if (keep[i]) {
                keepNew(i, address, fresh[i], receive.get(i), send.get(i));
                continue;
            }
            final IoRegistration r = fresh[i];
            if (r != null) {
                try {
                    executors[i].submit(() -> {
                        r.cancel();
                    }).syncUninterruptibly();
                } catch (RuntimeException e) {
                    LOG.warn("cancelling loop {}'s new UDP registration failed: {}", i, e.toString());
                }
            }
            closeReceive.add(receive.get(i));
            closeSend.add(send.get(i));
        }
        closeSockets(closeReceive, closeSend);
    }

    /**
     * Makes loop i's new sockets, which it stays on after a failed undo, the engine's: its old registration is
     * cancelled and its old sockets closed.
     */
    private void keepNew(final int i, final int address, final IoRegistration fresh, final FileDescriptor receive,
                         final FileDescriptor send) {
        final IoRegistration old = udpRegistrations[i];
        try {
            executors[i].submit(() -> {
                old.cancel();
            }).syncUninterruptibly();
        } catch (RuntimeException e) {
            LOG.warn("cancelling loop {}'s old UDP registration failed: {}", i, e.toString());
        }
        final FileDescriptor oldReceive = sockets.set(i, receive);
        final FileDescriptor oldSend = sendSockets.set(i, send);
        udpRegistrations[i] = fresh;
        boundTo[i] = address;
        closeSockets(new ArrayList<>(List.of(oldReceive)), new ArrayList<>(List.of(oldSend)));
    }

    /** Whether every loop's sockets are bound to {@code address}. */
    private boolean allBoundTo(final int address) {
        for (int a : boundTo) {
            if (a != address) {
                return false;
            }
        }
        return true;
    }

    /** The address the loops are bound to, or each loop's when they differ (after a failed undo). */
    private String where() {
        if (allBoundTo(boundTo[0])) {
            return Ipv4.format(boundTo[0]) + ":" + settings.port();
        }
        final StringBuilder b = new StringBuilder();
        for (int i = 0; i < boundTo.length; i++) {
            b.append(i == 0 ? "" : ", ").append("loop ").append(i).append(' ').append(Ipv4.format(boundTo[i]));
        }
        return b.toString();
    }

    /** Asks for {@code UDP_GRO} on loop i's new socket; the test hook may refuse it. */
    private boolean enableGro(final int fd, final int loop) {
        try {
            fault(RebindStep.ENABLE_GRO, loop);
        } catch (RuntimeException e) {
            return false;
        }
        return LinuxUdp.enableGro(fd);
    }

    private void fault(final RebindStep step, final int loop) {
        final java.util.function.BiConsumer<RebindStep, Integer> f = rebindFault;
        if (f != null) {
            f.accept(step, loop);
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
    public void peerKeys(final java.util.List<io.overlay.core.spi.PeerKey> changes) {
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
            closeSockets();
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

    private void closeSockets() {
        closeSockets(sockets, sendSockets);
    }

    /** Closes and forgets the sockets of both lists (a send socket that is also a receiving one once). */
    private static void closeSockets(final List<FileDescriptor> sockets, final List<FileDescriptor> sendSockets) {
        for (FileDescriptor fd : sendSockets) {
            if (!sockets.contains(fd)) {
                try {
                    fd.close();
                } catch (IOException e) {
                    LOG.warn("closing UDP socket fd {} failed: {}", fd.intValue(), e.toString());
                }
            }
        }
        sendSockets.clear();
        for (FileDescriptor fd : sockets) {
            try {
                fd.close();
            } catch (IOException e) {
                LOG.warn("closing UDP socket fd {} failed: {}", fd.intValue(), e.toString());
            }
        }
        sockets.clear();
    }
}
