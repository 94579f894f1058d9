package io.overlay.core;

import java.util.List;

/**
 * How a TUN device is configured: its IPv4 address with prefix, MTU, and the routes sent through it.
 *
 * <p>flannel's udp backend uses the lease's subnet address as a /32 ({@link FlannelRules#tunAddress}), MTU =
 * underlay MTU − 28 ({@link FlannelRules#mtu}) and one route, the whole Network via the device (flannel reference
 * §2.1).
 *
 * @param address the interface address and prefix length, e.g. {@code 100.64.16.0/32}; its {@link Ipv4Prefix}
 *     network address is used as the interface address (host bits are not allowed by the type, so a /32 or the
 *     network itself)
 * @param mtu the MTU in bytes, 68..65535
 * @param routes destinations routed via the device (scope universe); may be empty
 */
public record TunSetup(Ipv4Prefix address, int mtu, List<Ipv4Prefix> routes) {
    /**
     * Validates the setup.
     *
     * @throws IllegalArgumentException if the MTU is outside 68..65535 (RFC 791 minimum) or a value is null
     */
    public TunSetup {
        if (address == null) {
            throw new IllegalArgumentException("TUN address is missing");
        }
        if (mtu < 68 || mtu > 65535) {
            throw new IllegalArgumentException("TUN MTU must be 68..65535 bytes, got " + mtu);
        }
        routes = List.copyOf(routes);
    }
}
