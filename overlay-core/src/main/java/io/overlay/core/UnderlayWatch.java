package io.overlay.core;

import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.UnderlayInterface;
import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.InterfaceAddresses;
import io.overlay.core.spi.PacketEngine;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the host's underlay address while the overlay runs (package-private; event thread only, every
 * {@link OverlayConfig#underlayCheck()}). flanneld chooses its interface address and PublicIP once at start and keeps
 * advertising them until restarted, so after DHCP renumbering or an administrator re-addressing {@code eth0} every
 * peer sends to an address nobody holds while the host looks healthy. Here one check lists the namespace's IPv4
 * addresses (one rtnetlink dump) and acts only when the address the engine is bound to is gone:
 * <ul>
 * <li>PublicIP chosen from the interface ({@code --iface}, {@code --iface-regex}, {@code --iface-can-reach}, the
 * default route): the interface is chosen again with the same criteria; the engine moves its socket to the new
 * address ({@link PacketEngine#rebind}) and the allocator rewrites the lease's PublicIP in place
 * ({@link io.overlay.core.spi.SubnetAllocator#changePublicIp}: same key, subnet and etcd lease), which peers follow
 * through their watch. Not ready while it is being published; a failed or refused change (an operator's reservation
 * names the old address) is asked for again at every check, the allocator pacing its own retries. Should the address
 * the lease still names come back before the new one is published, the socket moves back to it.</li>
 * <li>An explicit {@code --public-ip} that was the bound address: never replaced; not ready, naming it, until it is
 * back. (Behind NAT the explicit PublicIP is not local: then only the socket follows the interface's new address.)</li>
 * <li>Nothing matches any more (no address left): not ready, naming the address and what was tried; ready again as
 * soon as the address, or a new one, is there.</li>
 * </ul>
 * An address that is still there is never left for another one the criteria would now prefer (a DHCP client that
 * adds the new address before removing the old one moves once, when the old one goes). The subnet, the overlay MTU
 * and so {@code subnet.env} stay as they are; an interface whose MTU no longer carries the running overlay MTU keeps
 * the host not ready until a restart (the TUN, the bridge and the containers would all need the new MTU).
 */
final class UnderlayWatch implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);

    private final OverlayConfig cfg;
    private final InterfaceAddresses source;
    private final PacketEngine engine;
    /** Where this watch's not-ready reason goes ({@link LeaseFollower#underlay}); {@code null}: none. */
    private final Consumer<String> readiness;
    private final AtomicReference<Lease> lease;
    private final EventThread events;
    private final int mtu;
    private final int overhead;
    /** The address the engine's socket is bound to. */
    private int bound;
    /** The PublicIP to advertise: the explicit one, else {@link #bound}. */
    private int wanted;
    /** The PublicIP the allocator last wrote. */
    private int advertised;
    /**
     * The PublicIP a {@code changePublicIp} call is under way for, 0 for none: at most one call at a time, and a call
     * for a newer address is made at once (the allocator lets it supersede the older one).
     */
    private int inFlight;
    /** The current not-ready reason of this watch, or null. */
    private String problem;
    /**
     * Set for good when only a restart helps: the new interface's MTU is too small for the running overlay MTU, or
     * the allocator cannot change the PublicIP in place.
     */
    private String stuck;
    /** Failed attempts to publish {@link #wanted} so far. */
    private int attempts;

    /**
     * Creates the watch of a started overlay.
     *
     * @param cfg the overlay's config (the interface criteria, the explicit PublicIP)
     * @param source the namespace's addresses
     * @param engine the running engine
     * @param readiness where this watch's not-ready reason goes ({@code null} when the underlay is fine):
     *     {@link LeaseFollower#underlay}
     * @param lease the current lease, updated when the PublicIP changed
     * @param events the event thread, where the allocator's answer is handled
     * @param iface the interface chosen at start
     * @param publicIp the PublicIP advertised at start
     * @param mtu the running overlay MTU
     * @param overhead what encryption takes off the underlay MTU besides flannel's 28 bytes
     */
    UnderlayWatch(final OverlayConfig cfg, final InterfaceAddresses source, final PacketEngine engine,
                  final Consumer<String> readiness, final AtomicReference<Lease> lease, final EventThread events,
                  final UnderlayInterface iface, final int publicIp, final int mtu, final int overhead) {
        this.cfg = cfg;
        this.source = source;
        this.engine = engine;
        this.readiness = readiness;
        this.lease = lease;
        this.events = events;
        this.bound = iface.address();
        this.wanted = publicIp;
        this.advertised = publicIp;
        this.mtu = mtu;
        this.overhead = overhead;
    }

    @Override
    public void run() {
        final List<InterfaceAddresses.Address> addresses;
        try {
            addresses = source.ipv4Addresses();
        } catch (IOException e) {
            LOG.debug("Cannot list the underlay addresses: {}", e.getMessage());
            return;
        }
        if (!has(addresses, bound) && !follow(addresses)) {
            return;
        }
        if (wanted != advertised && stuck == null && cfg.publicIp().isEmpty() && has(addresses, advertised)) {
            back();
            return;
        }
        if (wanted != advertised && stuck == null) {
            if (inFlight != wanted) {
                publish(true);
            }
            return;
        }
        report(null);
    }

    /**
     * The bound address is gone: moves to the address the criteria choose now.
     *
     * @return whether the engine is bound to an address the host has
     */
    private boolean follow(final List<InterfaceAddresses.Address> addresses) {
        final String gone = Ipv4.format(bound);
        if (cfg.publicIp().isPresent() && cfg.publicIp().get() == bound) {
            report("PublicIP " + gone + " (--public-ip) is no longer an address of this host: peers send to it and "
                + "nothing arrives; add it back, or restart with the new address");
            return false;
        }
        final UnderlayInterface next;
        try {
            next = UnderlayInterface.select(cfg.ifaces(), cfg.ifaceRegexes(), cfg.ifaceCanReach(), cfg.publicIp(),
                source);
        } catch (IOException e) {
            report("underlay address " + gone + " is gone and nothing replaces it: " + e.getMessage());
            return false;
        }
        if (!has(addresses, next.address())) {
            return false; // changed between the two dumps; the next check sees it settled
        }
        try {
            engine.rebind(next.address());
        } catch (IOException | RuntimeException e) {
            report("underlay address " + gone + " is gone; cannot move to " + Ipv4.format(next.address()) + " on "
                + next.name() + ": " + e.getMessage());
            return false;
        }
        final boolean explicit = cfg.publicIp().isPresent();
        LOG.warn("Underlay address {} is gone; moved to {} on {} (UDP socket rebound){}", gone,
            Ipv4.format(next.address()), next.name(), explicit ? "; PublicIP " + Ipv4.format(wanted)
                + " (--public-ip) unchanged" : "; changing the lease's PublicIP from " + gone + " to "
                + Ipv4.format(next.address()) + " in place, same subnet");
        bound = next.address();
        if (!explicit) {
            wanted = bound;
        }
        final int nextMtu = FlannelRules.mtu(next.mtu()) - overhead;
        if (nextMtu < mtu) {
            stuck = "underlay interface " + next.name() + " has MTU " + next.mtu() + ", too small for the overlay "
                + "MTU " + mtu + " this host runs with; restart needed";
            LOG.error("{}", stuck);
        }
        return true;
    }

    /**
     * The address the lease still names is the host's again before the new one was published (it came back, or the
     * allocator refuses the change: an operator's reservation names the old address): moves back to it, where peers
     * still send, and tells the allocator that the PublicIP is the old one again.
     */
    private void back() {
        final String from = Ipv4.format(bound);
        try {
            engine.rebind(advertised);
        } catch (IOException | RuntimeException e) {
            report("underlay address " + Ipv4.format(advertised) + " is back, but the socket cannot move back from "
                + from + ": " + e.getMessage());
            return;
        }
        LOG.warn("Underlay address {}, which the lease still names, is back; moved back to it from {} (UDP socket "
            + "rebound)", Ipv4.format(advertised), from);
        bound = advertised;
        wanted = advertised;
        attempts = 0;
        publish(false); // the allocator has the newer address pending or refused: it is the old one again
        report(null);
    }

    /**
     * Has the allocator write {@link #wanted} into the lease; not ready until it did. A call that throws, like one that
     * completes exceptionally, is a failed attempt: reported, and made again at the next check (the allocator paces
     * its etcd requests itself).
     *
     * @param announce whether to report the change as the not-ready reason while it is under way
     */
    private void publish(final boolean announce) {
        final int ip = wanted;
        final String from = Ipv4.format(advertised);
        inFlight = ip;
        if (announce && attempts == 0) {
            report("underlay address changed from " + from + " to " + Ipv4.format(ip) + "; publishing PublicIP "
                + Ipv4.format(ip) + " in the lease");
        }
        CompletableFuture<Lease> change;
        try {
            change = cfg.allocator().changePublicIp(ip);
        } catch (RuntimeException e) {
            change = CompletableFuture.failedFuture(e);
        }
        change.whenComplete((written, failure) -> events.post(() -> published(ip, from, written, failure)));
    }

    /** Event thread: the allocator's answer to the change to {@code ip}. */
    private void published(final int ip, final String from, final Lease written, final Throwable failure) {
        if (inFlight == ip) {
            inFlight = 0;
        }
        if (failure != null) {
            if (ip != wanted || stuck != null) {
                return; // superseded by a newer address, whose own answer reports
            }
            final Throwable error = failure instanceof CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
            attempts++;
            if (error instanceof UnsupportedOperationException) {
                stuck = "underlay address changed from " + from + " to " + Ipv4.format(ip) + " but "
                    + error.getMessage() + ": peers still send to " + from + "; restart needed";
                LOG.error("{}", stuck);
                report(stuck);
                return;
            }
            report("cannot publish PublicIP " + Ipv4.format(ip) + " in the lease (peers still send to " + from
                + "): " + error.getMessage() + "; retrying");
            return;
        }
        advertised = ip;
        if (written != null) {
            lease.updateAndGet(l -> l != null && l.subnet().equals(written.subnet()) ? written : l);
        }
        if (ip != wanted) {
            return; // an older address written before the newer one superseded it; that one is under way
        }
        attempts = 0;
        LOG.info("PublicIP {} published (was {}); peers follow through their watch", Ipv4.format(ip), from);
        run();
    }

    /** Sets this watch's not-ready reason ({@code null}: none), telling the follower of changes only. */
    private void report(final String reason) {
        final String next = reason != null ? reason : stuck;
        if (next == null ? problem == null : next.equals(problem)) {
            return;
        }
        if (next == null) {
            LOG.info("Underlay address {} in use; the underlay no longer holds readiness back", Ipv4.format(bound));
        } else {
            LOG.warn("Not ready: {}", next);
        }
        problem = next;
        readiness.accept(next);
    }

    private static boolean has(final List<InterfaceAddresses.Address> addresses, final int address) {
        for (InterfaceAddresses.Address a : addresses) {
            if (a.address() == address) {
                return true;
            }
        }
        return false;
    }
}
