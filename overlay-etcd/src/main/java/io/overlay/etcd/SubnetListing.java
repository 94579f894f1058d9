package io.overlay.etcd;

import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.flannel.SubnetKey;
import io.overlay.core.net.Ipv4Prefix;
import java.util.List;
import java.util.Optional;

/**
 * Everything under {@code <prefix>/subnets} at one etcd revision, each key parsed as far as it goes (package-private).
 *
 * @param revision the etcd revision the listing was read at
 * @param entries the keys in etcd's key order
 */
record SubnetListing(long revision, List<Entry> entries) {
    /**
     * One key.
     *
     * @param key the full etcd key
     * @param subnet the subnet its name denotes, or {@code null} when the name is not a subnet key
     * @param attrs the parsed value, or {@code null} when the value is malformed (see {@code problem})
     * @param problem why the key or value could not be parsed, or {@code null}
     * @param leaseId the attached etcd lease id, 0 for a reservation
     * @param modRevision the key's last modification revision
     * @param value the raw value bytes
     * @param createRevision the revision that created the key (etcd keeps it across puts until the key is deleted):
     *     the older of two keys claiming one subnet is the one with the lower value
     */
    record Entry(String key, Ipv4Prefix subnet, LeaseAttrs attrs, String problem, long leaseId, long modRevision,
                 byte[] value, long createRevision) {
        /**
         * Parses a key/value as read from etcd.
         *
         * @param subnetsPrefix {@code <prefix>/subnets}: only {@code <prefix>/subnets/<subnet key>} is a lease
         */
        static Entry parse(final String subnetsPrefix, final String key, final byte[] value, final long leaseId,
                           final long modRevision, final long createRevision) {
            final Optional<SubnetKey.Parsed> parsed = SubnetKey.parseKey(subnetsPrefix, key);
            if (parsed.isEmpty()) {
                return new Entry(key, null, null, "key is not a subnet key (expected " + SubnetKey.dir(subnetsPrefix)
                    + "/ followed by a name like 100.64.16.0-24 and nothing else)", leaseId, modRevision, value,
                    createRevision);
            }
            final Ipv4Prefix subnet = parsed.get().ipv4();
            try {
                return new Entry(key, subnet, LeaseAttrs.parse(value), null, leaseId, modRevision, value,
                    createRevision);
            } catch (IllegalArgumentException e) {
                return new Entry(key, subnet, null, e.getMessage(), leaseId, modRevision, value, createRevision);
            }
        }

        /** Returns whether key and value both parsed. */
        boolean valid() {
            return problem == null;
        }

        /**
         * Returns whether the key has no etcd lease: an operator's reservation
         * (docs/flannel-compatibility.md#reservations).
         */
        boolean reservation() {
            return leaseId == 0;
        }
    }

    /**
     * Returns the first entry whose subnet overlaps {@code subnet}.
     *
     * @param subnet a candidate
     * @return the holder, even one with a malformed value, or empty
     */
    Optional<Entry> holderOf(final Ipv4Prefix subnet) {
        for (Entry e : entries) {
            if (e.subnet() != null && e.subnet().overlaps(subnet)) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }
}
