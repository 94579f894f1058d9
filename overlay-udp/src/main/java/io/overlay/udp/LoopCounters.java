package io.overlay.udp;

import io.overlay.core.spi.DropReason;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One event loop's counters: written only by that loop's thread (plain read + release write, no CAS, no lock, no
 * allocation), read from any thread.
 */
final class LoopCounters {
    static final int TUN_TO_UDP_PACKETS = 0;
    static final int TUN_TO_UDP_BYTES = 1;
    static final int UDP_TO_TUN_PACKETS = 2;
    static final int UDP_TO_TUN_BYTES = 3;
    static final int ICMP_UNREACHABLE_SENT = 4;
    /** GSO super-packets read from the TUN and segmented (offloads). */
    static final int TUN_SUPER_PACKETS = 5;
    /** Coalesced GSO super-packets written to the TUN (offloads); their segments count in UDP_TO_TUN_PACKETS. */
    static final int TUN_COALESCED_FRAMES = 6;
    /** ICMP net unreachables that were due but not sent because the loop's {@link IcmpRateLimiter} was empty. */
    static final int ICMP_UNREACHABLE_SUPPRESSED = 7;
    private static final int DROPS = 8;

    private final AtomicLongArray values = new AtomicLongArray(DROPS + DropReason.values().length);

    /** Adds {@code delta} to counter {@code index}; loop thread only. */
    void add(final int index, final long delta) {
        values.setRelease(index, values.getPlain(index) + delta);
    }

    /** Counts one drop; loop thread only. */
    void drop(final DropReason reason) {
        add(DROPS + reason.ordinal(), 1);
    }

    /** Counts {@code count} drops; loop thread only. */
    void drop(final DropReason reason, final int count) {
        add(DROPS + reason.ordinal(), count);
    }

    /** Reads counter {@code index}; any thread. */
    long get(final int index) {
        return values.get(index);
    }

    /** Reads the drop count for {@code reason}; any thread. */
    long drops(final DropReason reason) {
        return values.get(DROPS + reason.ordinal());
    }
}
