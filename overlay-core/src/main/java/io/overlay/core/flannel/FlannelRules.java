package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;

/**
 * flannel's udp-backend address and MTU rules as named functions (flannel v0.28.9
 * {@code pkg/backend/udp/udp_network_amd64.go} and {@code pkg/subnet/subnet.go}; {@code docs/flannel-compatibility.md}
 * sections tun-device, mtu and subnet-file).
 */
public final class FlannelRules {
    /** Bytes the udp encapsulation adds: outer IPv4 header (20) + UDP header (8). */
    public static final int ENCAPSULATION_OVERHEAD = 28;

    /**
     * The name template of flanneld's udp-backend TUN device, {@code flannel%d}: the kernel replaces {@code %d} with
     * the lowest free number ({@code initTun} in flannel v0.28.9 {@code pkg/backend/udp/udp_network_amd64.go}).
     */
    public static final String TUN_NAME_TEMPLATE = "flannel%d";

    /** The udp backend's default port ({@code Backend.Port}). */
    public static final int DEFAULT_PORT = 8285;

    private FlannelRules() {
    }

    /**
     * Returns the overlay MTU for an underlay MTU: underlay − 28 (flannel's {@code MTU()} in
     * {@code udp_network_amd64.go}). The same value goes to the TUN and to {@code FLANNEL_MTU}.
     *
     * @param underlayMtu the external interface's MTU in bytes
     * @return the TUN MTU in bytes
     * @throws IllegalArgumentException if the result would be below 68 bytes (RFC 791 minimum)
     */
    public static int mtu(final int underlayMtu) {
        final int mtu = underlayMtu - ENCAPSULATION_OVERHEAD;
        if (mtu < Ipv4.MIN_MTU) {
            throw new IllegalArgumentException("underlay MTU " + underlayMtu + " leaves an overlay MTU of " + mtu
                + " bytes, below the IPv4 minimum of " + Ipv4.MIN_MTU);
        }
        return mtu;
    }

    /**
     * Returns the TUN device's address: the lease's subnet address as a /32 ({@code 10.10.16.0/24} gives
     * {@code 10.10.16.0/32}), as flannel does since v0.11.0 to avoid local broadcast routes.
     *
     * @param subnet the lease subnet
     * @return the /32 address for the TUN
     */
    public static Ipv4Prefix tunAddress(final Ipv4Prefix subnet) {
        return Ipv4Prefix.of(subnet.address(), 32);
    }

    /**
     * Returns the bridge's (and {@code FLANNEL_SUBNET}'s) address: the subnet's first host address, with the subnet's
     * prefix length ({@code 10.10.16.0/24} gives {@code 10.10.16.1}/24).
     *
     * @param subnet the lease subnet
     * @return the first host address, int form; its prefix length is {@code subnet.length()}
     */
    public static int bridgeAddress(final Ipv4Prefix subnet) {
        return subnet.hostAddress(1);
    }

    /**
     * Returns the text {@code FLANNEL_SUBNET} holds for a subnet: first host address and prefix length.
     *
     * @param subnet the lease subnet
     * @return e.g. {@code 10.10.16.1/24}
     */
    public static String subnetWithBridgeAddress(final Ipv4Prefix subnet) {
        return Ipv4.format(bridgeAddress(subnet)) + "/" + subnet.length();
    }
}
