package io.overlay.tun;

import io.overlay.core.net.Ipv4Prefix;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * flanneld's masquerade rules ({@code --ip-masq}) in an nftables table of overlay's own, {@code ip overlay}, with one
 * chain {@code postrouting} (type nat, hook postrouting, priority srcnat). The rule list is flannel's iptables one
 * (flannel v0.28.9 {@code pkg/trafficmngr/iptables/iptables.go}, {@code masqRules}), in order, with <i>cluster</i> the
 * Network and <i>pod</i> this host's subnet:
 * <ol>
 * <li>return for packets with kube-proxy's masquerade mark ({@code 0x4000/0x4000}), so they are not NATed twice;</li>
 * <li>return {@code pod -> cluster} and {@code cluster -> pod}: traffic within the Network keeps its source;</li>
 * <li>return {@code !cluster -> pod}: traffic from outside to local containers keeps its source;</li>
 * <li>masquerade {@code cluster -> !224.0.0.0/4}: containers reaching outside the Network appear as the host
 * (multicast is left alone);</li>
 * <li>masquerade {@code !cluster -> cluster}: the host's own traffic into the Network.</li>
 * </ol>
 * Masquerade is {@code fully-random} unless disabled, as flanneld's {@code --random-fully} unless
 * {@code --ip-masq-fully-random-disable}. (flannel's own nftables mode writes rule 3 as {@code !pod -> cluster};
 * overlay follows the iptables list, which every flannel release has used.)
 *
 * <p>The table is written as one {@code nft -f} script that creates, deletes and re-creates it: one transaction, so
 * the rules are never half there and a changed subnet replaces the old rules. {@link #intact()} compares
 * {@code nft list table ip overlay} with the listing taken right after the last apply.
 */
final class NftMasqueradeRules {
    /** The table's family and name. */
    static final String TABLE = "ip overlay";
    private static final String COMMENT = "comment \"overlay masq\"";

    private final Path nft;
    private final boolean randomFully;
    private String expected;

    /**
     * Creates the rule set; nothing is run yet.
     *
     * @param nft the {@code nft} executable
     * @param randomFully whether masquerade picks source ports fully at random
     */
    NftMasqueradeRules(final Path nft, final boolean randomFully) {
        this.nft = Objects.requireNonNull(nft, "nft");
        this.randomFully = randomFully;
    }

    /**
     * Returns the whole-table script for {@code nft -f}.
     *
     * @param network the overlay Network
     * @param subnet this host's subnet
     * @return the script
     */
    String script(final Ipv4Prefix network, final Ipv4Prefix subnet) {
        final String masq = randomFully ? "masquerade fully-random" : "masquerade";
        return "table " + TABLE + "\n"
            + "delete table " + TABLE + "\n"
            + "table " + TABLE + " {\n"
            + "\tchain postrouting {\n"
            + "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            + "\t\tmeta mark & 0x00004000 == 0x00004000 return " + COMMENT + "\n"
            + "\t\tip saddr " + subnet + " ip daddr " + network + " return " + COMMENT + "\n"
            + "\t\tip saddr " + network + " ip daddr " + subnet + " return " + COMMENT + "\n"
            + "\t\tip saddr != " + network + " ip daddr " + subnet + " return " + COMMENT + "\n"
            + "\t\tip saddr " + network + " ip daddr != 224.0.0.0/4 " + masq + " " + COMMENT + "\n"
            + "\t\tip saddr != " + network + " ip daddr " + network + " " + masq + " " + COMMENT + "\n"
            + "\t}\n"
            + "}\n";
    }

    /**
     * Installs (or replaces) the table in one transaction and remembers its listing.
     *
     * @param network the overlay Network
     * @param subnet this host's subnet
     * @throws IOException if {@code nft} fails; the message holds its output
     */
    void apply(final Ipv4Prefix network, final Ipv4Prefix subnet) throws IOException {
        HostCommand.run(script(network, subnet), HostCommand.line(nft, "-f", "-"));
        expected = list();
    }

    /**
     * Returns whether the table is there exactly as last applied.
     *
     * @return {@code false} if it is missing or differs (a flushed ruleset, an edited chain)
     */
    boolean intact() {
        try {
            return expected != null && expected.equals(list());
        } catch (IOException missing) {
            return false;
        }
    }

    /**
     * Returns whether the table exists (whoever wrote it).
     *
     * @return {@code true} if {@code nft list table ip overlay} succeeds
     */
    boolean present() {
        try {
            list();
            return true;
        } catch (IOException missing) {
            return false;
        }
    }

    /**
     * Deletes the table if it exists (one transaction: create if missing, then delete).
     *
     * @throws IOException if {@code nft} fails
     */
    void remove() throws IOException {
        HostCommand.run("table " + TABLE + "\ndelete table " + TABLE + "\n", HostCommand.line(nft, "-f", "-"));
        expected = null;
    }

    private String list() throws IOException {
        return HostCommand.run(null, HostCommand.line(nft, "list", "table", "ip", "overlay"));
    }
}
