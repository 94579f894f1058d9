package io.overlay.core.spi;

import io.overlay.core.Overlay;
import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.net.Ipv4Prefix;
import java.io.IOException;
import java.util.Collection;
import java.util.List;

/**
 * Creates or reuses the Linux bridge that local containers attach to (for example {@code lxcbr0} or
 * {@code docker0}), addressed from this host's lease. Implemented by {@code overlay-tun} (rtnetlink); the
 * {@link Overlay} facade finds it through {@link java.util.ServiceLoader} unless one is given to the builder.
 */
public interface BridgeConfigurator {
    /**
     * Makes sure bridge {@code name} exists (creating it when missing), carries {@code address} with the subnet's
     * prefix length (any other IPv4 address of the bridge inside {@code network} is removed, so a subnet change
     * moves the bridge), has MTU {@code mtu} and is up. An existing device of another kind with that name is an
     * error.
     *
     * @param name the bridge's interface name, at most 15 bytes
     * @param subnet this host's lease subnet; the bridge gets {@code address}/{@code subnet.length()}
     * @param address the bridge address, normally the subnet's first host address ({@link FlannelRules#bridgeAddress})
     * @param network the overlay Network, to recognise stale addresses from an earlier subnet
     * @param mtu the overlay MTU in bytes
     * @throws IOException if a step fails; the message names the bridge and the step
     */
    void ensureBridge(String name, Ipv4Prefix subnet, int address, Ipv4Prefix network, int mtu) throws IOException;

    /**
     * As {@link #ensureBridge(String, Ipv4Prefix, int, Ipv4Prefix, int)}, and also removes the bridge's IPv4
     * addresses inside any of {@code earlierSubnets}: subnets this host held before, which may lie outside the
     * current Network after the network config changed (an old {@code subnet.env}, a lease dropped at runtime).
     * The default ignores {@code earlierSubnets}.
     *
     * @param name the bridge's interface name, at most 15 bytes
     * @param subnet this host's lease subnet; the bridge gets {@code address}/{@code subnet.length()}
     * @param address the bridge address
     * @param network the overlay Network
     * @param mtu the overlay MTU in bytes
     * @param earlierSubnets subnets whose addresses are stale on the bridge; may be empty, never null
     * @throws IOException if a step fails; the message names the bridge and the step
     */
    default void ensureBridge(final String name, final Ipv4Prefix subnet, final int address, final Ipv4Prefix network,
                              final int mtu, final Collection<Ipv4Prefix> earlierSubnets) throws IOException {
        ensureBridge(name, subnet, address, network, mtu);
    }

    /**
     * Compares bridge {@code name} with what {@link #ensureBridge} sets up, for the overlay's periodic re-check of
     * the host (someone may delete the bridge, take it down, remove its address or its subnet route, or change its
     * MTU); only reads the kernel's state, {@link #ensureBridge} puts it back. The default knows nothing and reports no difference.
     *
     * @param name the bridge's interface name
     * @param subnet this host's lease subnet
     * @param address the bridge address ({@link FlannelRules#bridgeAddress})
     * @param mtu the overlay MTU in bytes
     * @return one short phrase per difference, e.g. {@code bridge cbr0 missing}, {@code link down},
     *     {@code address 100.64.7.1/24 missing}, {@code route 100.64.7.0/24 missing},
     *     {@code MTU 1500 instead of 1472}; empty when it is as set up
     * @throws IOException if the kernel cannot be asked
     */
    default List<String> drift(final String name, final Ipv4Prefix subnet, final int address, final int mtu)
        throws IOException {
        return List.of();
    }
}
