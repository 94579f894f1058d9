package io.overlay.etcd;

import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.util.ArrayList;
import java.util.Arrays;
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
        // Two CIDR blocks overlap exactly when their address ranges meet. The occupied ranges, sorted and merged, are
        // walked once beside the ascending candidates: O(n log n), where testing each candidate against every key
        // was O(candidates x keys), seconds for a full /10 of 16,383 leases.
        final long[] ranges = mergedRanges(occupied);
        final List<Ipv4Prefix> free = new ArrayList<>();
        final long size = config.subnetSize();
        final long max = config.subnetMax() & 0xffffffffL;
        int r = 0;
        for (long a = config.subnetMin() & 0xffffffffL; a <= max && free.size() < MAX_CANDIDATES; a += size) {
            while (r < ranges.length && ranges[r + 1] < a) {
                r += 2;
            }
            if (r < ranges.length && ranges[r] <= a + size - 1) {
                continue; // taken
            }
            free.add(Ipv4Prefix.of((int) a, config.subnetLen()));
        }
        return free;
    }

    /** The blocks' address ranges as {first, last, first, last, ...} (unsigned), sorted, overlapping ones merged. */
    private static long[] mergedRanges(final List<Ipv4Prefix> blocks) {
        final long[][] sorted = new long[blocks.size()][];
        for (int i = 0; i < sorted.length; i++) {
            final long first = blocks.get(i).address() & 0xffffffffL;
            sorted[i] = new long[] {first, first + blocks.get(i).size() - 1};
        }
        Arrays.sort(sorted, (x, y) -> Long.compare(x[0], y[0]));
        final long[] out = new long[2 * sorted.length];
        int n = 0;
        for (long[] range : sorted) {
            if (n > 0 && range[0] <= out[n - 1]) {
                out[n - 1] = Math.max(out[n - 1], range[1]);
            } else {
                out[n++] = range[0];
                out[n++] = range[1];
            }
        }
        return Arrays.copyOf(out, n);
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
