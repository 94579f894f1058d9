package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.InterfaceAddresses;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The external (underlay) interface: its name, IPv4 address ({@code IfaceAddr}) and MTU, chosen the way flanneld
 * chooses it ({@code docs/flannel-compatibility.md#interface-selection}): each {@code --iface} (a name or an address)
 * in order; else, when a PublicIP is given, the interface that carries it; else the interface of the default route. For
 * a name, the address is the interface's first IPv4 address in kernel order that is not secondary, as flanneld's
 * netlink lookup returns it.
 *
 * <p>The addresses come from the {@link InterfaceAddresses} implementation on the class path (rtnetlink, in
 * {@code overlay-tun}); without one, from the JDK with the heuristics described in {@code JdkInterfaceAddresses}.
 *
 * @param name the interface name, e.g. {@code eth0}
 * @param address the interface's primary IPv4 address, or the one named, int form
 * @param mtu the interface MTU in bytes
 */
public record UnderlayInterface(String name, int address, int mtu) {
    /**
     * Selects the underlay interface with the {@link InterfaceAddresses} found by {@link java.util.ServiceLoader
     * ServiceLoader}, else the JDK's view.
     *
     * @param ifaces interface names or IPv4 addresses to try in order (flannel's {@code --iface}); may be empty
     * @param publicIp the advertised PublicIP, if given ({@code --public-ip})
     * @return the interface
     * @throws IOException if nothing matches; the message says what was tried (flannel: "Failed to find any valid
     *     interface to use"); or if the interfaces cannot be listed
     */
    public static UnderlayInterface select(final List<String> ifaces, final Optional<Integer> publicIp)
        throws IOException {
        return select(ifaces, publicIp, InterfaceAddresses.load().orElseGet(JdkInterfaceAddresses::new));
    }

    /**
     * Selects the underlay interface from the given view of the namespace's interfaces.
     *
     * @param ifaces interface names or IPv4 addresses to try in order; may be empty
     * @param publicIp the advertised PublicIP, if given
     * @param source where the addresses and the default route come from
     * @return the interface
     * @throws IOException as {@link #select(List, Optional)}
     */
    public static UnderlayInterface select(final List<String> ifaces, final Optional<Integer> publicIp,
                                           final InterfaceAddresses source) throws IOException {
        Objects.requireNonNull(source, "source");
        final List<InterfaceAddresses.Address> addresses = source.ipv4Addresses();
        final List<String> tried = new ArrayList<>();
        for (String iface : ifaces) {
            final Optional<UnderlayInterface> found = byNameOrAddress(addresses, iface);
            if (found.isPresent()) {
                return found.get();
            }
            tried.add("--iface " + iface);
        }
        if (!ifaces.isEmpty()) {
            throw new IOException("Failed to find any valid interface to use: none of " + tried + " exists with an "
                + "IPv4 address");
        }
        if (publicIp.isPresent()) {
            return byNameOrAddress(addresses, Ipv4.format(publicIp.get())).orElseThrow(() -> new IOException(
                "Failed to find any valid interface to use: no interface with given IP found ("
                    + Ipv4.format(publicIp.get()) + "); behind NAT name the interface with --iface"));
        }
        final String dflt = source.defaultRouteInterface().orElseThrow(() -> new IOException(
            "Failed to find any valid interface to use: there is no default route on an interface that is up; "
                + "name the interface with --iface"));
        return byNameOrAddress(addresses, dflt).orElseThrow(() -> new IOException(
            "Failed to find any valid interface to use: default-route interface " + dflt + " has no IPv4 address"));
    }

    private static Optional<UnderlayInterface> byNameOrAddress(final List<InterfaceAddresses.Address> addresses,
                                                               final String nameOrAddress) {
        Integer wanted = null;
        try {
            wanted = Ipv4.parse(nameOrAddress);
        } catch (IllegalArgumentException notAnAddress) {
            // a name
        }
        InterfaceAddresses.Address firstSecondary = null;
        for (InterfaceAddresses.Address a : addresses) {
            if (wanted != null) {
                if (a.address() == wanted) {
                    return Optional.of(of(a));
                }
            } else if (a.interfaceName().equals(nameOrAddress)) {
                if (!a.secondary()) {
                    return Optional.of(of(a));
                }
                if (firstSecondary == null) {
                    firstSecondary = a;
                }
            }
        }
        return Optional.ofNullable(firstSecondary).map(UnderlayInterface::of);
    }

    private static UnderlayInterface of(final InterfaceAddresses.Address a) {
        return new UnderlayInterface(a.interfaceName(), a.address(), a.interfaceMtu());
    }
}
