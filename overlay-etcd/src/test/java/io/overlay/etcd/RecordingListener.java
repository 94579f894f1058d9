package io.overlay.etcd;

import io.overlay.core.flannel.Lease;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.spi.LeaseListener;
import io.overlay.core.spi.PeerChange;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/** Records every listener call as text and keeps the resulting peer table, as a route table would. */
class RecordingListener implements LeaseListener {
    final List<String> events = new CopyOnWriteArrayList<>();
    final Map<Ipv4Prefix, Lease> peers = new ConcurrentHashMap<>();
    final List<Lease> reacquired = new CopyOnWriteArrayList<>();
    final List<String> threads = new CopyOnWriteArrayList<>();
    /** The size of every peersChanged batch, in order. */
    final List<Integer> batches = new CopyOnWriteArrayList<>();
    /** How many peers were known when peersListed was called, once per call. */
    final List<Integer> listed = new CopyOnWriteArrayList<>();

    private void record(final String e) {
        events.add(e);
        threads.add(Thread.currentThread().getName());
    }

    @Override
    public void leaseRenewed(final Lease lease) {
        record("renewed " + lease.subnet());
    }

    @Override
    public void leaseLost(final Lease lease) {
        record("lost " + lease.subnet());
    }

    @Override
    public void leaseReacquired(final Lease previous, final Lease current) {
        reacquired.add(current);
        record("reacquired " + previous.subnet() + " -> " + current.subnet());
    }

    @Override
    public void peersChanged(final List<PeerChange> changes) {
        batches.add(changes.size());
        LeaseListener.super.peersChanged(changes);
    }

    @Override
    public void peersListed() {
        listed.add(peers.size());
    }

    @Override
    public void networkConfigChanged(final io.overlay.core.flannel.NetworkConfig running,
                                     final io.overlay.core.flannel.NetworkConfig stored,
                                     final List<String> restartNeeded) {
        record("config " + stored.network() + " " + stored.subnetLen() + " restart " + restartNeeded);
    }

    @Override
    public void peerAdded(final Lease lease) {
        peers.put(lease.subnet(), lease);
        record("added " + lease.key() + " " + lease.attrs().toJson());
    }

    @Override
    public void peerChanged(final Lease previous, final Lease current) {
        peers.put(current.subnet(), current);
        record("changed " + current.key() + " " + current.attrs().toJson());
    }

    @Override
    public void peerRemoved(final Lease lease) {
        peers.remove(lease.subnet());
        record("removed " + lease.key());
    }

    List<String> matching(final String start) {
        final List<String> out = new ArrayList<>();
        for (String e : events) {
            if (e.startsWith(start)) {
                out.add(e);
            }
        }
        return out;
    }
}
