package io.overlay.core;

import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.SubnetEnv;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.TunDevice;
import io.overlay.core.spi.TunSetup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies a lease to the host: the TUN device's address (the subnet address as a /32), MTU, route to the whole
 * Network and transmit queue length, then the container bridge with the subnet's first address
 * ({@code configureIface} in flannel v0.28.9 {@code pkg/backend/udp/udp_network_amd64.go}); and, separately,
 * {@code subnet.env} ({@code WriteSubnetFile} in {@code pkg/subnet/subnet.go}). flanneld writes {@code subnet.env}
 * before it follows the peers; overlay writes it last, when the overlay becomes ready (the engine forwards for the
 * lease and the peers present at start are routed), so a consumer that waits for the file never finds a host that
 * does not forward yet. Used at start and again for every re-acquired lease; applying the same lease twice changes
 * nothing. A {@code subnet.env} already there is brought up to date as soon as a re-acquired lease with another
 * subnet is applied ({@link #updateSubnetEnv}).
 *
 * <p>The bridge loses the address of every subnet this host held before: the one its old {@code subnet.env} named
 * at start and the last one applied. Those may lie outside the current Network when the network config changed, where
 * the bridge's own clean-up (addresses inside the Network) does not reach. The TUN device drops every other address by
 * itself ({@link TunDevice#configure}). One thread at a time (start, then the overlay's event thread).
 */
final class HostConfigurator {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);
    private final OverlayConfig config;
    private final TunDevice tun;
    private final Ipv4Prefix network;
    private final int mtu;
    /** Subnets held before whose bridge address may linger; after a successful apply, just that lease's subnet. */
    private final Set<Ipv4Prefix> earlier = new LinkedHashSet<>();
    /** The difference the last {@link #restoreIfChanged} could not undo, or null. */
    private List<String> unrestored;

    /**
     * Creates the configurator of one overlay.
     *
     * @param config the overlay's config ({@code subnet.env} path, bridge, transmit queue length)
     * @param tun the open TUN device
     * @param network the overlay Network
     * @param mtu the overlay MTU in bytes
     * @param previous the subnet the old {@code subnet.env} named, if any
     */
    HostConfigurator(final OverlayConfig config, final TunDevice tun, final Ipv4Prefix network, final int mtu,
                     final Optional<Ipv4Prefix> previous) {
        this.config = config;
        this.tun = tun;
        this.network = network;
        this.mtu = mtu;
        previous.ifPresent(earlier::add);
    }

    /**
     * Configures the TUN device and the bridge (if any) for the lease's subnet. Holds no lock; may take a while
     * (netlink).
     *
     * @param lease the lease to apply
     * @throws IOException if the TUN or the bridge cannot be configured; the steps before stay applied
     */
    void configure(final Lease lease) throws IOException {
        final Ipv4Prefix subnet = lease.subnet();
        tun.configure(tunSetup(subnet));
        if (config.bridge() != null) {
            final List<Ipv4Prefix> stale = new ArrayList<>(earlier);
            stale.remove(subnet);
            config.bridgeConfigurator().ensureBridge(config.bridge(), subnet, FlannelRules.bridgeAddress(subnet),
                network, mtu, stale);
        }
        earlier.clear();
        earlier.add(subnet);
    }

    /**
     * Compares the TUN device and the bridge with what {@link #configure} set up for the lease and puts back what
     * someone else changed (the link taken down, which also drops its routes; the Network route or an address removed;
     * the MTU changed; the bridge deleted), logging at WARN what was found and restored. Reads only when nothing
     * changed: a handful of netlink requests, the same at any number of peers (the TUN carries one route, the
     * Network's). Holds no lock.
     *
     * @param lease the lease {@link #configure} last applied
     * @return whether anything was restored
     * @throws io.overlay.core.spi.TunDeviceGoneException if the TUN device was deleted, which cannot be undone in place
     * @throws IOException if the kernel cannot be asked or refuses to restore a part
     */
    boolean restoreIfChanged(final Lease lease) throws IOException {
        final Ipv4Prefix subnet = lease.subnet();
        final TunSetup setup = tunSetup(subnet);
        boolean restored = false;
        final List<String> tunDrift = tun.drift(setup);
        if (!tunDrift.isEmpty()) {
            warnOnce(tunDrift, "TUN " + tun.name() + " was changed by someone else (" + String.join(", ", tunDrift)
                + "); restoring its address " + setup.address() + ", MTU " + mtu + ", link up and route " + network);
            tun.configure(setup);
            stillDiffers("TUN " + tun.name(), tun.drift(setup), tunDrift);
            restored = true;
        }
        if (config.bridge() != null) {
            final int address = FlannelRules.bridgeAddress(subnet);
            final List<String> bridgeDrift = config.bridgeConfigurator().drift(config.bridge(), subnet, address, mtu);
            if (!bridgeDrift.isEmpty()) {
                warnOnce(bridgeDrift, "Bridge " + config.bridge() + " was changed by someone else ("
                    + String.join(", ", bridgeDrift) + "); restoring it" + (bridgeDrift.contains("bridge "
                    + config.bridge() + " missing") ? " (containers attached to the deleted bridge lost their link "
                    + "and must be attached again)" : ""));
                config.bridgeConfigurator().ensureBridge(config.bridge(), subnet, address, network, mtu, List.of());
                stillDiffers("bridge " + config.bridge(), config.bridgeConfigurator().drift(config.bridge(), subnet,
                    address, mtu), bridgeDrift);
                restored = true;
            }
        }
        unrestored = null;
        return restored;
    }

    /**
     * WARN, except at DEBUG when the same difference could not be restored at the last check either (a route of
     * someone else's for the Network, which the TUN's route cannot replace, would otherwise log every check).
     */
    private void warnOnce(final List<String> drift, final String message) {
        if (drift.equals(unrestored)) {
            LOG.debug("{}", message);
        } else {
            LOG.warn("{}", message);
        }
    }

    /** Throws, naming what is left, when restoring left a difference (e.g. EEXIST for a route through another device). */
    private void stillDiffers(final String what, final List<String> after, final List<String> before)
        throws IOException {
        if (!after.isEmpty()) {
            unrestored = before;
            throw new IOException(what + " still differs after restoring it: " + String.join(", ", after)
                + (after.stream().anyMatch(d -> d.startsWith("route ")) ? " (does another route for the Network leave "
                + "through another device? see ip route show " + network + ")" : ""));
        }
    }

    private TunSetup tunSetup(final Ipv4Prefix subnet) {
        return new TunSetup(FlannelRules.tunAddress(subnet), mtu, List.of(network), config.tunTxQueueLength());
    }

    /**
     * Writes {@code subnet.env} for the lease atomically, when a path is configured (fsync), and the same content to
     * the lease file, when one is configured.
     *
     * @param lease the lease
     * @param named run after each file written: from then on a file names the lease, even when a later one fails
     * @throws IOException if a file cannot be written
     */
    void writeSubnetEnv(final Lease lease, final Runnable named) throws IOException {
        write(lease, false, named);
    }

    /**
     * Brings the files up to date with a re-acquired lease the host forwards for while it is not ready: the lease file,
     * when one is configured, and {@code subnet.env} only where it exists already. Neither may name the subnet held
     * before, which another host may hold now and which the next start would take as this host's; a consumer waiting
     * for a missing {@code subnet.env} still finds it only once the overlay is ready.
     *
     * @param lease the lease just applied
     * @param named run after each file written
     * @throws IOException if a file cannot be written
     */
    void updateSubnetEnv(final Lease lease, final Runnable named) throws IOException {
        write(lease, true, named);
    }

    private void write(final Lease lease, final boolean onlyExistingSubnetFile, final Runnable named)
        throws IOException {
        final SubnetEnv env = new SubnetEnv(network, lease.subnet(), mtu, config.ipMasq());
        final Path subnetFile = config.subnetFile();
        if (subnetFile != null && (!onlyExistingSubnetFile || Files.exists(subnetFile))) {
            env.write(subnetFile); // atomic: on failure the file is unchanged
            named.run();
        }
        if (config.leaseFile() != null) {
            env.write(config.leaseFile());
            named.run();
        }
    }
}
