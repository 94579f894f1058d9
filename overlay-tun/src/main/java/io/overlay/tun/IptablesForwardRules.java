package io.overlay.tun;

import io.overlay.core.net.Ipv4Prefix;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * flanneld's forward rules ({@code --iptables-forward-rules}, flannel v0.28.9
 * {@code pkg/trafficmngr/iptables/iptables.go}, {@code forwardRules}): a chain {@code OVERLAY-FWD} in the
 * {@code filter} table accepting packets from and to the Network, and a jump to it appended to {@code FORWARD}.
 *
 * <p>Why iptables and not a table of overlay's own: a packet is dropped if any base chain on its hook drops it, so an
 * accept in one nftables table does not undo the {@code policy drop} Docker (and other iptables users) put on
 * {@code filter FORWARD}. The accept has to be in that chain, written with the tool that owns it: the {@code iptables}
 * on the PATH, which is iptables-nft on Debian 12 (the same tool Docker uses) and iptables-legacy where that is
 * chosen. Appended, as flanneld does: Docker's own jumps ({@code DOCKER-USER}, {@code DOCKER-FORWARD}) stay first.
 *
 * <p>Applied with one {@code iptables-restore --noflush} transaction: declaring the chain creates or empties it, then
 * its two rules, then the jump if it is missing. {@link #intact()} reads {@code iptables -S}.
 */
final class IptablesForwardRules {
    /** The chain's name. */
    static final String CHAIN = "OVERLAY-FWD";
    private static final String COMMENT = "-m comment --comment \"overlay forward\"";
    /** The jump as {@code iptables -S} prints it. */
    static final String JUMP = "-A FORWARD " + COMMENT + " -j " + CHAIN;

    private final Path iptables;
    private final Path iptablesRestore;
    private List<String> expected;

    /**
     * Creates the rule set; nothing is run yet.
     *
     * @param iptables the {@code iptables} executable
     * @param iptablesRestore the {@code iptables-restore} executable of the same installation
     */
    IptablesForwardRules(final Path iptables, final Path iptablesRestore) {
        this.iptables = Objects.requireNonNull(iptables, "iptables");
        this.iptablesRestore = Objects.requireNonNull(iptablesRestore, "iptablesRestore");
    }

    /**
     * Returns the chain's rules as {@code iptables -S} prints them.
     *
     * @param network the overlay Network
     * @return the two accept rules
     */
    static List<String> chainRules(final Ipv4Prefix network) {
        return List.of("-A " + CHAIN + " -s " + network + " " + COMMENT + " -j ACCEPT",
            "-A " + CHAIN + " -d " + network + " " + COMMENT + " -j ACCEPT");
    }

    /**
     * Creates or refills the chain and adds the jump when missing, in one transaction.
     *
     * @param network the overlay Network
     * @throws IOException if a tool fails; the message holds its output
     */
    void apply(final Ipv4Prefix network) throws IOException {
        final List<String> rules = chainRules(network);
        final StringBuilder s = new StringBuilder("*filter\n:" + CHAIN + " - [0:0]\n");
        rules.forEach(r -> s.append(r).append('\n'));
        if (!rules().contains(JUMP)) {
            s.append(JUMP).append('\n');
        }
        s.append("COMMIT\n");
        HostCommand.run(s.toString(), HostCommand.line(iptablesRestore, "-w", "5", "--noflush"));
        expected = rules;
    }

    /**
     * Returns whether the jump and the chain are there as last applied.
     *
     * @return {@code false} if anything is missing or the chain holds other rules
     */
    boolean intact() {
        try {
            final List<String> now = rules();
            return expected != null && now.contains(JUMP)
                && now.stream().filter(l -> l.startsWith("-A " + CHAIN + " ")).toList().equals(expected);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Returns whether the chain or the jump to it exists (whoever made them).
     *
     * @return {@code true} if {@code iptables -S} lists either
     * @throws IOException if iptables fails
     */
    boolean present() throws IOException {
        final List<String> now = rules();
        return now.contains("-N " + CHAIN) || now.contains(JUMP);
    }

    /**
     * Removes every jump to the chain and the chain itself, if present, in one transaction.
     *
     * @throws IOException if a tool fails
     */
    void remove() throws IOException {
        final List<String> now = rules();
        final StringBuilder s = new StringBuilder("*filter\n");
        for (String l : now) {
            if (l.equals(JUMP)) {
                s.append("-D").append(l.substring(2)).append('\n');
            }
        }
        if (now.contains("-N " + CHAIN)) {
            s.append("-F ").append(CHAIN).append('\n').append("-X ").append(CHAIN).append('\n');
        }
        if (s.length() > "*filter\n".length()) {
            HostCommand.run(s.append("COMMIT\n").toString(), HostCommand.line(iptablesRestore, "-w", "5",
                "--noflush"));
        }
        expected = null;
    }

    /** The filter table's rules, {@code iptables -S} lines. */
    private List<String> rules() throws IOException {
        return HostCommand.run(null, HostCommand.line(iptables, "-w", "5", "-t", "filter", "-S")).lines().toList();
    }
}
