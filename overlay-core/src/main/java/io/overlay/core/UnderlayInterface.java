package io.overlay.core;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * The external (underlay) interface: its name, IPv4 address ({@code IfaceAddr}) and MTU, chosen the way flanneld
 * chooses it (flannel reference §4.1): each {@code --iface} (a name or an address) in order; else, when a PublicIP is
 * given, the interface that carries it; else the interface of the default route.
 *
 * @param name the interface name, e.g. {@code eth0}
 * @param address the interface's first IPv4 address, or the one named, int form
 * @param mtu the interface MTU in bytes
 */
public record UnderlayInterface(String name, int address, int mtu) {
    /**
     * Selects the underlay interface.
     *
     * @param ifaces interface names or IPv4 addresses to try in order (flannel's {@code --iface}); may be empty
     * @param publicIp the advertised PublicIP, if given ({@code --public-ip})
     * @return the interface
     * @throws IOException if nothing matches; the message says what was tried (flannel: "Failed to find any valid
     *     interface to use")
     */
    public static UnderlayInterface select(final List<String> ifaces, final Optional<Integer> publicIp)
        throws IOException {
        final List<String> tried = new ArrayList<>();
        for (String iface : ifaces) {
            final Optional<UnderlayInterface> found = byNameOrAddress(iface);
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
            return byNameOrAddress(Ipv4.format(publicIp.get())).orElseThrow(() -> new IOException(
                "Failed to find any valid interface to use: no interface with given IP found ("
                    + Ipv4.format(publicIp.get()) + "); behind NAT name the interface with --iface"));
        }
        final String dflt = defaultRouteInterface().orElseThrow(() -> new IOException(
            "Failed to find any valid interface to use: there is no default route; name the interface with --iface"));
        return byNameOrAddress(dflt).orElseThrow(() -> new IOException(
            "Failed to find any valid interface to use: default-route interface " + dflt + " has no IPv4 address"));
    }

    private static Optional<UnderlayInterface> byNameOrAddress(final String nameOrAddress) throws IOException {
        try {
            Integer wanted = null;
            try {
                wanted = Ipv4.parse(nameOrAddress);
            } catch (IllegalArgumentException notAnAddress) {
                // a name
            }
            for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (wanted == null && !nif.getName().equals(nameOrAddress)) {
                    continue;
                }
                for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                    if (a instanceof Inet4Address) {
                        final int v4 = Ipv4.fromInetAddress((Inet4Address) a);
                        if (wanted == null || wanted == v4) {
                            return Optional.of(new UnderlayInterface(nif.getName(), v4, nif.getMTU()));
                        }
                    }
                }
            }
            return Optional.empty();
        } catch (SocketException e) {
            throw new IOException("cannot list network interfaces: " + e.getMessage(), e);
        }
    }

    /** The interface of the IPv4 default route, from {@code /proc/net/route} (destination 00000000, mask 0). */
    private static Optional<String> defaultRouteInterface() throws IOException {
        final Path routes = Path.of("/proc/net/route");
        if (!Files.exists(routes)) {
            return Optional.empty();
        }
        for (String line : Files.readAllLines(routes)) {
            final String[] f = line.trim().split("\\s+");
            if (f.length > 7 && f[1].equals("00000000") && f[7].equals("00000000")) {
                return Optional.of(f[0]);
            }
        }
        return Optional.empty();
    }
}
