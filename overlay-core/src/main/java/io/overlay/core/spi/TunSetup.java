package io.overlay.core.spi;

import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.util.List;

/**
 * How a TUN device is configured: its IPv4 address with prefix, MTU, the routes sent through it, and the length of
 * its transmit queue.
 *
 * <p>flannel's udp backend uses the lease's subnet address as a /32 ({@link FlannelRules#tunAddress}), MTU =
 * underlay MTU − 28 ({@link FlannelRules#mtu}) and one route, the whole Network via the device
 * ({@code docs/flannel-compatibility.md#tun-device}). flanneld never sets the transmit queue length; overlay sets
 * {@link #DEFAULT_TX_QUEUE_LENGTH} unless told otherwise (an overlay setting, not flannel's; it changes nothing on the
 * wire).
 *
 * @param address the interface address and prefix length, e.g. {@code 100.64.16.0/32}; its {@link Ipv4Prefix}
 *     network address is used as the interface address (host bits are not allowed by the type, so a /32 or the
 *     network itself)
 * @param mtu the MTU in bytes, 68..65535
 * @param routes destinations routed via the device (scope universe); may be empty
 * @param txQueueLength the device's transmit queue length ({@code txqueuelen}) in packets, per queue of a
 *     multi-queue TUN: how many packets routed into the TUN the kernel holds for the agent to read before it drops
 *     them (counted as TX dropped of the device); 1..{@value #MAX_TX_QUEUE_LENGTH}, or {@link #KEEP_TX_QUEUE_LENGTH}
 *     (0) to leave the device's value as it is (0 does not restore the kernel's 500 on a device configured before:
 *     pass 500 for flanneld's behaviour)
 */
public record TunSetup(Ipv4Prefix address, int mtu, List<Ipv4Prefix> routes, int txQueueLength) {
    /**
     * The transmit queue length overlay gives its TUN by default, in packets. The kernel's default for a TUN is 500
     * ({@code TUN_READQ_SIZE} in {@code drivers/net/tun.c}), which flanneld leaves as it is. At 500 the queue
     * overflows whenever the agent's thread does not run for about 10 ms at 50,000 packets/s (JIT warm-up,
     * scheduling on a busy host): the network benchmark's UDP test (iperf3 500 Mbit/s, 1200-byte payloads) lost
     * 0.2–0.8 % of its packets in the first 5 s as TX drops of the TUN at 500, 0.2 % at 1000 and none at 2000.
     * nebula makes the same setting ({@code tun.tx_queue}) for the same reason. Packets wait in the queue only
     * while the agent lags; the kernel allocates the ring up front, a pointer per slot and queue (16 KB per queue at
     * 2000).
     */
    public static final int DEFAULT_TX_QUEUE_LENGTH = 2000;

    /** {@link #txQueueLength()} value meaning "leave the device's transmit queue length as it is". */
    public static final int KEEP_TX_QUEUE_LENGTH = 0;

    /**
     * The largest transmit queue length accepted, in packets. The kernel takes any u32, but a TUN allocates its ring
     * of that many pointers per queue at once; a million (8 MB per queue) is far beyond any need.
     */
    public static final int MAX_TX_QUEUE_LENGTH = 1_000_000;

    /**
     * Validates the setup.
     *
     * @throws IllegalArgumentException if the MTU is outside 68..65535 (RFC 791 minimum), the transmit queue length
     *     is outside 0..{@value #MAX_TX_QUEUE_LENGTH} packets, or a value is null; the message names the field and
     *     the value
     */
    public TunSetup {
        if (address == null) {
            throw new IllegalArgumentException("TUN address is missing");
        }
        Ipv4.checkMtu("TUN MTU", mtu);
        if (routes == null) {
            throw new IllegalArgumentException("TUN routes are missing (give an empty list for none)");
        }
        checkTxQueueLength("TUN txQueueLength", txQueueLength);
        routes = List.copyOf(routes);
    }

    /**
     * A setup with the {@link #DEFAULT_TX_QUEUE_LENGTH default transmit queue length}.
     *
     * @param address the interface address and prefix length
     * @param mtu the MTU in bytes, 68..65535
     * @param routes destinations routed via the device; may be empty
     * @throws IllegalArgumentException as the canonical constructor
     */
    public TunSetup(final Ipv4Prefix address, final int mtu, final List<Ipv4Prefix> routes) {
        this(address, mtu, routes, DEFAULT_TX_QUEUE_LENGTH);
    }

    /**
     * Checks a transmit queue length: 0 ({@link #KEEP_TX_QUEUE_LENGTH}) or 1..{@value #MAX_TX_QUEUE_LENGTH} packets.
     *
     * @param what the name of the setting, for the message (e.g. {@code tunTxQueueLength})
     * @param packets the value
     * @return {@code packets}
     * @throws IllegalArgumentException naming {@code what} and the value if it is out of range
     */
    public static int checkTxQueueLength(final String what, final int packets) {
        if (packets < 0 || packets > MAX_TX_QUEUE_LENGTH) {
            throw new IllegalArgumentException(what + " must be 1.." + MAX_TX_QUEUE_LENGTH
                + " packets, or 0 to leave the device's value, got " + packets);
        }
        return packets;
    }
}
