package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.InterfaceAddresses;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The external (underlay) interface: its name, IPv4 address ({@code IfaceAddr}) and MTU, chosen the way flanneld
 * chooses it (flannel v0.28.9 {@code main.go} and {@code pkg/ipmatch/match.go};
 * {@code docs/flannel-compatibility.md#interface-selection}). When none of {@code --iface},
 * {@code --iface-regex}, {@code --iface-can-reach} is given: the interface that carries the PublicIP if one is given,
 * else the interface of the default route. Otherwise, in this order, the first that matches:
 * <ol>
 * <li>each {@code --iface}, a name or an address;</li>
 * <li>each {@code --iface-regex}: first against the interfaces' usable IPv4 addresses (global or link-local unicast,
 * global ones first; interfaces in kernel order), the matching address being used; then against the interface
 * names, the first matching interface being used with its address;</li>
 * <li>{@code --iface-can-reach}: the interface of the route the kernel would use to reach that address, with the
 * route's preferred source address.</li>
 * </ol>
 * A regular expression matches when it is found anywhere in the text (Go's {@code MatchString}); the syntax is
 * Java's, which agrees with Go's RE2 on ordinary patterns. For a name, the address is the interface's first IPv4
 * address in kernel order that is not secondary, as flanneld's netlink lookup returns it.
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
     * Returns where {@link #select} reads the namespace's addresses and routes from: the {@link InterfaceAddresses}
     * found by {@link java.util.ServiceLoader ServiceLoader} (rtnetlink, {@code overlay-tun}), else the JDK's view.
     *
     * @return the source; stateless, reusable from any thread (answers for the calling thread's namespace)
     */
    public static InterfaceAddresses addressSource() {
        return InterfaceAddresses.load().orElseGet(JdkInterfaceAddresses::new);
    }

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

    /**
     * Selects the underlay interface with every criterion flanneld has, from the {@link InterfaceAddresses} found by
     * {@link java.util.ServiceLoader ServiceLoader}, else the JDK's view.
     *
     * @param ifaces interface names or IPv4 addresses ({@code --iface}); may be empty
     * @param regexes patterns for addresses, then names ({@code --iface-regex}); may be empty
     * @param canReach an address whose route names the interface ({@code --iface-can-reach}), if given
     * @param publicIp the advertised PublicIP, if given
     * @return the interface
     * @throws IOException if nothing matches; the message says what was tried and how to fix it
     */
    public static UnderlayInterface select(final List<String> ifaces, final List<Pattern> regexes,
                                           final Optional<Integer> canReach, final Optional<Integer> publicIp)
        throws IOException {
        return select(ifaces, regexes, canReach, publicIp,
            InterfaceAddresses.load().orElseGet(JdkInterfaceAddresses::new));
    }

    /**
     * Selects the underlay interface with every criterion flanneld has, from the given view of the namespace.
     *
     * @param ifaces interface names or IPv4 addresses; may be empty
     * @param regexes patterns for addresses, then names; may be empty
     * @param canReach an address whose route names the interface, if given
     * @param publicIp the advertised PublicIP, if given
     * @param source where the addresses, names and routes come from
     * @return the interface
     * @throws IOException as {@link #select(List, List, Optional, Optional)}
     */
    public static UnderlayInterface select(final List<String> ifaces, final List<Pattern> regexes,
                                           final Optional<Integer> canReach, final Optional<Integer> publicIp,
                                           final InterfaceAddresses source) throws IOException {
        if (regexes.isEmpty() && canReach.isEmpty()) {
            return select(ifaces, publicIp, source);
        }
        final List<InterfaceAddresses.Address> addresses = source.ipv4Addresses();
        final List<String> tried = new ArrayList<>();
        for (String iface : ifaces) {
            final Optional<UnderlayInterface> found = byNameOrAddress(addresses, iface);
            if (found.isPresent()) {
                return found.get();
            }
            tried.add("--iface " + iface + " does not exist with an IPv4 address");
        }
        for (Pattern regex : regexes) {
            final Optional<UnderlayInterface> found = byRegex(addresses, source.interfaceNames(), regex);
            if (found.isPresent()) {
                return found.get();
            }
            tried.add("--iface-regex " + regex + " matches no IPv4 address and no interface name with one");
        }
        if (canReach.isPresent()) {
            final String target = Ipv4.format(canReach.get());
            final Optional<InterfaceAddresses.Route> route = source.routeTo(canReach.get());
            if (route.isEmpty()) {
                tried.add("--iface-can-reach " + target + ": no route reaches it");
            } else {
                final Optional<UnderlayInterface> found = byRoute(addresses, route.get());
                if (found.isPresent()) {
                    return found.get();
                }
                tried.add("--iface-can-reach " + target + ": its route leaves through " + route.get().interfaceName()
                    + ", which has no IPv4 address");
            }
        }
        throw new IOException("Failed to find interface to use that matches the interfaces and/or regexes provided: "
            + String.join("; ", tried) + ". Interfaces here: " + describe(addresses) + ". Fix the option, or name "
            + "the interface with --iface");
    }

    /**
     * Compiles interface patterns ({@code --iface-regex}), one rule for the launcher and the library.
     *
     * @param option the setting's name for the message, e.g. {@code --iface-regex}
     * @param regexes the patterns
     * @return the compiled patterns, in order
     * @throws IllegalArgumentException naming the setting, the pattern and what is wrong with it
     */
    public static List<Pattern> compile(final String option, final List<String> regexes) {
        final List<Pattern> compiled = new ArrayList<>();
        for (String r : regexes) {
            try {
                compiled.add(Pattern.compile(r));
            } catch (java.util.regex.PatternSyntaxException e) {
                throw new IllegalArgumentException(option + " '" + r + "' is not a valid regular expression ("
                    + e.getDescription() + "); fix the pattern", e);
            }
        }
        return List.copyOf(compiled);
    }

    private static Optional<UnderlayInterface> byRegex(final List<InterfaceAddresses.Address> addresses,
                                                       final List<String> names, final Pattern regex) {
        final List<InterfaceAddresses.Address> usable = new ArrayList<>();
        for (InterfaceAddresses.Address a : addresses) {
            if (globalUnicast(a.address()) || linkLocal(a.address())) {
                usable.add(a);
            }
        }
        final List<String> order = usable.stream().map(InterfaceAddresses.Address::interfaceName).distinct().toList();
        for (String name : order) {
            for (boolean global : new boolean[] {true, false}) {
                for (InterfaceAddresses.Address a : usable) {
                    if (a.interfaceName().equals(name) && globalUnicast(a.address()) == global
                        && regex.matcher(Ipv4.format(a.address())).find()) {
                        return Optional.of(of(a));
                    }
                }
            }
        }
        for (String name : names) {
            if (regex.matcher(name).find()) {
                // flanneld takes the first interface whose name matches, and fails the pattern if it has no address
                return byNameOrAddress(usable, name);
            }
        }
        return Optional.empty();
    }

    private static Optional<UnderlayInterface> byRoute(final List<InterfaceAddresses.Address> addresses,
                                                       final InterfaceAddresses.Route route) {
        if (route.source() == 0) {
            return byNameOrAddress(addresses, route.interfaceName());
        }
        return addresses.stream().filter(a -> a.interfaceName().equals(route.interfaceName())).findFirst()
            .map(a -> new UnderlayInterface(a.interfaceName(), route.source(), a.interfaceMtu()));
    }

    /** Go's {@code IsGlobalUnicast} for IPv4: not unspecified, loopback, link-local, multicast or broadcast. */
    private static boolean globalUnicast(final int a) {
        final int first = a >>> 24;
        return a != 0 && first != 127 && !linkLocal(a) && first < 224;
    }

    private static boolean linkLocal(final int a) {
        return (a >>> 16) == 0xa9fe;
    }

    private static String describe(final List<InterfaceAddresses.Address> addresses) {
        final List<String> parts = new ArrayList<>();
        for (InterfaceAddresses.Address a : addresses) {
            parts.add(a.interfaceName() + " " + Ipv4.format(a.address()));
        }
        return parts.isEmpty() ? "none with an IPv4 address" : String.join(", ", parts);
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
