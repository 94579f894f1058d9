package io.overlay.examples;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.SubnetEnv;
import io.overlay.core.Overlay;
import io.overlay.core.OverlayListener;
import io.overlay.core.OverlayStatus;
import io.overlay.etcd.EtcdSettings;
import io.overlay.etcd.EtcdSubnetAllocator;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * A host agent that embeds overlay: the SDK as most users meet it. It builds an {@link Overlay} with an etcd
 * allocator and a container bridge, reacts to the listener's events, prints the status every 30 s and stops cleanly
 * on Ctrl-C (the lease stays in etcd, so the next start gets the same subnet).
 *
 * <pre>
 * java -cp overlay.jar io.overlay.examples.EmbeddedAgentExample http://127.0.0.1:2379 lxcbr0
 * </pre>
 *
 * Arguments: the etcd endpoints (default {@code http://127.0.0.1:2379}), the bridge name (default {@code lxcbr0})
 * and where to write {@code subnet.env} (default flanneld's, {@link SubnetEnv#DEFAULT_PATH}). The underlay is the
 * default route's interface. Needs root (TUN device, bridge) and a network config in etcd under
 * {@code /coreos.com/network}.
 */
public final class EmbeddedAgentExample {
    private EmbeddedAgentExample() {
    }

    /**
     * Runs the agent until Ctrl-C.
     *
     * @param args optional: etcd endpoints (comma-separated), bridge name, subnet.env path
     * @throws Exception if start-up fails (no interface, no free subnet, no root...)
     */
    public static void main(final String[] args) throws Exception {
        final String endpoints = args.length > 0 ? args[0] : "http://127.0.0.1:2379";
        final String bridge = args.length > 1 ? args[1] : "lxcbr0";
        final Path subnetFile = args.length > 2 ? Path.of(args[2]) : SubnetEnv.DEFAULT_PATH;

        final Overlay overlay = Overlay.builder()
            .allocator(new EtcdSubnetAllocator(EtcdSettings.builder().endpoints(endpoints).build()))
            .bridge(bridge)                                   // containers attach here
            .subnetFile(subnetFile)                           // for Docker / CNI, as flanneld writes it
            .listener(new OverlayListener() {                 // called on one overlay thread; must not block
                @Override
                public void ready(final OverlayStatus status) {
                    System.out.println("agent: " + status.healthLine());
                }

                @Override
                public void notReady(final String reason) {
                    System.out.println("agent: not ready: " + reason);
                }

                @Override
                public void peerAdded(final Lease peer) {
                    System.out.println("agent: host joined: " + peer.subnet());
                }

                @Override
                public void peerRemoved(final Lease peer) {
                    System.out.println("agent: host left: " + peer.subnet());
                }

                @Override
                public void leaseReacquired(final Lease previous, final Lease current) {
                    System.out.println("agent: lease " + previous.subnet() + " re-acquired as " + current.subnet());
                }
            })
            .build();

        final CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            overlay.close();   // ordered shutdown; the lease is kept
            stop.countDown();
        }));

        overlay.start();       // returns once ready (waits while the network config is missing)
        while (!stop.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
            final OverlayStatus s = overlay.status();
            System.out.println("agent: " + s.healthLine() + ", " + s.peers().size() + " peers, "
                + s.counters().tunToUdpPackets() + " packets sent, " + s.counters().udpToTunPackets() + " received");
        }
    }
}
