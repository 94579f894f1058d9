package io.overlay.etcd;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.LeaseListener;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;

/**
 * An agent in a process of its own for {@link PausedAgentTest}, which pauses it with SIGSTOP: an
 * {@link EtcdSubnetAllocator} that acquires, starts and prints every lease event to standard output as one line
 * {@code EVENT <what>}, until killed.
 *
 * <p>Arguments: endpoint, prefix, PublicIP, previous subnet (or {@code -}), lease TTL s, renew margin s.
 */
final class PausedAgentMain {
    private PausedAgentMain() {
    }

    private static synchronized void event(final String what) {
        System.out.println("EVENT " + what);
        System.out.flush();
    }

    public static void main(final String[] args) throws Exception {
        final EtcdSettings s = EtcdSettings.builder().endpoints(args[0]).prefix(args[1])
            .leaseTtl(Duration.ofSeconds(Long.parseLong(args[4]))).renewMargin(Duration.ofSeconds(Long.parseLong(args[5])))
            .renewRetryInterval(Duration.ofSeconds(1)).requestTimeout(Duration.ofSeconds(2))
            .connectTimeout(Duration.ofSeconds(1)).backoff(Duration.ofMillis(100), Duration.ofSeconds(1)).build();
        final EtcdSubnetAllocator a = new EtcdSubnetAllocator(s);
        final Lease lease = a.acquire(Ipv4.parse(args[2]),
            "-".equals(args[3]) ? Optional.empty() : Optional.of(Ipv4Prefix.parse(args[3])));
        a.start(lease, new LeaseListener() {
            @Override
            public void leaseRenewed(final Lease l) {
                event("renewed " + l.subnet());
            }

            @Override
            public void leaseLost(final Lease l) {
                event("lost " + l.subnet());
            }

            @Override
            public void leaseReacquired(final Lease previous, final Lease current) {
                event("reacquired " + previous.subnet() + " -> " + current.subnet());
            }

            @Override
            public void peerAdded(final Lease l) {
                event("added " + l.subnet() + " " + l.attrs().toJson());
            }

            @Override
            public void peerChanged(final Lease previous, final Lease current) {
                event("changed " + current.subnet() + " " + current.attrs().toJson());
            }

            @Override
            public void peerRemoved(final Lease l) {
                event("removed " + l.subnet());
            }
        });
        event("started " + lease.subnet());
        new CountDownLatch(1).await();
    }
}
