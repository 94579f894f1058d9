package io.overlay.udp;

import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.EngineTuning;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.core.spi.TunSetup;
import io.overlay.testing.Netns;
import io.overlay.tun.LinuxTunDevice;
import io.overlay.tun.LinuxTunDeviceFactory;
import io.overlay.tun.NetnsThread;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A test "host": a TUN device configured like flannel0 (subnet address /32, MTU, route for the whole Network) inside a
 * namespace, and a {@link UdpPacketEngine} bound to the host's underlay address, running in this JVM. The TUN and the
 * socket are created on a thread inside the namespace ({@link NetnsThread}); the engine's loops then serve them from
 * ordinary threads.
 */
final class EngineHost implements AutoCloseable {
    static final int PORT = 8285;

    final Netns ns;
    final LinuxTunDevice tun;
    final UdpPacketEngine engine;
    final RouteTable routes;
    final Ipv4Prefix subnet;

    private EngineHost(final Netns ns, final LinuxTunDevice tun, final UdpPacketEngine engine, final RouteTable routes,
                       final Ipv4Prefix subnet) {
        this.ns = ns;
        this.tun = tun;
        this.engine = engine;
        this.routes = routes;
        this.subnet = subnet;
    }

    static EngineHost start(final Netns ns, final String underlayIp, final Ipv4Prefix network,
                            final Ipv4Prefix subnet, final int mtu, final int loops,
                            final Map<Ipv4Prefix, Peer> peers) throws Exception {
        return start(ns, underlayIp, network, subnet, mtu, loops, peers, true);
    }

    static EngineHost start(final Netns ns, final String underlayIp, final Ipv4Prefix network,
                            final Ipv4Prefix subnet, final int mtu, final int loops,
                            final Map<Ipv4Prefix, Peer> peers, final boolean acceptOnlyKnownPeers) throws Exception {
        return start(ns, underlayIp, network, subnet, mtu, loops, peers, acceptOnlyKnownPeers, true);
    }

    /** Starts a host; {@code offloads} opens the TUN with IFF_VNET_HDR/TUNSETOFFLOAD (the default elsewhere). */
    static EngineHost start(final Netns ns, final String underlayIp, final Ipv4Prefix network,
                            final Ipv4Prefix subnet, final int mtu, final int loops,
                            final Map<Ipv4Prefix, Peer> peers, final boolean acceptOnlyKnownPeers,
                            final boolean offloads) throws Exception {
        return start(ns, underlayIp, network, subnet, mtu, loops, peers, acceptOnlyKnownPeers, offloads, false);
    }

    /** Starts a host; {@code strictSource} turns on {@link EngineSettings#strictSource()}. */
    static EngineHost start(final Netns ns, final String underlayIp, final Ipv4Prefix network,
                            final Ipv4Prefix subnet, final int mtu, final int loops,
                            final Map<Ipv4Prefix, Peer> peers, final boolean acceptOnlyKnownPeers,
                            final boolean offloads, final boolean strictSource) throws Exception {
        return start(ns, underlayIp, network, subnet, mtu, loops, peers, acceptOnlyKnownPeers, offloads,
            strictSource, EngineEncryption.OFF);
    }

    /** Starts a host with {@code encryption} ({@code mtu} is the TUN MTU, already lowered when sealing). */
    static EngineHost start(final Netns ns, final String underlayIp, final Ipv4Prefix network,
                            final Ipv4Prefix subnet, final int mtu, final int loops,
                            final Map<Ipv4Prefix, Peer> peers, final boolean acceptOnlyKnownPeers,
                            final boolean offloads, final boolean strictSource, final EngineEncryption encryption)
        throws Exception {
        final RouteTable routes = new RouteTable();
        routes.replaceAll(peers);
        return NetnsThread.call(ns.name(), () -> {
            final LinuxTunDeviceFactory factory = new LinuxTunDeviceFactory();
            final LinuxTunDevice tun = offloads ? factory.openWithOffloads("ovl%d", loops) : factory.open("ovl%d", loops);
            try {
                tun.configure(new TunSetup(FlannelRules.tunAddress(subnet), mtu, List.of(network)));
                final UdpPacketEngine engine = new UdpPacketEngine(
                    new EngineSettings(Ipv4.parse(underlayIp), PORT, network, subnet, mtu, acceptOnlyKnownPeers,
                        loops, EngineTuning.defaults(), strictSource, encryption), tun, routes);
                engine.start();
                return new EngineHost(ns, tun, engine, routes, subnet);
            } catch (Exception | Error e) {
                tun.close();
                throw e;
            }
        });
    }

    /** The TUN's address (the subnet's network address, as flannel assigns it). */
    String tunAddress() {
        return Ipv4.format(subnet.address());
    }

    /** Waits up to 5 s for the counters to satisfy {@code condition}; returns the last snapshot either way. */
    TrafficCounters awaitCounters(final Predicate<TrafficCounters> condition) throws InterruptedException {
        final long deadline = System.nanoTime() + 5_000_000_000L;
        TrafficCounters c = engine.counters();
        while (!condition.test(c) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            c = engine.counters();
        }
        return c;
    }

    /**
     * Holds loop 0's thread until the returned latch is counted down (or {@code holdFor} passes), so that packets
     * queued meanwhile are read in one pass; returns once the loop is held.
     *
     * @param holdFor the longest hold
     * @return the latch that releases the loop
     */
    CountDownLatch holdLoop(final Duration holdFor) throws InterruptedException {
        final CountDownLatch held = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        engine.executor(0).execute(() -> {
            held.countDown();
            try {
                release.await(holdFor.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        if (!held.await(5, TimeUnit.SECONDS)) {
            throw new IllegalStateException("loop 0 was not held within 5 s");
        }
        return release;
    }

    /** Runs a shell command in the namespace; returns its combined output and exit status as "...\nrc=N". */
    String shell(final String command) throws IOException {
        return Netns.run("ip", "netns", "exec", ns.name(), "sh", "-c", command + " 2>&1; echo rc=$?");
    }

    @Override
    public void close() throws IOException {
        try {
            engine.close();
        } finally {
            tun.close();
        }
    }
}
