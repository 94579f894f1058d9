package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import java.time.Duration;
import java.util.Objects;

/**
 * A subnet lease: one host's subnet of the overlay Network and its attributes, as stored at
 * {@code <prefix>/subnets/<a.b.c.d>-<len>} ({@code docs/flannel-compatibility.md}, sections etcd-schema and
 * lease-value).
 *
 * @param subnet the leased subnet
 * @param attrs the value's attributes (PublicIP ...)
 * @param reservation {@code true} when the key has no etcd lease attached (an operator's reservation,
 *     {@code docs/flannel-compatibility.md#reservations}): never renewed, never given a lease
 * @param ttl the time to live granted by etcd when this lease was read or written, {@code Duration.ZERO} for a
 *     reservation or when unknown
 */
public record Lease(Ipv4Prefix subnet, LeaseAttrs attrs, boolean reservation, Duration ttl) {
    /**
     * Returns the peer this lease routes to, with the given port (all hosts use the local {@code Backend.Port}).
     *
     * @param port the UDP port
     * @return the peer
     */
    public Peer peer(final int port) {
        return new Peer(attrs.publicIp(), port);
    }

    /**
     * Returns the etcd key suffix, e.g. {@code 100.64.16.0-24}.
     *
     * @return the subnet key (see {@link SubnetKey})
     */
    public String key() {
        return SubnetKey.format(subnet);
    }

    // Written out: a record's generated equals and hashCode are bootstrapped through method handles at their first
    // call, which spins classes during the launcher's start (docs/performance.md, "Start-up, round five").
    @Override
    public boolean equals(final Object other) {
        return other instanceof Lease o && Objects.equals(subnet, o.subnet) && Objects.equals(attrs, o.attrs)
            && reservation == o.reservation && Objects.equals(ttl, o.ttl);
    }

    @Override
    public int hashCode() {
        return Objects.hash(subnet, attrs, reservation, ttl);
    }
}
