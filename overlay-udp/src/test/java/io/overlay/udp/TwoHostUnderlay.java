package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.testing.Netns;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The set-up shared by the two-host engine tests: namespaces A and B on a veth underlay {@code ul0} 198.18.0.1/24 ↔
 * 198.18.0.2/24 (MTU 1500), overlay Network 100.64.0.0/16, A owns 100.64.1.0/24, B 100.64.2.0/24, each host's engine
 * ({@link EngineHost}) knowing the other as its peer. {@link #close()} stops the engines, then deletes both namespaces,
 * each step also when an earlier one fails; the constructor deletes what it made if it fails part-way.
 */
final class TwoHostUnderlay implements AutoCloseable {
    static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");
    static final Ipv4Prefix SUBNET_A = Ipv4Prefix.parse("100.64.1.0/24");
    static final Ipv4Prefix SUBNET_B = Ipv4Prefix.parse("100.64.2.0/24");
    static final String UNDERLAY_A = "198.18.0.1";
    static final String UNDERLAY_B = "198.18.0.2";

    final Netns nsA;
    final Netns nsB;
    private EngineHost a;
    private EngineHost b;

    /** Creates namespaces A and B and links them; deletes them again if the link cannot be made. */
    TwoHostUnderlay() throws Exception {
        nsA = Netns.create();
        Netns created = null;
        try {
            created = Netns.create();
            Netns.link(nsA, "ul0", UNDERLAY_A + "/24", created, "ul0", UNDERLAY_B + "/24", 1500);
        } catch (Exception | Error e) {
            try (Netns closeA = nsA; Netns closeB = created) {
                throw e;
            }
        }
        nsB = created;
    }

    /**
     * Starts host A (underlay 198.18.0.1, subnet 100.64.1.0/24) with B and {@code extraPeers} as its peers.
     *
     * @param mtu the TUN MTU in bytes
     * @param loops event loops, and TUN queues
     * @param offloads open the TUN with IFF_VNET_HDR/TUNSETOFFLOAD
     */
    EngineHost startA(final int mtu, final int loops, final boolean acceptOnlyKnownPeers, final boolean offloads,
                      final Map<Ipv4Prefix, Peer> extraPeers) throws Exception {
        final Map<Ipv4Prefix, Peer> peers = new HashMap<>(extraPeers);
        peers.put(SUBNET_B, new Peer(Ipv4.parse(UNDERLAY_B), EngineHost.PORT));
        a = EngineHost.start(nsA, UNDERLAY_A, NETWORK, SUBNET_A, mtu, loops, peers, acceptOnlyKnownPeers, offloads);
        return a;
    }

    /** Starts host A with encryption, B as its only peer, offloads on, known peers only. */
    EngineHost startA(final int mtu, final EngineEncryption encryption) throws Exception {
        a = EngineHost.start(nsA, UNDERLAY_A, NETWORK, SUBNET_A, mtu, 1,
            Map.of(SUBNET_B, new Peer(Ipv4.parse(UNDERLAY_B), EngineHost.PORT)), true, true, false, encryption);
        return a;
    }

    /** Starts host B with encryption, A as its only peer, offloads on, known peers only. */
    EngineHost startB(final int mtu, final EngineEncryption encryption) throws Exception {
        b = EngineHost.start(nsB, UNDERLAY_B, NETWORK, SUBNET_B, mtu, 1,
            Map.of(SUBNET_A, new Peer(Ipv4.parse(UNDERLAY_A), EngineHost.PORT)), true, true, false, encryption);
        return b;
    }

    /** Starts host A with encryption and {@code loops} event loops, B as its only peer, offloads on. */
    EngineHost startA(final int mtu, final int loops, final boolean acceptOnlyKnownPeers,
                      final EngineEncryption encryption) throws Exception {
        a = EngineHost.start(nsA, UNDERLAY_A, NETWORK, SUBNET_A, mtu, loops,
            Map.of(SUBNET_B, new Peer(Ipv4.parse(UNDERLAY_B), EngineHost.PORT)), acceptOnlyKnownPeers, true, false,
            encryption);
        return a;
    }

    /** Starts host B with encryption and {@code loops} event loops, A as its only peer, offloads on. */
    EngineHost startB(final int mtu, final int loops, final boolean acceptOnlyKnownPeers,
                      final EngineEncryption encryption) throws Exception {
        b = EngineHost.start(nsB, UNDERLAY_B, NETWORK, SUBNET_B, mtu, loops,
            Map.of(SUBNET_A, new Peer(Ipv4.parse(UNDERLAY_A), EngineHost.PORT)), acceptOnlyKnownPeers, true, false,
            encryption);
        return b;
    }

    /** Closes host A's engine and TUN (e.g. before starting it again with a new key). */
    void stopA() throws Exception {
        final EngineHost old = a;
        a = null;
        old.close();
    }

    /** Starts host B (underlay 198.18.0.2, subnet 100.64.2.0/24) with A as its peer; arguments as for A. */
    EngineHost startB(final int mtu, final int loops, final boolean acceptOnlyKnownPeers, final boolean offloads)
        throws Exception {
        return startB(mtu, loops, acceptOnlyKnownPeers, offloads, false);
    }

    /** Starts host B as {@link #startB(int, int, boolean, boolean)} does, in strict source mode if asked. */
    EngineHost startB(final int mtu, final int loops, final boolean acceptOnlyKnownPeers, final boolean offloads,
                      final boolean strictSource) throws Exception {
        b = EngineHost.start(nsB, UNDERLAY_B, NETWORK, SUBNET_B, mtu, loops,
            Map.of(SUBNET_A, new Peer(Ipv4.parse(UNDERLAY_A), EngineHost.PORT)), acceptOnlyKnownPeers, offloads,
            strictSource);
        return b;
    }

    /**
     * Runs a bounded iperf3 TCP test (client killed after 40 s), server in B, client in A, between the TUN addresses;
     * retries while the server is not yet listening. Asserts the client finished with a receiver summary and exit
     * status 0; returns its output.
     *
     * @param port the server's TCP port
     * @param args further client arguments, e.g. {@code "-n 20M"}, {@code "-R"} (B sends)
     */
    String iperf(final int port, final String args) throws Exception {
        final Process server = nsB.spawn(new ProcessBuilder("iperf3", "-s", "-1", "-B", b.tunAddress(), "-p",
            String.valueOf(port)).redirectErrorStream(true));
        try {
            String out = "";
            for (int attempt = 0; attempt < 25; attempt++) {
                out = a.shell("timeout 40 iperf3 -c " + b.tunAddress() + " -B " + a.tunAddress() + " -p " + port
                    + " " + args);
                if (!out.contains("Connection refused")) {
                    break;
                }
                Thread.sleep(200);
            }
            assertThat(out).contains("receiver").endsWith("rc=0\n");
            return out;
        } finally {
            server.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Override
    public void close() throws Exception {
        try (Netns closeA = nsA; Netns closeB = nsB; EngineHost closeHostA = a; EngineHost closeHostB = b) {
            // try-with-resources closes in reverse: engines B, A, then namespaces B, A, each even if one throws
        }
    }
}
