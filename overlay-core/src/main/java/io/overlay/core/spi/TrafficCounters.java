package io.overlay.core.spi;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

/**
 * A snapshot of the packet engine's counters: one value per {@link Counter} and one drop count per
 * {@link DropReason}. Counters are cumulative since the engine started; bytes count the inner IP packets (the UDP
 * payload), not the outer headers.
 *
 * @param counters every counter (absent ones count zero; the map is copied)
 * @param drops packets dropped, by reason (absent reasons count zero; the map is copied)
 */
public record TrafficCounters(Map<Counter, Long> counters, Map<DropReason, Long> drops) {
    /** All zero: the counters of an engine that has not started. */
    public static final TrafficCounters ZERO = new TrafficCounters(Map.of(), Map.of());

    /**
     * Copies both maps and fills absent keys with zero.
     */
    public TrafficCounters {
        counters = complete(Counter.class, counters);
        drops = complete(DropReason.class, drops);
    }

    private static <K extends Enum<K>> Map<K, Long> complete(final Class<K> type, final Map<K, Long> values) {
        final EnumMap<K, Long> all = new EnumMap<>(type);
        for (K k : type.getEnumConstants()) {
            all.put(k, values == null ? 0L : values.getOrDefault(k, 0L));
        }
        return Collections.unmodifiableMap(all);
    }

    /**
     * Returns one counter.
     *
     * @param counter the counter
     * @return its value
     */
    public long get(final Counter counter) {
        return counters.get(counter);
    }

    /**
     * Returns the drop count for one reason.
     *
     * @param reason the reason
     * @return packets dropped for it
     */
    public long drops(final DropReason reason) {
        return drops.get(reason);
    }

    /**
     * Returns all drops.
     *
     * @return the sum over every reason
     */
    public long totalDrops() {
        return drops.values().stream().mapToLong(Long::longValue).sum();
    }

    /** @return {@link Counter#TUN_TO_UDP_PACKETS} */
    public long tunToUdpPackets() {
        return get(Counter.TUN_TO_UDP_PACKETS);
    }

    /** @return {@link Counter#TUN_TO_UDP_BYTES} */
    public long tunToUdpBytes() {
        return get(Counter.TUN_TO_UDP_BYTES);
    }

    /** @return {@link Counter#UDP_TO_TUN_PACKETS} */
    public long udpToTunPackets() {
        return get(Counter.UDP_TO_TUN_PACKETS);
    }

    /** @return {@link Counter#UDP_TO_TUN_BYTES} */
    public long udpToTunBytes() {
        return get(Counter.UDP_TO_TUN_BYTES);
    }

    /** @return {@link Counter#ICMP_UNREACHABLE_SENT} */
    public long icmpUnreachableSent() {
        return get(Counter.ICMP_UNREACHABLE_SENT);
    }

    /** @return {@link Counter#ICMP_UNREACHABLE_SUPPRESSED} */
    public long icmpUnreachableSuppressed() {
        return get(Counter.ICMP_UNREACHABLE_SUPPRESSED);
    }
}
