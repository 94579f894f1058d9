package io.overlay.core.spi;

import io.overlay.core.net.Ipv4Prefix;
import java.util.Optional;

/**
 * The host's packet-filter and forwarding state that overlay traffic needs outside overlay's own data path:
 * masquerade rules for traffic leaving the Network, accept rules in the host's FORWARD chain, and IPv4 forwarding.
 * flanneld keeps this in its main program beside the subnet manager, not in it (flannel v0.28.9
 * {@code pkg/trafficmngr/trafficmngr.go}, {@code main.go}); overlay keeps the same shape: the launcher wires an
 * implementation to the {@code Overlay}'s lease events and folds {@link #problem()} into the readiness it reports.
 *
 * <p>{@code overlay-tun}'s {@code LinuxTrafficManager} is the Linux implementation (nftables and iptables).
 * Implementations are thread-safe; {@link #apply} never blocks on the host's tools, so it may be called from an
 * {@code OverlayListener}.
 */
public interface TrafficManager extends AutoCloseable {
    /** {@link #problem()} until the first {@link #apply} has finished. */
    String INSTALLING = "installing host rules";

    /**
     * Removes what an earlier run with other settings left on the host (the rules of a feature that is off now), ahead
     * of the first {@link #apply}, so that this work is done while the lease is being acquired rather than after it.
     * Call it once the host is this agent's (after the launcher's instance lock: another agent's rules are not
     * stale); {@link #apply} does it itself when it was not called. Returns at once. The default does nothing.
     */
    default void prepare() {
    }

    /**
     * Installs the rules for this Network and this host's subnet, replacing those for an earlier subnet, and from
     * then on re-checks them periodically, restoring what is missing. Returns at once; the work runs on the
     * manager's own thread and {@link #problem()} tells when it is done or why it failed.
     *
     * @param network the overlay Network ({@code FLANNEL_NETWORK})
     * @param subnet this host's lease subnet
     */
    void apply(Ipv4Prefix network, Ipv4Prefix subnet);

    /**
     * Returns why the host is not (yet) set up for overlay traffic, for a not-ready status.
     *
     * @return empty when every rule and setting is in place; else a sentence naming the problem and, where there is
     *     one, the fix (for example {@code installing host rules}, or a failed {@code nft} run with its message)
     */
    Optional<String> problem();

    /**
     * Stops the periodic check and removes every rule this manager installed (IPv4 forwarding is left as it is, as
     * other software may rely on it). Idempotent; waits for the removal.
     */
    @Override
    void close();
}
