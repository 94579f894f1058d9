package io.overlay.core.spi;

import io.overlay.core.flannel.UnderlayInterface;
import io.overlay.core.net.Ipv4;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * Service-provider interface: the IPv4 addresses and the default route of the calling thread's network namespace, as
 * the kernel reports them (rtnetlink {@code RTM_GETADDR}/{@code RTM_GETROUTE} dumps). {@link UnderlayInterface} uses
 * it to choose the address flanneld would choose: the interface's first address in kernel order that is not
 * secondary ({@code IFA_F_SECONDARY}), not the JDK's {@link java.net.NetworkInterface} order, which lists the newest
 * address first (flannel v0.28.9 {@code pkg/ip/iface.go}, {@code GetInterfaceIP4Addrs};
 * {@code docs/flannel-compatibility.md#interface-selection}).
 *
 * <p>Found by {@link ServiceLoader}; {@code overlay-tun} provides the Linux implementation. Implementations are
 * stateless and thread-safe.
 */
public interface InterfaceAddresses {
    /**
     * One IPv4 address of an interface.
     *
     * @param interfaceName the interface's name, e.g. {@code eth0}
     * @param interfaceMtu the interface's MTU in bytes
     * @param address the local address, int form (see {@link Ipv4})
     * @param prefixLength the prefix length in bits, 0..32
     * @param secondary whether the kernel marks it secondary ({@code IFA_F_SECONDARY}: a further address in a prefix
     *     the interface already has a primary address in)
     */
    record Address(String interfaceName, int interfaceMtu, int address, int prefixLength, boolean secondary) {
    }

    /**
     * Lists every IPv4 address of every interface in the namespace, in the kernel's dump order (per interface: the
     * order the addresses were added, primaries before their secondaries).
     *
     * @return the addresses; empty if there are none
     * @throws IOException if the kernel cannot be asked; the message says why
     */
    List<Address> ipv4Addresses() throws IOException;

    /**
     * Returns the interface of the IPv4 default route ({@code 0.0.0.0/0}, main table, unicast, one next hop) with the
     * lowest metric among those whose interface is up.
     *
     * @return the interface name, or empty if there is no such route
     * @throws IOException if the kernel cannot be asked; the message says why
     */
    Optional<String> defaultRouteInterface() throws IOException;

    /**
     * Lists the names of every interface in the namespace, with or without addresses, in the kernel's order (by
     * index), for matching {@code --iface-regex} against names as flanneld does. The default lists the interfaces of
     * {@link #ipv4Addresses()}.
     *
     * @return the names, each once
     * @throws IOException if the kernel cannot be asked
     */
    default List<String> interfaceNames() throws IOException {
        return ipv4Addresses().stream().map(Address::interfaceName).distinct().toList();
    }

    /**
     * The route the kernel would use to reach an address ({@code ip route get}).
     *
     * @param interfaceName the output interface, e.g. {@code eth0} ({@code lo} for a local address)
     * @param source the route's preferred source address (int form), or 0 when the kernel names none
     */
    record Route(String interfaceName, int source) {
    }

    /**
     * Asks the kernel which route reaches {@code address} (rtnetlink {@code RTM_GETROUTE}), for
     * {@code --iface-can-reach}. The default says it is not supported.
     *
     * @param address the destination, int form
     * @return the route, or empty when no route reaches the address
     * @throws IOException if the kernel cannot be asked, or the implementation cannot look routes up
     */
    default Optional<Route> routeTo(int address) throws IOException {
        throw new IOException("looking up the route to " + Ipv4.format(address) + " needs overlay-tun's rtnetlink "
            + "on the class path");
    }

    /**
     * Returns the first implementation on the class path.
     *
     * @return the implementation, or empty if none is installed (then callers fall back to the JDK's view)
     */
    static Optional<InterfaceAddresses> load() {
        return ServiceLoader.load(InterfaceAddresses.class, InterfaceAddresses.class.getClassLoader()).findFirst();
    }
}
