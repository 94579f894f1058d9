package io.overlay.core.spi;

import io.overlay.core.Overlay;
import io.overlay.core.flannel.FlannelRules;
import io.overlay.core.net.Ipv4Prefix;
import java.io.IOException;

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
}
