package io.overlay.core;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.RouteTable;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.PacketEngine;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The allocator's {@link LeaseListener}: follows peers' leases into the route table and this host's lease into the
 * engine and the host, then tells the user's listener. Every event is handed to the {@link EventThread} and handled
 * there in order, so the allocator's thread never waits for netlink or file I/O.
 *
 * <p>A lost lease stops delivery and readiness until it is re-acquired; a re-acquired one is applied again with
 * capped exponential backoff, and a newer lease event supersedes a pending retry (the generation check). The
 * behaviour is described for users in {@link Overlay}'s class documentation; flanneld instead exits when its lease is
 * revoked ({@code docs/flannel-compatibility.md#lease-ttl-and-renewal}).
 */
final class LeaseFollower implements LeaseListener {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);
    /** The start of the not-ready reason while the registry's network config needs a restart. */
    static final String CONFIG_CHANGED = "network config changed: ";
    /** Beyond this many doublings the delay is the cap anyway; avoids shifting past 63 bits. */
    private static final int MAX_DOUBLINGS = 20;

    private final OverlayConfig config;
    private final EventThread events;
    private final Readiness readiness;
    private final RouteTable routes;
    private final int port;
    private final HostConfigurator host;
    private final PacketEngine engine;
    private final AtomicReference<Lease> lease;
    private final Supplier<OverlayStatus> status;
    /** Bumped by every leaseLost/leaseReacquired; a pending retry of an older one gives up (event thread only). */
    private int generation;
    /**
     * Why the registry's network config needs a restart of this host, or null when it is the running one (event
     * thread only): while set, the overlay is not ready whatever else happens.
     */
    private String configChanged;

    /**
     * Creates the follower of a started overlay.
     *
     * @param config the overlay's config (retry backoff)
     * @param events the event thread every event is handled on
     * @param readiness the overlay's readiness
     * @param routes the route table peers' leases go into
     * @param port the backend's UDP port, the same on every host
     * @param host applies a re-acquired lease to the host
     * @param engine the running engine
     * @param lease the current lease, which {@link Overlay#status()} reports; written here on the event thread
     * @param status the overlay's status, for the ready event
     */
    LeaseFollower(final OverlayConfig config, final EventThread events, final Readiness readiness,
                  final RouteTable routes, final int port, final HostConfigurator host, final PacketEngine engine,
                  final AtomicReference<Lease> lease, final Supplier<OverlayStatus> status) {
        this.config = config;
        this.events = events;
        this.readiness = readiness;
        this.routes = routes;
        this.port = port;
        this.host = host;
        this.engine = engine;
        this.lease = lease;
        this.status = status;
    }

    @Override
    public void leaseRenewed(final Lease l) {
        events.post(() -> {
            if (lease.get() != null) {
                lease.set(l);
            }
            events.tell(x -> x.leaseRenewed(l));
        });
    }

    @Override
    public void leaseLost(final Lease l) {
        events.post(() -> {
            generation++;
            lease.set(null);
            engine.localSubnet(null);
            LOG.warn("Lease {} lost; delivering nothing for it (inbound datagrams dropped as {}), not ready, "
                + "re-acquiring", l.subnet(), DropReason.FOREIGN_DESTINATION);
            events.tell(x -> x.leaseLost(l));
            becomeNotReady("lease " + l.subnet() + " lost; re-acquiring");
        });
    }

    @Override
    public void leaseReacquired(final Lease previous, final Lease current) {
        events.post(() -> {
            generation++;
            lease.set(current);
            if (previous.subnet().equals(current.subnet())) {
                LOG.info("Lease {} re-acquired; reconfiguring", current.subnet());
            } else {
                LOG.warn("Subnet changed from {} to {}; reconfiguring", previous.subnet(), current.subnet());
            }
            events.tell(x -> x.leaseReacquired(previous, current));
            reapply(generation, current, 1);
        });
    }

    /**
     * The registry's network config differs from the running one in a way only a restart applies: not ready, with
     * the differences as the reason, until it is changed back (or the host restarted). Peers keep being routed: the
     * data path still works for every host that runs the old config.
     */
    @Override
    public void networkConfigChanged(final NetworkConfig running, final NetworkConfig stored,
                                     final List<String> restartNeeded) {
        events.post(() -> {
            if (restartNeeded.isEmpty()) {
                final boolean was = configChanged != null;
                configChanged = null;
                if (was && lease.get() != null && readiness.current().reason().startsWith(CONFIG_CHANGED)) {
                    becomeReady();
                }
            } else {
                configChanged = CONFIG_CHANGED + String.join("; ", restartNeeded) + "; restart needed";
                becomeNotReady(configChanged);
            }
        });
    }

    @Override
    public void peerAdded(final Lease l) {
        events.post(() -> {
            routes.put(l.subnet(), l.peer(port));
            LOG.info("Subnet added: {} via {}", l.subnet(), Ipv4.format(l.attrs().publicIp()));
            events.tell(x -> x.peerAdded(l));
        });
    }

    @Override
    public void peerChanged(final Lease previous, final Lease current) {
        events.post(() -> {
            routes.put(current.subnet(), current.peer(port));
            LOG.info("Subnet changed: {} now via {}", current.subnet(), Ipv4.format(current.attrs().publicIp()));
            events.tell(x -> x.peerChanged(previous, current));
        });
    }

    @Override
    public void peerRemoved(final Lease l) {
        events.post(() -> {
            routes.remove(l.subnet());
            LOG.info("Subnet removed: {}", l.subnet());
            events.tell(x -> x.peerRemoved(l));
        });
    }

    /**
     * Event thread: applies a re-acquired lease (host, then engine) and becomes ready; on failure stays not-ready and
     * tries again after the backoff, unless a newer lease event came meanwhile.
     */
    private void reapply(final int gen, final Lease l, final int attempt) {
        if (gen != generation || readiness.closed()) {
            return;
        }
        try {
            host.apply(l);
            engine.localSubnet(l.subnet());
            if (attempt > 1) {
                LOG.info("Reconfiguring for subnet {} succeeded on attempt {}", l.subnet(), attempt);
            }
            becomeReady();
        } catch (IOException | RuntimeException e) {
            final long delay = retryDelayMillis(attempt);
            if (attempt == 1) {
                LOG.error("Reconfiguring for subnet {} failed; retrying in {} ms", l.subnet(), delay, e);
            } else {
                LOG.error("Reconfiguring for subnet {} failed again (attempt {}): {}; retrying in {} ms", l.subnet(),
                    attempt, e.getMessage(), delay);
            }
            becomeNotReady("reconfiguring for " + l.subnet() + " failed: " + e.getMessage());
            events.later(() -> reapply(gen, l, attempt + 1), delay);
        }
    }

    /** Backoff before attempt {@code attempt + 1}: the initial delay doubled per attempt, capped. */
    private long retryDelayMillis(final int attempt) {
        final long initial = config.retryInitial().toMillis();
        final long max = config.retryMax().toMillis();
        return attempt > MAX_DOUBLINGS ? max : Math.min(max, initial << (attempt - 1));
    }

    /** Event thread: ready again after a re-acquire (unless the network config needs a restart); tells the listener. */
    private void becomeReady() {
        if (configChanged != null) {
            becomeNotReady(configChanged);
            return;
        }
        if (readiness.transition(true, "")) {
            final OverlayStatus s = status.get();
            LOG.info("{}", s.healthLine());
            events.tell(x -> x.ready(s));
        }
    }

    /** Event thread: not ready; tells the listener. */
    private void becomeNotReady(final String reason) {
        if (readiness.transition(false, reason)) {
            events.tell(x -> x.notReady(reason));
        }
    }
}
