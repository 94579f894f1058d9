package io.overlay.examples;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Parses a static peer table in the bench harness' {@code $PEERS} form: space-separated {@code subnet=ip:port}
 * entries, e.g. {@code "100.64.2.0/24=198.18.0.2:8285 100.64.3.0/24=198.18.0.3:8285"}
 * (the harness {@code benchmarks/net-bench.sh} runs, {@code docs/performance.md#the-harness-command-line}).
 */
public final class StaticPeersTable {
    private StaticPeersTable() {
    }

    /**
     * Parses the table.
     *
     * @param text the entries separated by whitespace; may be empty
     * @return subnet to peer, in the given order
     * @throws IllegalArgumentException naming the entry when one is not {@code a.b.c.d/len=a.b.c.d:port}, has host
     *     bits set, has a port outside 1..65535, or repeats a subnet
     */
    public static Map<Ipv4Prefix, Peer> parse(final String text) {
        final Map<Ipv4Prefix, Peer> peers = new LinkedHashMap<>();
        if (text == null || text.isBlank()) {
            return peers;
        }
        for (String entry : text.trim().split("\\s+")) {
            final int eq = entry.indexOf('=');
            final int colon = entry.lastIndexOf(':');
            if (eq <= 0 || colon < eq + 2 || colon == entry.length() - 1) {
                throw new IllegalArgumentException("bad peer entry \"" + entry
                    + "\": expected subnet=ip:port, e.g. 100.64.2.0/24=198.18.0.2:8285");
            }
            try {
                final Ipv4Prefix subnet = Ipv4Prefix.parse(entry.substring(0, eq));
                final int ip = Ipv4.parse(entry.substring(eq + 1, colon));
                final String portText = entry.substring(colon + 1);
                if (!portText.chars().allMatch(Character::isDigit) || portText.length() > 5) {
                    throw new IllegalArgumentException("port \"" + portText + "\" is not a number 1..65535");
                }
                if (peers.put(subnet, new Peer(ip, Integer.parseInt(portText))) != null) {
                    throw new IllegalArgumentException("subnet " + subnet + " is listed twice");
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("bad peer entry \"" + entry + "\": " + e.getMessage(), e);
            }
        }
        return peers;
    }
}
