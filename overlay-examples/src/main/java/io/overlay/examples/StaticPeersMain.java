package io.overlay.examples;

import io.overlay.core.spi.Counter;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.Encryption;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.EngineSettings;
import io.overlay.core.spi.EngineTuning;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.net.Peer;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.TrafficCounters;
import io.overlay.core.spi.TunSetup;
import io.overlay.tun.LinuxTunDevice;
import io.overlay.tun.LinuxTunDeviceFactory;
import io.overlay.udp.UdpPacketEngine;
import io.overlay.udp.crypto.HostKeyPair;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Runs the UDP packet engine with a static peer table and no etcd: the data plane alone, for measurements with
 * the network benchmark harness ({@code benchmarks/net-bench.sh}, {@code docs/performance.md#the-harness-command-line})
 * and for tests.
 *
 * <pre>
 * java -cp overlay.jar io.overlay.examples.StaticPeersMain --tun "$TUN" --tun-setup "$TUN_SETUP" \
 *     --listen "$UNDERLAY_IP:$UDP_PORT" --network "$OVERLAY_NET" --subnet "$OVERLAY_CIDR" \
 *     --address "$OVERLAY_IP" --mtu "$OVERLAY_MTU" --peers "$PEERS"
 * </pre>
 *
 * <p>With {@code --tun-setup agent} it creates the TUN and configures it: {@code --address} as a /32 (default: the
 * subnet's network address, as flannel does), the MTU, link up and a route for the whole {@code --network} through
 * the TUN. With {@code harness} it only attaches to the existing device (multi-queue or not, as the device was
 * made). In both modes it sets the TUN's transmit queue length ({@code --tun-txqueuelen}, default
 * {@link TunSetup#DEFAULT_TX_QUEUE_LENGTH} packets, 0 to leave it; the kernel's default of 500 overflows at the UDP
 * test's packet rate while the agent's thread does not run); in harness mode that is the only change it makes to the
 * device, it stays after exit, and a refusal (no CAP_NET_ADMIN) is only a warning. It runs until SIGINT/SIGTERM, then
 * closes the engine and the TUN and prints the counters (the JVM then exits with 130/143, the usual status after
 * those signals). An option given twice takes the last value, so a benchmark variant can override one. Exit status 1 if start-up fails (the message names the step,
 * e.g. the address that cannot be bound), 2 for bad arguments.
 */
@Command(name = "static-peers", mixinStandardHelpOptions = true,
    description = "Run overlay's UDP data plane with a static peer table (no etcd).")
public final class StaticPeersMain implements Callable<Integer> {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(StaticPeersMain.class);

    /** Who configures the TUN device. */
    enum TunSetupMode {
        /** This program creates and configures the device. */
        agent,
        /** The device exists and is configured; this program only attaches. */
        harness
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--tun", defaultValue = "flannel0", description = "TUN device name or template (default ${DEFAULT-VALUE})")
    String tun;

    @Option(names = "--tun-setup", defaultValue = "agent", description = "agent or harness (default ${DEFAULT-VALUE})")
    TunSetupMode tunSetup;

    @Option(names = "--loops", defaultValue = "1",
        description = "event loops = TUN queues; more than 1 uses a multi-queue TUN and SO_REUSEPORT (default ${DEFAULT-VALUE})")
    int loops;

    @Option(names = "--listen", required = true, description = "underlay bind address and UDP port, e.g. 198.18.0.1:8285")
    String listen;

    @Option(names = "--network", required = true, description = "the whole overlay network, e.g. 100.64.0.0/16")
    String network;

    @Option(names = "--subnet", required = true, description = "this host's subnet, e.g. 100.64.1.0/24")
    String subnet;

    @Option(names = "--address", description = "TUN address in agent mode (default: the subnet's network address)")
    String address;

    @Option(names = "--mtu", defaultValue = "1472", description = "TUN MTU in bytes (default ${DEFAULT-VALUE})")
    int mtu;

    @Option(names = "--peers", defaultValue = "",
        description = "static routes, space separated subnet=ip:port, e.g. \"100.64.2.0/24=198.18.0.2:8285\"")
    String peers;

    @Option(names = "--accept-any-sender", description = "accept datagrams from any source address (NAT setups)")
    boolean acceptAnySender;

    @Option(names = "--offloads", arity = "0..1", defaultValue = "true", fallbackValue = "true", paramLabel = "<bool>",
        description = "TUN offloads (IFF_VNET_HDR, TSO, TCP coalescing) and UDP GSO/GRO where the kernel allows, in agent"
            + " and harness mode; the wire format is the same either way (default ${DEFAULT-VALUE})")
    boolean offloads;

    @Option(names = "--tun-txqueuelen", defaultValue = "" + TunSetup.DEFAULT_TX_QUEUE_LENGTH, paramLabel = "<packets>",
        description = "TUN transmit queue length in packets, 1..1000000, set in agent and harness mode (in harness mode"
            + " only the queue length is changed, and it stays after exit); 0 leaves the device's value"
            + " (default ${DEFAULT-VALUE}; the kernel's is 500)")
    int tunTxQueueLength;

    @Option(names = "--encryption", defaultValue = "off",
        description = "off, preferred or required, as overlay's --encryption (default ${DEFAULT-VALUE}); needs "
            + "--static-key-seed. Sealing lowers the TUN MTU by 29 bytes below --mtu (agent TUN set-up).")
    String encryption;

    @Option(names = "--static-key-seed",
        description = "text every host derives its own and its peers' X25519 keys from (with each PublicIP), as there "
            + "are no leases to carry them. BENCHMARKS AND TESTS ONLY, NOT SECURE: the keys are the same on every "
            + "start, so AES-GCM nonces (counters from 0) repeat across restarts and whoever captured traffic before "
            + "a restart can decrypt and forge; and whoever knows the seed knows every key")
    String staticKeySeed;

    @Option(names = "--stats-interval", defaultValue = "0", description = "print counters every N seconds (0: only at exit)")
    int statsInterval;

    /**
     * Runs the program.
     *
     * @param args the command line
     */
    public static void main(final String[] args) {
        System.exit(new CommandLine(new StaticPeersMain()).setOverwrittenOptionsAllowed(true)
            .setExecutionExceptionHandler((e, cmd, parsed) -> {
                cmd.getErr().println("static-peers: " + e.getMessage());
                return 1;
            })
            .execute(args));
    }

    @Override
    public Integer call() throws Exception {
        final int bind;
        final int port;
        final Ipv4Prefix net;
        final Ipv4Prefix local;
        final Map<Ipv4Prefix, Peer> table;
        final EngineSettings settings;
        final int tunAddress;
        try {
            final int colon = listen.lastIndexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("--listen must be ip:port, got \"" + listen + "\"");
            }
            bind = Ipv4.parse(listen.substring(0, colon));
            try {
                port = Integer.parseInt(listen.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--listen port is not a number: \"" + listen + "\"", e);
            }
            net = Ipv4Prefix.parseMasked(network);
            local = Ipv4Prefix.parseMasked(subnet);
            table = StaticPeersTable.parse(peers);
            final Encryption mode = Encryption.parse(encryption);
            if (mode != Encryption.OFF && (staticKeySeed == null || staticKeySeed.isEmpty())) {
                throw new IllegalArgumentException("--encryption " + mode + " needs --static-key-seed");
            }
            if (mode != Encryption.OFF) {
                LOG.warn("--static-key-seed: benchmarks only: nonces repeat across restarts (the same keys on every "
                    + "start, counters from 0), which breaks AES-GCM's confidentiality and integrity; never use it "
                    + "for real traffic");
            }
            final EngineEncryption enc = mode == Encryption.OFF ? EngineEncryption.OFF : new EngineEncryption(mode,
                HostKeyPair.fromSeed(staticKeySeed, bind).toJdkKeyPair(),
                HostKeyPair.fromSeed(staticKeySeed, bind).publicKey(), new byte[0]);
            if (enc.on()) {
                mtu -= EngineEncryption.OVERHEAD; // as Overlay: room for the sealed frame
            }
            settings = new EngineSettings(bind, port, net, local, mtu, !acceptAnySender, loops,
                EngineTuning.defaults(), enc);
            tunAddress = address == null ? local.address() : Ipv4.parse(address);
            TunSetup.checkTxQueueLength("--tun-txqueuelen", tunTxQueueLength);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        final RouteTable routes = new RouteTable();
        routes.replaceAll(table);

        final LinuxTunDeviceFactory factory = new LinuxTunDeviceFactory();
        final LinuxTunDevice device;
        if (tunSetup == TunSetupMode.agent) {
            device = offloads ? factory.openWithOffloads(tun, loops) : factory.open(tun, loops);
            try {
                device.configure(new TunSetup(Ipv4Prefix.of(tunAddress, 32), mtu, List.of(net), tunTxQueueLength));
            } catch (java.io.IOException | RuntimeException e) {
                device.close();
                throw e;
            }
        } else {
            device = offloads ? factory.attachWithOffloads(tun, loops) : factory.attach(tun, loops);
            if (tunTxQueueLength != TunSetup.KEEP_TX_QUEUE_LENGTH) {
                try {
                    device.setTxQueueLength(tunTxQueueLength);
                } catch (java.io.IOException e) {
                    System.err.println("warning: could not set the txqueuelen of " + device.name() + " to "
                        + tunTxQueueLength + ", keeping the device's: " + e.getMessage());
                }
            }
        }
        final PacketEngine engine = new UdpPacketEngine(settings, device, routes);
        final CountDownLatch stopped = new CountDownLatch(1);
        final Thread hook = new Thread(() -> {
            engine.close();
            try {
                device.close();
            } catch (java.io.IOException e) {
                System.err.println("closing " + device.name() + ": " + e.getMessage());
            }
            System.out.println("stopped; " + describe(engine.counters()));
            System.out.flush();
            stopped.countDown();
        }, "static-peers-shutdown");
        if (settings.encryption().on()) { // before the first packet, so none goes out keyless
            for (Peer p : table.values()) {
                engine.peerKey(p.publicIp(), HostKeyPair.fromSeed(staticKeySeed, p.publicIp()).publicKey());
            }
        }
        try {
            engine.start();
        } catch (java.io.IOException | RuntimeException e) {
            engine.close();
            device.close();
            throw e;
        }

        Runtime.getRuntime().addShutdownHook(hook);
        System.out.println("forwarding: TUN " + device.name() + " (" + tunSetup + ", " + loops + " queue(s), MTU " + mtu
            + ", txqueuelen " + (tunTxQueueLength == 0 ? "unchanged" : tunTxQueueLength)
            + ", offloads " + (device.vnetHeaderLength() > 0 ? "on" : "off") + ", encryption "
            + settings.encryption().mode() + "), UDP " + listen + ", network " + net + ", subnet " + local + ", peers " + table);
        System.out.flush();
        while (!stopped.await(statsInterval > 0 ? statsInterval : 3600, TimeUnit.SECONDS)) {
            if (statsInterval > 0) {
                System.out.println(describe(engine.counters()));
                System.out.flush();
            }
        }
        return 0;
    }

    /**
     * Formats counters on one line, drops only where non-zero.
     *
     * @param c the counters
     * @return e.g. {@code tun->udp 10 pkts 840 B, udp->tun 10 pkts 840 B, icmp unreachable 1 (0 rate-limited),
     *     drops {NO_ROUTE=1}}; the time exceeded messages only when some were due
     *     ({@code , icmp time exceeded 2 (0 rate-limited)} before the drops)
     */
    static String describe(final TrafficCounters c) {
        final StringJoiner drops = new StringJoiner(", ", "{", "}");
        for (DropReason r : DropReason.values()) {
            if (c.drops(r) > 0) {
                drops.add(r + "=" + c.drops(r));
            }
        }
        final long exceeded = c.get(Counter.ICMP_TIME_EXCEEDED_SENT);
        final long exceededLimited = c.get(Counter.ICMP_TIME_EXCEEDED_SUPPRESSED);
        return "tun->udp " + c.tunToUdpPackets() + " pkts " + c.tunToUdpBytes() + " B, udp->tun " + c.udpToTunPackets()
            + " pkts " + c.udpToTunBytes() + " B, icmp unreachable " + c.icmpUnreachableSent() + " ("
            + c.icmpUnreachableSuppressed() + " rate-limited)"
            + (exceeded + exceededLimited > 0
                ? ", icmp time exceeded " + exceeded + " (" + exceededLimited + " rate-limited)" : "")
            + ", drops " + drops;
    }
}
