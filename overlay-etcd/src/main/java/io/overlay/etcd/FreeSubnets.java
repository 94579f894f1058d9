package io.overlay.etcd;

import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * flannel's allocation step (docs/flannel-compatibility.md#subnet-allocation, step 4): walk the
 * candidates from SubnetMin upward in steps of the subnet size while at most SubnetMax, skip every candidate that
 * overlaps any existing key (overlap, not equality; malformed values count), stop after 100 free ones, pick one
 * uniformly at random (package-private).
 */
final class FreeSubnets {
    /** flannel collects at most this many free candidates. */
    static final int MAX_CANDIDATES = 100;

    private FreeSubnets() {
    }

    /**
     * Returns up to {@link #MAX_CANDIDATES} free candidates, lowest first.
     *
     * @param config the network config
     * @param occupied every subnet that has a key (whatever its value)
     * @return the free candidates
     */
    static List<Ipv4Prefix> candidates(final NetworkConfig config, final List<Ipv4Prefix> occupied) {
        final List<Ipv4Prefix> free = new ArrayList<>();
        final long size = config.subnetSize();
        final long max = config.subnetMax() & 0xffffffffL;
        for (long a = config.subnetMin() & 0xffffffffL; a <= max && free.size() < MAX_CANDIDATES; a += size) {
            final Ipv4Prefix candidate = Ipv4Prefix.of((int) a, config.subnetLen());
            boolean taken = false;
            for (Ipv4Prefix o : occupied) {
                if (o.overlaps(candidate)) {
                    taken = true;
                    break;
                }
            }
            if (!taken) {
                free.add(candidate);
            }
        }
        return free;
    }

    /**
     * Picks a free subnet at random among the lowest 100 free candidates.
     *
     * @param config the network config
     * @param occupied every subnet that has a key
     * @param random the random source
     * @return the chosen subnet
     * @throws OutOfSubnetsException if none is free; the message names the range and how many are in use, e.g.
     *     {@code no free /26 in 100.64.0.64-100.64.0.192 of 100.64.0.0/24: 3 of 3 in use}
     */
    static Ipv4Prefix pick(final NetworkConfig config, final List<Ipv4Prefix> occupied, final RandomGenerator random) {
        final List<Ipv4Prefix> free = candidates(config, occupied);
        if (free.isEmpty()) {
            final long total = config.subnetCount();
            throw new OutOfSubnetsException("no free /" + config.subnetLen() + " in "
                + Ipv4.format(config.subnetMin()) + "-" + Ipv4.format(config.subnetMax()) + " of " + config.network()
                + ": " + total + " of " + total + " in use (" + occupied.size() + " subnet keys in etcd)");
        }
        return free.get(random.nextInt(free.size()));
    }
}
