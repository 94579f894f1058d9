package io.overlay.core.flannel;

import io.overlay.core.net.Ipv4;
import io.overlay.core.spi.InterfaceAddresses;
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
 * The fallback {@link InterfaceAddresses} when no rtnetlink implementation is on the class path: the JDK's
 * {@link NetworkInterface} list and {@code /proc/net/route}. Heuristics, documented because they only approximate the
 * kernel's view: the JDK lists an interface's addresses newest first and does not tell secondaries apart, so each
 * interface's IPv4 list is reversed (oldest first, which is the kernel order when addresses were only ever added) and
 * nothing is marked secondary; the default route is the {@code 00000000/00000000} line of {@code /proc/net/route}
 * with the lowest metric whose interface is up.
 */
final class JdkInterfaceAddresses implements InterfaceAddresses {
    @Override
    public List<Address> ipv4Addresses() throws IOException {
        try {
            final List<Address> all = new ArrayList<>();
            for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                final List<Address> own = new ArrayList<>();
                for (InetAddress a : Collections.list(nif.getInetAddresses())) {
                    if (a instanceof Inet4Address v4) {
                        own.add(new Address(nif.getName(), nif.getMTU(), Ipv4.fromInetAddress(v4), 32, false));
                    }
                }
                Collections.reverse(own);
                all.addAll(own);
            }
            return all;
        } catch (SocketException e) {
            throw new IOException("cannot list network interfaces: " + e.getMessage(), e);
        }
    }

    @Override
    public Optional<String> defaultRouteInterface() throws IOException {
        final Path routes = Path.of("/proc/net/route");
        if (!Files.exists(routes)) {
            return Optional.empty();
        }
        String best = null;
        long bestMetric = Long.MAX_VALUE;
        for (String line : Files.readAllLines(routes)) {
            final String[] f = line.trim().split("\\s+");
            if (f.length > 7 && f[1].equals("00000000") && f[7].equals("00000000") && isUp(f[0])) {
                final long metric = Long.parseLong(f[6]);
                if (metric < bestMetric) {
                    best = f[0];
                    bestMetric = metric;
                }
            }
        }
        return Optional.ofNullable(best);
    }

    /**
     * {@inheritDoc} Approximated with a connected UDP socket: the kernel picks the route and the source address when
     * it connects (nothing is sent); the interface is the one carrying that source.
     */
    @Override
    public Optional<Route> routeTo(final int address) throws IOException {
        try (java.net.DatagramSocket s = new java.net.DatagramSocket()) {
            s.connect(new java.net.InetSocketAddress(Ipv4.toInetAddress(address), 9));
            final InetAddress local = s.getLocalAddress();
            final NetworkInterface nif = local == null ? null : NetworkInterface.getByInetAddress(local);
            return nif == null || !(local instanceof Inet4Address v4) ? Optional.empty()
                : Optional.of(new Route(nif.getName(), Ipv4.fromInetAddress(v4)));
        } catch (java.io.UncheckedIOException | SocketException unreachable) {
            return Optional.empty();
        }
    }

    private static boolean isUp(final String name) {
        try {
            final NetworkInterface nif = NetworkInterface.getByName(name);
            return nif != null && nif.isUp();
        } catch (SocketException e) {
            return false;
        }
    }
}
