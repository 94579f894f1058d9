package io.overlay.core.spi;

import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4Prefix;
import java.util.Optional;

/**
 * The subnet registry: reads the network config, acquires and keeps this host's lease, and reports peers' leases.
 * Implemented by {@code overlay-etcd} (flannel's etcd v3 schema, {@code docs/flannel-compatibility.md#etcd-schema}).
 *
 * <p>Lifecycle: {@link #awaitNetworkConfig()}, then {@link #acquire}, then {@link #start} (renewal, own-lease watch,
 * peer watch), then {@link #close()}, which keeps the lease so that a restart gets the same subnet back.
 */
public interface SubnetAllocator extends AutoCloseable {
    /**
     * Reads and validates the network config, waiting with capped backoff while it is missing or invalid (each problem
     * is logged once with the exact key, the endpoints and the reason).
     *
     * @return the validated config
     * @throws InterruptedException if interrupted while waiting
     */
    NetworkConfig awaitNetworkConfig() throws InterruptedException;

    /**
     * Acquires this host's lease ({@code docs/flannel-compatibility.md#subnet-allocation}): the lease whose PublicIP is
     * ours, else the previous subnet if nobody holds it, else a random free subnet among the lowest 100 candidates.
     *
     * @param publicIp this host's PublicIP, int form
     * @param previousSubnet the subnet from the previous {@code subnet.env}, if any
     * @return the lease
     * @throws OutOfSubnetsException if no subnet is free (the message names the range and how many are in use)
     * @throws InterruptedException if interrupted
     */
    Lease acquire(int publicIp, Optional<Ipv4Prefix> previousSubnet) throws InterruptedException;

    /**
     * Acquires this host's lease as {@link #acquire(int, Optional)} does, writing {@code attrs} as its value (e.g. with
     * the public key in {@code BackendData} when encryption is on). The default supports only flannel's udp value.
     *
     * @param attrs the value to write; its PublicIP is this host's
     * @param previousSubnet the subnet from the previous {@code subnet.env}, if any
     * @return the lease
     * @throws OutOfSubnetsException if no subnet is free
     * @throws InterruptedException if interrupted
     * @throws UnsupportedOperationException if {@code attrs} is more than a PublicIP and the allocator cannot write it
     */
    default Lease acquire(LeaseAttrs attrs, Optional<Ipv4Prefix> previousSubnet) throws InterruptedException {
        if (!attrs.equals(LeaseAttrs.udp(attrs.publicIp()))) {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " writes only flannel's udp lease "
                + "value; it cannot publish " + attrs.toJson());
        }
        return acquire(attrs.publicIp(), previousSubnet);
    }

    /**
     * Starts keeping {@code lease}: renewal before expiry, the own-lease watch (re-acquire when lost) and the watch of
     * all leases (peer events, starting with the current peers, in batches through
     * {@link LeaseListener#peersChanged}). Events go to {@code listener} on the allocator's thread; the listener must
     * not block.
     *
     * @param lease the lease returned by {@link #acquire}
     * @param listener receives lease and peer events
     */
    void start(Lease lease, LeaseListener listener);

    /**
     * Changes the PublicIP this host advertises, after its underlay address changed: the held lease's value is
     * rewritten in place with the new PublicIP and everything else kept (same key, so the same subnet; same etcd
     * lease; flannel's value shape), and a lease re-acquired later is written with it too. Peers see the change as a
     * change of that lease's attributes. Runs on the allocator's thread; the future completes there.
     *
     * @param publicIp the new PublicIP, int form
     * @return completes with the lease as now written, or with {@code null} when no lease is held at the moment (lost:
     *     the re-acquisition writes the new PublicIP); exceptionally when the value cannot be written now (etcd
     *     unreachable, the key taken by another host), which the caller may retry. The default completes
     *     exceptionally with {@link UnsupportedOperationException}: the allocator cannot change it in place
     */
    default java.util.concurrent.CompletableFuture<Lease> changePublicIp(final int publicIp) {
        return java.util.concurrent.CompletableFuture.failedFuture(new UnsupportedOperationException(
            getClass().getSimpleName() + " cannot change the PublicIP of a held lease"));
    }

    /**
     * Returns whether {@link #start} reports, with {@link LeaseListener#peersListed()}, when the peers present at
     * start have all been delivered. The overlay is then ready (and writes {@code subnet.env}) only once they are
     * routed; otherwise it is ready as soon as it forwards for its own lease. The default is {@code false}, for
     * allocators written before this method existed.
     *
     * @return {@code true} if {@code peersListed} is called once after start
     */
    default boolean reportsPeersListed() {
        return false;
    }

    /**
     * Returns the allocator's endpoints, connection state and counters. Safe from any thread; never blocks on the
     * registry. The default reports {@link AllocatorStatus#UNKNOWN}.
     *
     * @return the status
     */
    default AllocatorStatus status() {
        return AllocatorStatus.UNKNOWN;
    }

    /**
     * Gives back the lease the last {@link #acquire} returned, before {@link #close()}, when nothing on the host records
     * it: the overlay stopped before it wrote {@code subnet.env} for a subnet the old file did not name. Kept, it would
     * be a live lease with this host's PublicIP that a later start cannot tell from another host's (and refuses until
     * it expires). The default does nothing.
     *
     * @param lease the lease the last {@link #acquire} returned
     */
    default void release(final io.overlay.core.flannel.Lease lease) {
    }

    /**
     * Stops watching and renewing; keeps the lease in etcd. Idempotent.
     */
    @Override
    void close();
}
