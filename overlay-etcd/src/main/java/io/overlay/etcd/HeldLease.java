package io.overlay.etcd;

import io.overlay.core.flannel.Lease;
import java.time.Duration;

/**
 * This host's key as held (package-private).
 *
 * @param lease the lease as reported to the caller and listener
 * @param key the full etcd key
 * @param leaseId the etcd lease the key hangs on, 0 for a reservation
 * @param modRevision the key's last modification revision as known
 * @param expiresAtNanos when the etcd lease expires on {@link EtcdSettings#ticker()}; {@link Long#MAX_VALUE} for a
 *     reservation
 */
record HeldLease(Lease lease, String key, long leaseId, long modRevision, long expiresAtNanos) {
    /** Returns this after a keep-alive that gave the etcd lease {@code ttlSeconds} until {@code expiresAt}. */
    HeldLease withRenewal(final long ttlSeconds, final long expiresAt) {
        return new HeldLease(new Lease(lease.subnet(), lease.attrs(), false, Duration.ofSeconds(ttlSeconds)), key,
            leaseId, modRevision, expiresAt);
    }

    /** Returns this with the key's modRevision after a put that changed nothing we hold. */
    HeldLease withModRevision(final long revision) {
        return new HeldLease(lease, key, leaseId, revision, expiresAtNanos);
    }
}
