package io.overlay.core;

import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.AllocatorStatus;
import io.overlay.core.spi.EncryptionStatus;
import io.overlay.core.spi.EngineOffloads;
import io.overlay.core.spi.TrafficCounters;
import java.util.Map;

/**
 * A snapshot of a running {@link Overlay}, for health checks and embedding agents.
 *
 * @param ready whether the overlay forwards for its current lease
 * @param reason when not ready, why; empty string when ready
 * @param lease the current lease, or {@code null} before one is acquired (or while it is lost)
 * @param network the overlay Network, or {@code null} before the config was read
 * @param mtu the overlay MTU in bytes, 0 before start
 * @param tunName the TUN device's name, or {@code null} before it is open
 * @param bridge the bridge name, or {@code null} when none is configured
 * @param peers the routes: peer subnet to PublicIP:port
 * @param counters the packet engine's counters (all zero before start)
 * @param allocator the subnet allocator's endpoints, state and counters ({@link AllocatorStatus#UNKNOWN} when it
 *     reports none)
 * @param offloads the offloads the packet engine uses ({@link EngineOffloads#NONE} before start)
 * @param encryption the encryption mode, own public key and peers without a key ({@link EncryptionStatus#OFF} when
 *     off or before start)
 */
public record OverlayStatus(boolean ready, String reason, Lease lease, Ipv4Prefix network, int mtu, String tunName,
                            String bridge, Map<Ipv4Prefix, Peer> peers, TrafficCounters counters,
                            AllocatorStatus allocator, EngineOffloads offloads, EncryptionStatus encryption) {
    /**
     * Creates a status without encryption ({@link EncryptionStatus#OFF}).
     *
     * @param ready whether the overlay forwards for its current lease
     * @param reason when not ready, why; empty string when ready
     * @param lease the current lease, or {@code null}
     * @param network the overlay Network, or {@code null}
     * @param mtu the overlay MTU in bytes, 0 before start
     * @param tunName the TUN device's name, or {@code null}
     * @param bridge the bridge name, or {@code null}
     * @param peers the routes: peer subnet to PublicIP:port
     * @param counters the packet engine's counters
     * @param allocator the allocator's status
     * @param offloads the offloads in use
     */
    public OverlayStatus(final boolean ready, final String reason, final Lease lease, final Ipv4Prefix network,
                         final int mtu, final String tunName, final String bridge, final Map<Ipv4Prefix, Peer> peers,
                         final TrafficCounters counters, final AllocatorStatus allocator,
                         final EngineOffloads offloads) {
        this(ready, reason, lease, network, mtu, tunName, bridge, peers, counters, allocator, offloads,
            EncryptionStatus.OFF);
    }

    /**
     * Creates a status without allocator information or offloads ({@link AllocatorStatus#UNKNOWN},
     * {@link EngineOffloads#NONE}).
     *
     * @param ready whether the overlay forwards for its current lease
     * @param reason when not ready, why; empty string when ready
     * @param lease the current lease, or {@code null}
     * @param network the overlay Network, or {@code null}
     * @param mtu the overlay MTU in bytes, 0 before start
     * @param tunName the TUN device's name, or {@code null}
     * @param bridge the bridge name, or {@code null}
     * @param peers the routes: peer subnet to PublicIP:port
     * @param counters the packet engine's counters
     */
    public OverlayStatus(final boolean ready, final String reason, final Lease lease, final Ipv4Prefix network,
                         final int mtu, final String tunName, final String bridge, final Map<Ipv4Prefix, Peer> peers,
                         final TrafficCounters counters) {
        this(ready, reason, lease, network, mtu, tunName, bridge, peers, counters, AllocatorStatus.UNKNOWN,
            EngineOffloads.NONE);
    }

    /**
     * Returns the health line flannel-era deployments printed:
     * {@code ready <bridge>:<bridge address> subnet:<bridge address>/<len> mtu:<mtu>}, or a line beginning
     * {@code not-ready} with the reason. Without a bridge the device part names the TUN and the address it holds,
     * {@link FlannelRules#tunAddress the subnet's network address as /32}: {@code ready flannel0:100.64.1.0/32
     * subnet:100.64.1.1/24 mtu:1472} ({@code subnet:} is {@code subnet.env}'s {@code FLANNEL_SUBNET} either way).
     *
     * @return the line, without a newline
     */
    public String healthLine() {
        if (!ready || lease == null) {
            return "not-ready " + (reason == null || reason.isEmpty() ? "starting" : reason);
        }
        final String addr = Ipv4.format(FlannelRules.bridgeAddress(lease.subnet()));
        final boolean hasBridge = bridge != null && !bridge.isEmpty();
        final String dev = hasBridge ? bridge + ":" + addr : tunName + ":" + FlannelRules.tunAddress(lease.subnet());
        return "ready " + dev + " subnet:" + addr + "/" + lease.subnet().length() + " mtu:" + mtu;
    }
}
