// Longer than ~400 lines because its four duties (renewal, the watch's word on the own key, re-acquisition, the
// in-place PublicIP change) all read and replace one state, the held key (etcd lease, revision, value, the writes etcd
// has not confirmed), on the control thread, and must see each other's writes at once: a late PublicIP write is
// recognised by the watch, a re-acquisition completes a pending change. Split, that state would be shared by classes
// calling each other back.
package io.overlay.etcd;

import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps this host's key after {@code start} (package-private; control thread only): renews its etcd lease, follows
 * what the watch says of the key, reports a loss and re-acquires.
 *
 * <p>Renewal: at expiry minus {@link EtcdSettings#renewMargin()}, on the monotonic {@link EtcdSettings#ticker()}, one
 * LeaseKeepAlive refreshes the etcd lease (flanneld instead grants a new lease and re-puts the value,
 * docs/flannel-compatibility.md#lease-ttl-and-renewal): key and value stay byte for byte the same and no PUT event
 * reaches the peers. Failures are retried every {@link EtcdSettings#renewRetryInterval()}. A reservation (no etcd
 * lease) is never renewed. When someone re-puts our value on another etcd lease, that lease is adopted with the expiry
 * etcd reports for it. When the key is deleted, overwritten or its etcd lease is gone, {@code leaseLost} is reported,
 * the key re-acquired (the same subnet when still free) and {@code leaseReacquired} reported. A re-acquisition that
 * etcd fails or refuses (unreachable, its NOSPACE alarm raised) is tried again with capped backoff
 * ({@link EtcdSettings#backoffMin()} doubling to {@link EtcdSettings#backoffMax()}), one attempt per control task, so
 * that the lease watch's events reach the peers meanwhile; one WARN per kind of failure and wait.
 */
final class LeaseKeeper {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);

    private final EtcdSettings settings;
    private final SubnetRegistry registry;
    private final LeaseAcquirer acquirer;
    private final ControlThread control;
    private final PeerSet peers;
    private final AtomicLong renewals = new AtomicLong();
    private NetworkConfig config;
    private int publicIp;
    /** The value written at start (with the public key when encryption is on), written again on re-acquisition. */
    private LeaseAttrs attrs;
    private HeldLease own;
    private Lease lost;
    private ScheduledFuture<?> renewTask;
    /** The backoff of re-acquisitions waiting for the network config key, 0 while it is not missing. */
    private long configBackoffNanos;
    /** Whether this wait for the network config key has logged that the key is missing (once per wait). */
    private boolean configMissingLogged;
    /** The backoff of re-acquisitions etcd failed or refused, 0 after a success. */
    private long reacquireBackoffNanos;
    /** The kinds of etcd failure this wait for a re-acquisition has logged at WARN (once each). */
    private final Set<String> reacquireWarned = new HashSet<>();
    /** The PublicIP a change waits to write into the own key, 0 for none. */
    private int changing;
    /** The callers waiting for the next outcome of {@link #changing}. */
    private final List<CompletableFuture<Lease>> changeWaiters = new ArrayList<>();
    /** The scheduled next attempt at {@link #changing}, or null. */
    private ScheduledFuture<?> changeTask;
    /** The backoff of PublicIP change attempts etcd failed, 0 after a success. */
    private long changeBackoffNanos;
    /** The kinds of etcd failure this PublicIP change has logged at WARN (once each). */
    private final Set<String> changeWarned = new HashSet<>();
    /**
     * The PublicIPs a swap tried to write into the own key (on its etcd lease) without learning the outcome: etcd may
     * apply such a write late, after a newer address superseded it. A value naming one of them on the own etcd lease is
     * this host's own write, not another host's. Cleared by a swap that succeeds and when the key is lost; bounded by
     * the address changes during one outage.
     */
    private final Set<Integer> unconfirmed = new HashSet<>();
    /** The PublicIP a change to was refused because the own key is a reservation (logged once), 0 for none. */
    private int reservationRefused;
    /** Ticker time of the last {@link #restoreOwnValue} write, 0 for none (control thread). */
    private long lastRestore;

    LeaseKeeper(final EtcdSettings settings, final SubnetRegistry registry, final LeaseAcquirer acquirer,
                final ControlThread control, final PeerSet peers) {
        this.settings = settings;
        this.registry = registry;
        this.acquirer = acquirer;
        this.control = control;
        this.peers = peers;
    }

    /** Returns how many renewals succeeded (any thread). */
    long renewals() {
        return renewals.get();
    }

    /** Starts keeping {@code held}, acquired with {@code cfg} for {@code ip}, and schedules its renewal. */
    void start(final HeldLease held, final NetworkConfig cfg, final int ip) {
        this.own = held;
        this.config = cfg;
        this.publicIp = ip;
        this.attrs = held.lease().attrs();
        peers.ownPublicIp(ip);
        scheduleRenewal();
    }

    /**
     * Sets the network config a re-acquisition uses (a new SubnetMin/SubnetMax the config watch applied).
     *
     * @param cfg the config
     */
    void networkConfig(final NetworkConfig cfg) {
        this.config = cfg;
    }

    /** Returns the own key, or null while none is held. */
    String ownKey() {
        return own == null ? null : own.key();
    }

    /** Returns the own subnet, or null while none is held. */
    Ipv4Prefix ownSubnet() {
        return own == null ? null : own.lease().subnet();
    }

    /** How often a PublicIP change tries its compare-and-swap when the key changed under it. */
    private static final int CHANGE_ATTEMPTS = 3;

    /**
     * Rewrites the own key's value with PublicIP {@code ip} in place (same key and etcd lease), and uses it for
     * re-acquisitions and as the own PublicIP from now on. Completes {@code done} with the lease as written, with
     * {@code null} when no key is held (the re-acquisition writes it), or exceptionally when the next attempt fails.
     * A change still pending when the key is lost completes with the re-acquired lease once that names {@code ip}.
     *
     * <p>One change at a time, one attempt per control task, as a re-acquisition: an attempt etcd fails (unreachable,
     * no answer within the request timeout) stays pending and is tried again with capped backoff
     * ({@link EtcdSettings#backoffMin()} doubling to {@link EtcdSettings#backoffMax()}), one WARN per kind of failure,
     * so that the lease watch's events and renewals are not stalled behind a request every second. A call for the
     * PublicIP already pending joins it (no request of its own); a call for another PublicIP supersedes it: the
     * earlier callers complete exceptionally, and the next attempt writes the newer address.
     */
    void changePublicIp(final int ip, final CompletableFuture<Lease> done) {
        final int was = own != null ? own.lease().attrs().publicIp() : publicIp;
        attrs = attrs.withPublicIp(ip);
        publicIp = ip;
        peers.ownPublicIp(ip);
        if (changing != 0 && changing != ip) {
            // the newer address takes the older one's place, and its backoff: etcd has not answered meanwhile
            LOG.info("PublicIP change to {} superseded by a change to {}", Ipv4.format(changing), Ipv4.format(ip));
            final IllegalStateException superseded = new IllegalStateException("superseded by a change of the "
                + "PublicIP to " + Ipv4.format(ip));
            final List<CompletableFuture<Lease>> waiting = List.copyOf(changeWaiters);
            changeWaiters.clear();
            waiting.forEach(w -> w.completeExceptionally(superseded));
        }
        if (own == null) {
            LOG.warn("PublicIP changed from {} to {} while no lease is held; the re-acquisition writes it",
                Ipv4.format(was), Ipv4.format(ip));
            finishChange(null, null);
            done.complete(null);
            return;
        }
        changing = ip;
        changeWaiters.add(done);
        if (changeTask == null) {
            attemptChange();
        }
    }

    /** One attempt at the pending PublicIP change (control thread). */
    private void attemptChange() {
        changeTask = null;
        final int ip = changing;
        if (ip == 0 || control.closed()) {
            return;
        }
        if (own == null) {
            finishChange(null, null); // lost meanwhile: the re-acquisition writes it
            return;
        }
        try {
            final Lease written = swapPublicIp(ip);
            finishChange(written, null);
        } catch (EtcdUnavailableException e) {
            if (control.closed()) {
                return;
            }
            changeBackoffNanos = changeBackoffNanos == 0 ? settings.backoffMin().toNanos()
                : Math.min(changeBackoffNanos * 2, settings.backoffMax().toNanos());
            if (changeWarned.add(e.kind())) {
                LOG.warn("Cannot write PublicIP {} into lease {} yet (peers still send to the old address): {}; "
                    + "retrying with backoff up to {}", Ipv4.format(ip), ownKey(), e.getMessage(),
                    settings.backoffMax());
            } else {
                LOG.debug("Still cannot write PublicIP {} into lease {}: {}", Ipv4.format(ip), ownKey(),
                    e.getMessage());
            }
            changeTask = control.later("PublicIP change", this::attemptChange, changeBackoffNanos,
                this::retryChangeLater);
            final List<CompletableFuture<Lease>> waiting = List.copyOf(changeWaiters);
            changeWaiters.clear();
            waiting.forEach(w -> w.completeExceptionally(e)); // callers hear of it; the change stays pending
        } catch (IllegalStateException e) {
            finishChange(null, e);
        }
    }

    private void retryChangeLater() {
        changeTask = control.later("PublicIP change", this::attemptChange, settings.renewRetryInterval().toNanos(),
            this::retryChangeLater);
    }

    /** Ends the pending change: its callers complete with {@code written}, or with {@code failure} when given. */
    private void finishChange(final Lease written, final Throwable failure) {
        changing = 0;
        if (changeTask != null) {
            changeTask.cancel(false);
            changeTask = null;
        }
        changeBackoffNanos = 0;
        changeWarned.clear();
        final List<CompletableFuture<Lease>> waiting = List.copyOf(changeWaiters);
        changeWaiters.clear();
        for (CompletableFuture<Lease> w : waiting) {
            if (failure != null) {
                w.completeExceptionally(failure);
            } else {
                w.complete(written);
            }
        }
    }

    /**
     * The compare-and-swap of the own key's value to PublicIP {@code ip}.
     *
     * @return the lease as written, or null when the key was lost meanwhile (the re-acquisition writes it)
     * @throws EtcdUnavailableException if etcd failed; the caller tries again
     * @throws IllegalStateException if the key is another host's now, or kept changing
     */
    private Lease swapPublicIp(final int ip) {
        final int was = own.lease().attrs().publicIp();
        if (was == ip) {
            // already written: an earlier swap whose reply was lost, confirmed since by the watch or a listing
            reservationRefused = 0;
            return own.lease();
        }
        if (own.lease().reservation()) {
            // An operator's reservation (flannel's Documentation/reservations.md: a key without an etcd lease names the
            // host by its PublicIP). Its value is the operator's, never rewritten here; the operator moves it.
            final String why = "subnet " + own.lease().subnet() + " is reserved for PublicIP " + Ipv4.format(was)
                + " (key " + own.key() + " has no etcd lease: an operator's reservation, left as written); update "
                + "the reservation to name " + Ipv4.format(ip) + ", or give this host " + Ipv4.format(was) + " back";
            if (reservationRefused != ip) {
                reservationRefused = ip;
                LOG.warn("Not changing the PublicIP of reservation {} from {} to {}: {}", own.key(), Ipv4.format(was),
                    Ipv4.format(ip), why);
            }
            throw new IllegalStateException(why);
        }
        for (int attempt = 1; attempt <= CHANGE_ATTEMPTS; attempt++) {
            final LeaseAttrs next = own.lease().attrs().withPublicIp(ip);
            unconfirmed.add(ip); // until etcd answers: a timeout may still be applied
            final Optional<Long> rev = registry.putIfUnchanged(own.key(), next.toBytes(), own.leaseId(),
                own.modRevision());
            if (rev.isPresent()) {
                unconfirmed.clear(); // compare-and-swap on the revision: an older write can no longer apply
                final Lease l = own.lease();
                own = new HeldLease(new Lease(l.subnet(), next, l.reservation(), l.ttl()), own.key(),
                    own.leaseId(), rev.get(), own.expiresAtNanos());
                LOG.warn("PublicIP of lease {} changed from {} to {} in place (etcd lease {} kept, subnet {} "
                    + "kept): this host's underlay address changed", own.key(), Ipv4.format(was),
                    Ipv4.format(ip), SubnetRegistry.leaseIdText(own.leaseId()), l.subnet());
                return own.lease();
            }
            // changed under us: still ours (an earlier write, a re-put on another etcd lease)? then again
            final Optional<SubnetRegistry.Value> v = registry.get(own.key());
            if (v.isEmpty()) {
                lose("its key " + own.key() + " is gone");
                return null;
            }
            final SubnetListing.Entry e = SubnetListing.Entry.parse(settings.subnetsPrefix(), own.key(),
                v.get().value(), v.get().leaseId(), v.get().modRevision(), 0);
            final int now = e.valid() ? e.attrs().publicIp() : 0;
            if (!e.valid() || now != was && now != ip && !unconfirmed.contains(now)) {
                throw new IllegalStateException("own key " + own.key() + " now holds "
                    + (e.valid() ? "PublicIP " + Ipv4.format(e.attrs().publicIp()) : "a malformed value")
                    + ", another host's");
            }
            if (e.leaseId() != own.leaseId()) {
                // Re-put on another etcd lease: after renumbering, the host now given our old address may hold it
                // (flanneld reuses the key naming its IP). Writing our new address there would resurrect our claim
                // on that host's etcd lease; only the etcd lease this agent holds is ever rewritten.
                lose(reputBy(e));
                return null;
            }
            if (now != own.lease().attrs().publicIp()) {
                // an earlier swap of this host's that etcd applied after all (its reply lost, or a superseded one)
                own = withPublicIp(now);
            }
            own = own.withModRevision(e.modRevision());
        }
        throw new IllegalStateException("own key " + own.key() + " kept changing while its PublicIP was being "
            + "rewritten (" + CHANGE_ATTEMPTS + " tries)");
    }

    /** A full listing saw the own key as {@code entry}, or did not see it. */
    void onListed(final Optional<SubnetListing.Entry> entry) {
        if (own == null) {
            return;
        }
        if (entry.isPresent()) {
            onOwnPut(entry.get());
        } else {
            lose("its key " + own.key() + " is gone");
        }
    }

    /** The watch saw a put of the own key; one older than what we hold (a replay) is ignored. */
    void onWatchedPut(final SubnetListing.Entry e) {
        if (e.modRevision() > own.modRevision()) {
            onOwnPut(e);
        }
    }

    /** The watch saw a delete of the own key (deleted, or its etcd lease expired). */
    void onWatchedDelete(final long modRevision) {
        if (modRevision > own.modRevision()) {
            lose("its key was deleted or its etcd lease expired");
        }
    }

    /** Schedules the renewal again after a failure, in {@link EtcdSettings#renewRetryInterval()}. */
    void retryRenewalLater() {
        cancelRenewal();
        renewTask = control.later("renewal", this::renew, settings.renewRetryInterval().toNanos(),
            this::retryRenewalLater);
    }

    private void scheduleRenewal() {
        cancelRenewal();
        if (own == null) {
            return;
        }
        if (own.lease().reservation()) {
            LOG.info("Subnet {} is a reservation: no etcd lease, no renewal scheduled", own.lease().subnet());
            return;
        }
        final long margin = renewMarginNanos(own.lease().ttl());
        final long due = own.expiresAtNanos() - margin;
        final long delay = Math.max(0, due - settings.ticker().getAsLong());
        LOG.info("Lease {} renewal in {} s (expiry in {} s, margin {} s)", own.key(),
            TimeUnit.NANOSECONDS.toSeconds(delay), TimeUnit.NANOSECONDS.toSeconds(delay + margin),
            TimeUnit.NANOSECONDS.toSeconds(margin));
        renewTask = control.later("renewal", () -> renewWhenDue(due), delay, this::retryRenewalLater);
    }

    /**
     * The renew margin for an etcd lease granted {@code ttl}: {@link EtcdSettings#renewMargin()}, or half the TTL when
     * the margin is not shorter than the TTL (an etcd lease someone else attached our key to, with a short TTL:
     * renewing at expiry minus the full margin would renew without pause).
     */
    private long renewMarginNanos(final Duration ttl) {
        final long margin = settings.renewMargin().toNanos();
        return ttl.isZero() || margin < ttl.toNanos() ? margin : ttl.toNanos() / 2;
    }

    /** Renews once the ticker reached {@code due}; a timer that fired early (by the ticker) waits for the rest. */
    private void renewWhenDue(final long due) {
        final long early = due - settings.ticker().getAsLong();
        if (early > 0) {
            renewTask = control.later("renewal", () -> renewWhenDue(due), early, this::retryRenewalLater);
            return;
        }
        renew();
    }

    private void cancelRenewal() {
        if (renewTask != null) {
            renewTask.cancel(false);
            renewTask = null;
        }
    }

    /** Renews now, as the timer does: a keep-alive, or for a reservation the check that attaches no lease. */
    void renew() {
        if (own == null) {
            return;
        }
        if (own.lease().reservation()) {
            checkReservation();
            return;
        }
        final long t0 = settings.ticker().getAsLong();
        try {
            final long ttl = registry.keepAliveOnce(own.leaseId());
            own = own.withRenewal(ttl, t0 + TimeUnit.SECONDS.toNanos(ttl));
            renewals.incrementAndGet();
            LOG.info("Renewed lease {} (etcd lease {}): TTL {} s", own.key(), SubnetRegistry.leaseIdText(own.leaseId()), ttl);
            final Lease l = own.lease();
            control.emit(x -> x.leaseRenewed(l));
            scheduleRenewal();
        } catch (SubnetRegistry.LeaseGoneException e) {
            LOG.warn("Renewing lease {} failed: its etcd lease {} is gone", own.key(),
                SubnetRegistry.leaseIdText(own.leaseId()));
            lose("its etcd lease expired or was revoked");
        } catch (EtcdUnavailableException e) {
            if (control.closed()) {
                return;
            }
            LOG.warn("Error renewing lease {} (trying again in {}): {}", own.key(), settings.renewRetryInterval(),
                e.getMessage());
            retryRenewalLater();
        }
    }

    /** A reservation is never given a lease; a "renewal" only checks the key is still ours and rewrites it if not. */
    private void checkReservation() {
        try {
            final Optional<SubnetRegistry.Value> v = registry.get(own.key());
            if (v.isEmpty()) {
                lose("the reservation key was deleted");
                return;
            }
            final LeaseAttrs ours = own.lease().attrs();
            final SubnetListing.Entry e = SubnetListing.Entry.parse(settings.subnetsPrefix(), own.key(),
                v.get().value(), v.get().leaseId(), v.get().modRevision(), 0);
            if (e.leaseId() == 0 && e.valid() && e.attrs().publicIp() == publicIp && ours.publicIp() != publicIp) {
                onOwnPut(e); // the operator moved the reservation to this host's new PublicIP: not to be undone
                return;
            }
            if (e.leaseId() == 0 && (!e.valid() || !e.attrs().equals(ours))) {
                registry.putIfUnchanged(own.key(), ours.toBytes(), 0, v.get().modRevision());
            }
            LOG.debug("Reservation {} checked; no lease attached", own.key());
        } catch (EtcdUnavailableException e) {
            LOG.warn("Cannot check reservation {}: {}", own.key(), e.getMessage());
        }
    }

    private void onOwnPut(final SubnetListing.Entry e) {
        if (e.valid() && e.leaseId() == own.leaseId() && e.attrs().publicIp() != own.lease().attrs().publicIp()
            && e.attrs().publicIp() != publicIp && unconfirmed.contains(e.attrs().publicIp())) {
            // A swap of this host's whose outcome etcd left unknown (superseded since by a newer address) was applied
            // after all: the key is still this host's, on its etcd lease; the newer address is written over it.
            LOG.info("Own key {} now carries PublicIP {}: an earlier PublicIP change reported as failed was applied "
                + "after all; writing this host's PublicIP {} over it", e.key(), Ipv4.format(e.attrs().publicIp()),
                Ipv4.format(publicIp));
            own = withPublicIp(e.attrs().publicIp());
            if (changing == 0) {
                changing = publicIp; // e.g. moved back to the address the swap left: nothing pending, yet rewritten
            }
            if (changeTask == null) {
                changeTask = control.later("PublicIP change", this::attemptChange, 0, this::retryChangeLater);
            }
        }
        if (e.valid() && e.attrs().publicIp() == publicIp && own.lease().attrs().publicIp() != publicIp) {
            // A PublicIP change whose compare-and-swap failed with an unknown outcome (a timeout, a reply lost) that
            // etcd applied after all: this host's own write, not another host's taking the key.
            if (own.lease().reservation()) {
                LOG.info("Reservation {} now names PublicIP {}: moved by an operator", e.key(), Ipv4.format(publicIp));
            } else {
                LOG.info("Own key {} now carries PublicIP {}: the PublicIP change reported as failed was applied "
                    + "after all", e.key(), Ipv4.format(publicIp));
            }
            final Lease l = own.lease();
            own = new HeldLease(new Lease(l.subnet(), l.attrs().withPublicIp(publicIp), l.reservation(), l.ttl()),
                own.key(), own.leaseId(), own.modRevision(), own.expiresAtNanos());
        }
        if (e.valid() && e.attrs().publicIp() == own.lease().attrs().publicIp()) {
            if (e.leaseId() != own.leaseId() && publicIp != own.lease().attrs().publicIp()) {
                // our old PublicIP, re-put on another etcd lease while this host moves to a new one: the host now
                // given the old address took the key (or an operator reserved it for that address); not ours to adopt
                LOG.warn("Own key {} was re-put on {} naming PublicIP {}, which this host is leaving for {}: "
                    + "another host now holding that address may have taken it over; not adopting it", e.key(),
                    e.reservation() ? "no etcd lease" : "etcd lease " + SubnetRegistry.leaseIdText(e.leaseId()),
                    Ipv4.format(e.attrs().publicIp()), Ipv4.format(publicIp));
                lose(reputBy(e));
                return;
            }
            if (e.leaseId() != own.leaseId()) {
                // Someone else re-put our value with another etcd lease: another host started with this host's
                // PublicIP that took the key over, or an operator. Keep renewing what the key now hangs on.
                LOG.warn("Own key {} was re-put by someone else on etcd lease {} (was {}): another host started with "
                    + "this host's PublicIP {} may have taken it over (both would now use subnet {}), or an operator "
                    + "re-put it; adopting the new etcd lease", e.key(), SubnetRegistry.leaseIdText(e.leaseId()),
                    SubnetRegistry.leaseIdText(own.leaseId()), Ipv4.format(own.lease().attrs().publicIp()),
                    own.lease().subnet());
                own = adopt(e);
                scheduleRenewal();
            } else {
                own = own.withModRevision(e.modRevision());
            }
            restoreOwnValue(e);
            if (changing != 0 && own != null && own.lease().attrs().publicIp() == changing) {
                finishChange(own.lease(), null); // the pending change is in the key (applied after all)
            }
            return;
        }
        LOG.error("Own key {} was overwritten ({}); this host no longer owns subnet {}", e.key(),
            e.valid() ? "PublicIP " + Ipv4.format(e.attrs().publicIp()) : "malformed value: " + e.problem(),
            own.lease().subnet());
        lose("its key was overwritten by another host");
    }

    /**
     * The own key still names our PublicIP but another value (another BackendData, say a PublicKey, or BackendType):
     * peers would route or seal with attributes this host does not have. Puts ours back on the etcd lease the key
     * hangs on, if the key is unchanged since; a later change comes as its own event. Compared in parsed form, so a
     * value that differs only in JSON spacing is no difference (and our own re-put cannot loop). At most one write
     * per {@link EtcdSettings#renewRetryInterval()}: two hosts with one PublicIP (a takeover allowed) would otherwise
     * overwrite each other's value as fast as etcd answers.
     */
    private void restoreOwnValue(final SubnetListing.Entry e) {
        final LeaseAttrs ours = own.lease().attrs();
        final byte[] value = ours.toBytes();
        if (LeaseAttrs.parse(value).equals(e.attrs())) {
            return;
        }
        final long now = settings.ticker().getAsLong();
        if (lastRestore != 0 && now - lastRestore < settings.renewRetryInterval().toNanos()) {
            LOG.warn("Own key {} was re-put again with another value ({}) than this host's ({}): something keeps "
                + "writing it, another host with this PublicIP {}? Leaving it for now", e.key(), e.attrs().toJson(),
                ours.toJson(), Ipv4.format(ours.publicIp()));
            return;
        }
        lastRestore = now == 0 ? 1 : now;
        LOG.warn("Own key {} was re-put with another value ({}) than this host's ({}); putting this host's back",
            e.key(), e.attrs().toJson(), ours.toJson());
        try {
            final Optional<Long> rev = registry.putIfUnchanged(e.key(), value, e.leaseId(), e.modRevision());
            if (rev.isPresent()) {
                own = own.withModRevision(rev.get());
            }
        } catch (EtcdUnavailableException ex) {
            LOG.warn("Cannot put this host's value back into {}: {}; peers see the other value until it is "
                + "written again", e.key(), ex.getMessage());
        }
    }

    /** The own key as held, naming PublicIP {@code ip} (a write of this host's that etcd applied late). */
    private HeldLease withPublicIp(final int ip) {
        final Lease l = own.lease();
        return new HeldLease(new Lease(l.subnet(), l.attrs().withPublicIp(ip), l.reservation(), l.ttl()), own.key(),
            own.leaseId(), own.modRevision(), own.expiresAtNanos());
    }

    /** Why the own key is lost when it was re-put on another etcd lease (or none) than the one this agent holds. */
    private String reputBy(final SubnetListing.Entry e) {
        return "its key was re-put on " + (e.reservation() ? "no etcd lease"
            : "etcd lease " + SubnetRegistry.leaseIdText(e.leaseId())) + " (this agent holds "
            + SubnetRegistry.leaseIdText(own.leaseId()) + ") naming PublicIP "
            + (e.valid() ? Ipv4.format(e.attrs().publicIp()) : "?") + ", while this host's PublicIP changes to "
            + Ipv4.format(publicIp) + ": another host's now";
    }

    /**
     * The own key as held after it was re-put on another etcd lease (or none): the expiry comes from what etcd says
     * the new lease has left, on the monotonic ticker. When etcd cannot say, the lease counts as due now, so the next
     * renewal (a keep-alive, which reports the TTL) comes at once.
     */
    private HeldLease adopt(final SubnetListing.Entry e) {
        if (e.reservation()) {
            return new HeldLease(new Lease(own.lease().subnet(), own.lease().attrs(), true, Duration.ZERO), own.key(),
                0, e.modRevision(), Long.MAX_VALUE);
        }
        final long t0 = settings.ticker().getAsLong();
        long granted = own.lease().ttl().toSeconds();
        long expiresAt = t0;
        try {
            final SubnetRegistry.LeaseInfo info = registry.timeToLive(e.leaseId(), false);
            if (!info.gone()) {
                granted = info.grantedSeconds();
                expiresAt = t0 + TimeUnit.SECONDS.toNanos(info.remainingSeconds());
            }
        } catch (EtcdUnavailableException ex) {
            LOG.warn("Cannot read the TTL of etcd lease {} now holding {}: {}; renewing it at once",
                SubnetRegistry.leaseIdText(e.leaseId()), own.key(), ex.getMessage());
        }
        return new HeldLease(new Lease(own.lease().subnet(), own.lease().attrs(), false, Duration.ofSeconds(granted)),
            own.key(), e.leaseId(), e.modRevision(), expiresAt);
    }

    /** The own key is gone or taken: report, then re-acquire. */
    private void lose(final String why) {
        if (own == null) {
            return;
        }
        cancelRenewal();
        final Lease old = own.lease();
        LOG.warn("Lease for subnet {} lost: {}; re-acquiring (the same subnet if still free)", old.subnet(), why);
        own = null;
        unconfirmed.clear(); // a re-acquired key is written anew
        lost = old;
        control.emit(x -> x.leaseLost(old));
        control.later("re-acquisition", this::reacquire, 0, this::reacquireLater);
    }

    private void reacquireLater() {
        control.later("re-acquisition", this::reacquire, settings.renewRetryInterval().toNanos(),
            this::reacquireLater);
    }

    /**
     * Whether the network config key exists: as at start-up, no lease is acquired without it. After etcd's data was
     * wiped (or restored from a snapshot older than the config) it is missing, and a key written meanwhile under the
     * config this host runs with would claim a subnet of a network the operator may be about to define anew. While it
     * is missing or cannot be read, the re-acquisition is tried again with capped backoff
     * ({@link EtcdSettings#backoffMin()} doubling to {@link EtcdSettings#backoffMax()}), logging one WARN per wait.
     */
    private boolean configPresent() {
        final String key = settings.configKey();
        try {
            if (registry.read(key).value().isPresent()) {
                configBackoffNanos = 0;
                configMissingLogged = false;
                return true;
            }
            if (!configMissingLogged) {
                configMissingLogged = true;
                LOG.warn("Cannot re-acquire a lease: network config {} is missing (endpoints {}; was etcd's data wiped "
                    + "or restored from an older snapshot?); waiting for it as at start-up, retrying with backoff up "
                    + "to {}", key, settings.endpoints(), settings.backoffMax());
            }
        } catch (EtcdUnavailableException e) {
            LOG.debug("Cannot read network config {} before re-acquiring a lease: {}", key, e.getMessage());
        }
        configBackoffNanos = configBackoffNanos == 0 ? settings.backoffMin().toNanos()
            : Math.min(configBackoffNanos * 2, settings.backoffMax().toNanos());
        control.later("re-acquisition", this::reacquire, configBackoffNanos, this::reacquireLater);
        return false;
    }

    private void reacquire() {
        if (control.closed() || own != null || lost == null) {
            return;
        }
        if (!configPresent()) {
            return;
        }
        final Lease old = lost;
        final HeldLease h;
        try {
            // one attempt: waiting for etcd here would stall the lease watch's events (peers) behind it
            h = acquirer.acquireOnce(config, attrs, Optional.of(old.subnet()));
        } catch (EtcdUnavailableException e) {
            if (control.closed()) {
                return;
            }
            reacquireBackoffNanos = reacquireBackoffNanos == 0 ? settings.backoffMin().toNanos()
                : Math.min(reacquireBackoffNanos * 2, settings.backoffMax().toNanos());
            if (reacquireWarned.add(e.kind())) {
                LOG.warn("Cannot re-acquire a lease yet: {}; retrying with backoff up to {}", e.getMessage(),
                    settings.backoffMax());
            } else {
                LOG.debug("Still cannot re-acquire a lease: {}", e.getMessage());
            }
            control.later("re-acquisition", this::reacquire, reacquireBackoffNanos, this::reacquireLater);
            return;
        } catch (OutOfSubnetsException | IllegalStateException e) {
            if (control.closed()) {
                return;
            }
            LOG.error("Cannot re-acquire a lease (trying again in {}): {}", settings.renewRetryInterval(),
                e.getMessage());
            reacquireLater();
            return;
        }
        reacquireBackoffNanos = 0;
        reacquireWarned.clear();
        own = h;
        lost = null;
        peers.remove(h.lease().subnet()).ifPresent(stale -> {
            LOG.warn("Re-acquired subnet {} was known as a peer's; dropping that peer", h.lease().subnet());
            control.emit(x -> x.peerRemoved(stale));
        });
        LOG.info("Re-acquired lease: subnet {} (was {})", h.lease().subnet(), old.subnet());
        final Lease current = h.lease();
        control.emit(x -> x.leaseReacquired(old, current));
        scheduleRenewal();
        if (changing != 0 && current.attrs().publicIp() == changing) {
            // the re-acquired key carries the pending PublicIP: done now, not at the next attempt (up to backoffMax)
            finishChange(current, null);
        }
    }
}
