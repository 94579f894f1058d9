package io.overlay.core.spi;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

/**
 * A snapshot of the packet engine's counters: packets and bytes in each direction and drops by reason. Counters are
 * cumulative since the engine started; bytes count the inner IP packets (the UDP payload), not the outer headers.
 *
 * @param tunToUdpPackets packets read from the TUN and sent as UDP datagrams
 * @param tunToUdpBytes their bytes
 * @param udpToTunPackets datagrams received and written to the TUN
 * @param udpToTunBytes their bytes
 * @param icmpUnreachableSent ICMP destination-unreachable messages written back into the TUN
 * @param icmpUnreachableSuppressed ICMP destination-unreachable messages that were due but not sent because the
 *     engine's rate limit was reached (RFC 1812 §4.3.2.8; the udp engine uses Linux's 1000/s, burst 50); their
 *     packets are counted as {@link DropReason#NO_ROUTE} drops all the same
 * @param drops packets dropped, by reason (every reason present, zero when none)
 */
public record TrafficCounters(long tunToUdpPackets, long tunToUdpBytes, long udpToTunPackets, long udpToTunBytes,
                              long icmpUnreachableSent, long icmpUnreachableSuppressed, Map<DropReason, Long> drops) {
    /**
     * Copies the drop map and fills absent reasons with zero.
     */
    public TrafficCounters {
        final EnumMap<DropReason, Long> all = new EnumMap<>(DropReason.class);
        for (DropReason r : DropReason.values()) {
            all.put(r, drops == null ? 0L : drops.getOrDefault(r, 0L));
        }
        drops = Collections.unmodifiableMap(all);
    }

    /**
     * Creates a snapshot with no suppressed ICMP messages (for engines without an ICMP rate limit, and the all-zero
     * counters before start).
     *
     * @param tunToUdpPackets packets read from the TUN and sent as UDP datagrams
     * @param tunToUdpBytes their bytes
     * @param udpToTunPackets datagrams received and written to the TUN
     * @param udpToTunBytes their bytes
     * @param icmpUnreachableSent ICMP destination-unreachable messages written back into the TUN
     * @param drops packets dropped, by reason (absent reasons count zero)
     */
    public TrafficCounters(final long tunToUdpPackets, final long tunToUdpBytes, final long udpToTunPackets,
                           final long udpToTunBytes, final long icmpUnreachableSent,
                           final Map<DropReason, Long> drops) {
        this(tunToUdpPackets, tunToUdpBytes, udpToTunPackets, udpToTunBytes, icmpUnreachableSent, 0, drops);
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
}
