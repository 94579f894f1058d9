package io.overlay.core.spi;

import java.util.List;

/**
 * What a {@link SubnetAllocator} reports about its registry connection and its own work, for status pages and
 * metrics. Counters are cumulative since the allocator was created and only grow.
 *
 * @param endpoints the registry's endpoints as configured, e.g. {@code http://127.0.0.1:2379}; empty when unknown
 * @param state a word or two on the connection, e.g. {@code running}, {@code not started}, {@code closed}, or
 *     {@code unknown} for an allocator that does not say
 * @param renewals successful renewals of this host's lease
 * @param watchResets times the watch of all leases broke (connection lost, closed by the server) and was reopened
 * @param relists times all leases were listed again because the watch's start revision was compacted away
 * @param errors requests to the registry that failed (timed out, refused, cancelled), plus lease keys or values read
 *     from it and skipped because they were malformed or unroutable
 */
public record AllocatorStatus(List<String> endpoints, String state, long renewals, long watchResets, long relists,
                              long errors) {
    /** The status of an allocator that reports nothing: no endpoints, state {@code unknown}, all counters zero. */
    public static final AllocatorStatus UNKNOWN = new AllocatorStatus(List.of(), "unknown", 0, 0, 0, 0);

    /**
     * Copies the endpoint list.
     *
     * @throws NullPointerException if {@code endpoints} or {@code state} is null
     */
    public AllocatorStatus {
        endpoints = List.copyOf(endpoints);
        java.util.Objects.requireNonNull(state, "state");
    }
}
