package io.overlay.core;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.EngineEncryption;
import io.overlay.core.spi.ForwardingLeaseListener;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.PacketEngine;
import io.overlay.core.spi.PeerChange;
import io.overlay.core.spi.PeerKey;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands the public keys of peers' leases to the engine ({@link PacketEngine#peerKeys}), around passing every event on
 * to the next listener unchanged (a batch stays one batch): keys of added or changed leases before the next listener
 * (so a new peer's key is in place when the first packet is routed to it), keys of removed leases after it (so no
 * packet is routed to a leaving peer once it has no key, which would send it in clear text with encryption
 * preferred). Runs on the allocator's thread; key derivation is one X25519 and a few HMACs, well under a millisecond.
 *
 * <p>Several leases can name one PublicIP (a host that re-registered, two subnets of one host): the key table is
 * per PublicIP, so owners are counted per PublicIP (subnet → key advertised) and the PublicIP is forgotten only when
 * no lease uses it; if its leases advertise different keys, the most recently added or changed one's is used, with a
 * warning. Used only when encryption is on.
 */
final class PeerKeyFollower extends ForwardingLeaseListener<LeaseListener> {
    private static final Logger LOG = LoggerFactory.getLogger(Overlay.class);

    private final PacketEngine engine;
    /** PublicIP → its leases' subnets → the key each advertises ({@code null}: none), least recent first. */
    private final Map<Integer, LinkedHashMap<Ipv4Prefix, byte[]>> owners = new HashMap<>();

    private PeerKeyFollower(final PacketEngine engine, final LeaseListener next) {
        super(next);
        this.engine = engine;
    }

    /** Returns a listener that updates the engine's peer keys around calling {@code next}. */
    static LeaseListener before(final PacketEngine engine, final LeaseListener next) {
        return new PeerKeyFollower(engine, next);
    }

    @Override
    public void peersChanged(final List<PeerChange> changes) {
        final List<PeerKey> before = new ArrayList<>();
        final List<PeerKey> after = new ArrayList<>();
        for (PeerChange c : changes) {
            keys(c, before, after);
        }
        apply(before);
        next.peersChanged(changes);
        apply(after);
    }

    @Override
    public void peerAdded(final Lease lease) {
        one(PeerChange.added(lease), () -> next.peerAdded(lease));
    }

    @Override
    public void peerChanged(final Lease previous, final Lease current) {
        one(PeerChange.changed(previous, current), () -> next.peerChanged(previous, current));
    }

    @Override
    public void peerRemoved(final Lease lease) {
        one(PeerChange.removed(lease), () -> next.peerRemoved(lease));
    }

    private void one(final PeerChange c, final Runnable routes) {
        final List<PeerKey> before = new ArrayList<>(1);
        final List<PeerKey> after = new ArrayList<>(1);
        keys(c, before, after);
        apply(before);
        routes.run();
        apply(after);
    }

    private void apply(final List<PeerKey> keys) {
        if (!keys.isEmpty()) {
            engine.peerKeys(keys);
        }
    }

    private void keys(final PeerChange c, final List<PeerKey> before, final List<PeerKey> after) {
        switch (c.kind()) {
            case ADDED -> own(c.current(), before);
            case CHANGED -> {
                if (c.previous().attrs().publicIp() != c.current().attrs().publicIp()
                    || !c.previous().subnet().equals(c.current().subnet())) {
                    disown(c.previous(), after);
                }
                own(c.current(), before);
            }
            default -> disown(c.previous(), after);
        }
    }

    /** Records {@code lease} as its PublicIP's most recent owner and queues the key it advertises. */
    private void own(final Lease lease, final List<PeerKey> out) {
        final int ip = lease.attrs().publicIp();
        byte[] key;
        try {
            key = EngineEncryption.publicKeyOf(lease.attrs()).orElse(null);
        } catch (IllegalArgumentException e) {
            LOG.warn("Peer {} ({}) advertises a bad key, treating it as keyless: {}", lease.subnet(),
                Ipv4.format(ip), e.getMessage());
            key = null;
        }
        final LinkedHashMap<Ipv4Prefix, byte[]> leases = owners.computeIfAbsent(ip, i -> new LinkedHashMap<>());
        leases.remove(lease.subnet());
        for (Map.Entry<Ipv4Prefix, byte[]> other : leases.entrySet()) {
            if (!Arrays.equals(other.getValue(), key)) {
                LOG.warn("PublicIP {} is used by leases {} and {} with different keys; using the most recent one's ({})",
                    Ipv4.format(ip), other.getKey(), lease.subnet(), lease.subnet());
                break;
            }
        }
        leases.put(lease.subnet(), key);
        out.add(PeerKey.of(ip, key));
    }

    /** Forgets {@code lease} as an owner; queues its PublicIP's removal if it was the last, else the latest's key. */
    private void disown(final Lease lease, final List<PeerKey> out) {
        final int ip = lease.attrs().publicIp();
        final LinkedHashMap<Ipv4Prefix, byte[]> leases = owners.get(ip);
        if (leases != null) {
            leases.remove(lease.subnet());
            if (!leases.isEmpty()) {
                byte[] latest = null;
                for (byte[] k : leases.values()) {
                    latest = k;
                }
                out.add(PeerKey.of(ip, latest));
                return;
            }
            owners.remove(ip);
        }
        out.add(PeerKey.gone(ip));
    }
}
