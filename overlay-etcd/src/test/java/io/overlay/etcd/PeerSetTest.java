package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** {@link PeerSet} alone: listings and events in, peer changes and skips out; no etcd, no threads. */
class PeerSetTest {
    private static final String P = "/coreos.com/network/subnets/";
    private static final Ipv4Prefix OWN = Ipv4Prefix.parse("100.64.1.0/24");
    private final PeerSet set = new PeerSet("/coreos.com/network/subnets");

    private static SubnetListing.Entry entry(final String key, final String value) {
        return entry(key, value, 7);
    }

    private static SubnetListing.Entry entry(final String key, final String value, final long lease) {
        return SubnetListing.Entry.parse("/coreos.com/network/subnets", P + key,
            value.getBytes(StandardCharsets.UTF_8), lease, 1, 1);
    }

    /** An entry whose key was created at etcd revision {@code created}. */
    private static SubnetListing.Entry created(final String key, final String value, final long created) {
        return SubnetListing.Entry.parse("/coreos.com/network/subnets", P + key,
            value.getBytes(StandardCharsets.UTF_8), 7, created, created);
    }

    private static String ip(final String dotted) {
        return "{\"PublicIP\":\"" + dotted + "\"}";
    }

    /** The changes as text: "added 100.64.2.0-24 198.18.0.2", "skipped MALFORMED", ... */
    private static List<String> text(final List<PeerSet.Change> changes) {
        return changes.stream().map(c -> {
            if (c instanceof PeerSet.Added a) {
                return "added " + a.lease().key() + " " + Ipv4.format(a.lease().attrs().publicIp());
            } else if (c instanceof PeerSet.Changed ch) {
                return "changed " + ch.current().key() + " " + Ipv4.format(ch.previous().attrs().publicIp()) + " -> "
                    + Ipv4.format(ch.current().attrs().publicIp());
            } else if (c instanceof PeerSet.Removed r) {
                return "removed " + r.lease().key();
            } else if (c instanceof PeerSet.Skipped s) {
                return "skipped " + s.reason() + (s.warning() == null ? " quietly" : "");
            }
            return "note " + ((PeerSet.Note) c).warn();
        }).collect(Collectors.toList());
    }

    /**
     * A listing's peers come in the order their keys were last written (as a watch would have delivered them), not in
     * hash order: where two leases share a PublicIP (a host restarted on a new subnet while its old lease lives on)
     * the most recent comes last, and its key is the one PeerKeyFollower keeps.
     */
    @Test
    void resetDeliversPeersInTheOrderTheirKeysWereLastWritten() {
        final List<SubnetListing.Entry> entries = new java.util.ArrayList<>();
        for (int i = 2; i < 42; i++) { // written in reverse: subnet 2 last
            entries.add(SubnetListing.Entry.parse("/coreos.com/network/subnets", P + "100.64." + i + ".0-24",
                ip("198.18.0." + i).getBytes(StandardCharsets.UTF_8), 7, 1000 - i, 10));
        }
        // the same host's old lease (written long ago) and new one (written last), one PublicIP
        entries.add(SubnetListing.Entry.parse("/coreos.com/network/subnets", P + "100.64.200.0-24",
            ip("198.18.0.99").getBytes(StandardCharsets.UTF_8), 7, 5, 5));
        entries.add(SubnetListing.Entry.parse("/coreos.com/network/subnets", P + "100.64.50.0-24",
            ip("198.18.0.99").getBytes(StandardCharsets.UTF_8), 7, 2000, 2000));
        java.util.Collections.shuffle(entries, new java.util.Random(1));
        final List<String> added = text(set.reset(entries, OWN));
        final List<String> expected = new java.util.ArrayList<>(List.of("added 100.64.200.0-24 198.18.0.99"));
        for (int i = 41; i >= 2; i--) {
            expected.add("added 100.64." + i + ".0-24 198.18.0." + i);
        }
        expected.add("added 100.64.50.0-24 198.18.0.99");
        assertThat(added).containsExactlyElementsOf(expected);
    }

    /**
     * The order is that of the owning claims' writes: a younger claim on the old lease's subnet (ignored, named at
     * WARN) written after the host's new lease must not move the old lease, and its key, after the new one.
     */
    @Test
    void resetOrdersASubnetByItsOwnersWriteNotByAYoungerIgnoredClaims() {
        final List<SubnetListing.Entry> entries = List.of(
            SubnetListing.Entry.parse("/coreos.com/network/subnets", P + "100.64.200.0-24",
                ip("198.18.0.99").getBytes(StandardCharsets.UTF_8), 7, 5, 5),
            SubnetListing.Entry.parse("/coreos.com/network/subnets", P + "100.64.200.0-24&fc00::-64",
                ip("198.18.0.77").getBytes(StandardCharsets.UTF_8), 7, 3000, 3000),
            SubnetListing.Entry.parse("/coreos.com/network/subnets", P + "100.64.50.0-24",
                ip("198.18.0.99").getBytes(StandardCharsets.UTF_8), 7, 2000, 2000));
        final List<String> added = text(set.reset(entries, OWN)).stream().filter(t -> t.startsWith("added"))
            .collect(Collectors.toList());
        assertThat(added).containsExactly("added 100.64.200.0-24 198.18.0.99", "added 100.64.50.0-24 198.18.0.99");
    }

    @Test
    void resetAddsEveryValidPeerButTheOwnSubnet() {
        final List<PeerSet.Change> c = set.reset(List.of(entry("100.64.1.0-24", ip("198.18.0.9")),
            entry("100.64.2.0-24", ip("198.18.0.2")), entry("100.64.3.0-24", ip("198.18.0.3"))), OWN);
        assertThat(text(c)).containsExactlyInAnyOrder("added 100.64.2.0-24 198.18.0.2",
            "added 100.64.3.0-24 198.18.0.3");
        assertThat(set.peers()).containsOnlyKeys(Ipv4Prefix.parse("100.64.2.0/24"), Ipv4Prefix.parse("100.64.3.0/24"));
    }

    @Test
    void aSecondResetDeliversTheDifferenceOnly() {
        set.reset(List.of(entry("100.64.2.0-24", ip("198.18.0.2")), entry("100.64.3.0-24", ip("198.18.0.3"))), OWN);
        final List<PeerSet.Change> c = set.reset(List.of(entry("100.64.2.0-24", ip("198.18.0.22")),
            entry("100.64.4.0-24", ip("198.18.0.4"))), OWN);
        assertThat(text(c)).containsExactlyInAnyOrder("changed 100.64.2.0-24 198.18.0.2 -> 198.18.0.22",
            "added 100.64.4.0-24 198.18.0.4", "removed 100.64.3.0-24");
        assertThat(set.reset(List.of(entry("100.64.2.0-24", ip("198.18.0.22")),
            entry("100.64.4.0-24", ip("198.18.0.4"))), OWN)).isEmpty();
    }

    /** A peer whose value turned malformed keeps its last good route; a malformed key never removes anything. */
    @Test
    void malformedEntriesAreSkippedAndNeverRemoveAPeer() {
        set.reset(List.of(entry("100.64.2.0-24", ip("198.18.0.2"))), OWN);
        assertThat(text(set.reset(List.of(entry("100.64.2.0-24", "not-json"), entry("garbage", "{}")), OWN)))
            .containsExactly("skipped MALFORMED", "skipped MALFORMED");
        assertThat(set.peers()).containsOnlyKeys(Ipv4Prefix.parse("100.64.2.0/24"));
        final List<PeerSet.Change> put = set.put(entry("100.64.2.0-24", ""), OWN, P + "100.64.1.0-24");
        assertThat(text(put)).containsExactly("skipped MALFORMED");
        assertThat(((PeerSet.Skipped) put.get(0)).warning()).startsWith("Skipping malformed lease event for key "
            + P + "100.64.2.0-24: ");
        assertThat(set.peers()).containsOnlyKeys(Ipv4Prefix.parse("100.64.2.0/24"));
    }

    @Test
    void putsAddChangeAndIgnoreEqualAttributes() {
        assertThat(text(set.put(entry("100.64.2.0-24", ip("198.18.0.2")), OWN, null)))
            .containsExactly("added 100.64.2.0-24 198.18.0.2");
        assertThat(set.put(entry("100.64.2.0-24", "{\"PublicIP\":\"198.18.0.2\",\"PublicIPv6\":null}"), OWN, null))
            .isEmpty();
        assertThat(text(set.put(entry("100.64.2.0-24", ip("198.18.0.22")), OWN, null)))
            .containsExactly("changed 100.64.2.0-24 198.18.0.2 -> 198.18.0.22");
        // a reservation turning into a lease is a change, too
        assertThat(text(set.put(entry("100.64.2.0-24", ip("198.18.0.22"), 0), OWN, null)))
            .containsExactly("changed 100.64.2.0-24 198.18.0.22 -> 198.18.0.22");
    }

    @Test
    void deletesRemoveKnownPeersOnly() {
        set.put(entry("100.64.2.0-24", ip("198.18.0.2")), OWN, null);
        assertThat(text(set.delete(P + "100.64.2.0-24"))).containsExactly("removed 100.64.2.0-24");
        assertThat(set.delete(P + "100.64.2.0-24")).isEmpty();
        assertThat(text(set.delete(P + "garbage"))).containsExactly("note false");
        assertThat(set.peers()).isEmpty();
    }

    @Test
    void aPutNamingTheOwnSubnetIsANoteNotAPeer() {
        final List<PeerSet.Change> c = set.put(entry("100.64.1.0-24&fc00:0:0:1::-64", ip("198.18.0.9")), OWN,
            P + "100.64.1.0-24");
        assertThat(text(c)).containsExactly("note true");
        assertThat(set.peers()).isEmpty();
    }

    /** Not unicast: skipped and counted each time, named once per key; a known peer turning unroutable is removed. */
    @Test
    void unroutablePublicIpsAreSkippedNamedOnceAndRemoveAKnownPeer() {
        assertThat(text(set.put(entry("100.64.6.0-24", ip("0.0.0.0")), OWN, null)))
            .containsExactly("skipped UNROUTABLE");
        assertThat(text(set.put(entry("100.64.6.0-24", ip("0.0.0.0")), OWN, null)))
            .containsExactly("skipped UNROUTABLE quietly");
        assertThat(text(set.reset(List.of(entry("100.64.7.0-24", ip("224.0.0.7")),
            entry("100.64.8.0-24", ip("255.255.255.255"))), OWN)))
            .containsExactly("skipped UNROUTABLE", "skipped UNROUTABLE");
        set.put(entry("100.64.2.0-24", ip("198.18.0.2")), OWN, null);
        assertThat(text(set.put(entry("100.64.2.0-24", ip("0.1.2.3")), OWN, null)))
            .containsExactly("skipped UNROUTABLE", "removed 100.64.2.0-24");
        // routable again: added, and named again should it turn unroutable once more
        assertThat(text(set.put(entry("100.64.2.0-24", ip("198.18.0.2")), OWN, null)))
            .containsExactly("added 100.64.2.0-24 198.18.0.2");
        assertThat(text(set.put(entry("100.64.2.0-24", ip("0.1.2.3")), OWN, null)))
            .containsExactly("skipped UNROUTABLE", "removed 100.64.2.0-24");
    }

    @Test
    void anotherBackendTypeIsAPeerWithOneMixedClusterNote() {
        assertThat(text(set.put(entry("100.64.8.0-24", "{\"PublicIP\":\"198.18.0.8\",\"BackendType\":\"vxlan\"}"),
            OWN, null))).containsExactly("note true", "added 100.64.8.0-24 198.18.0.8");
        assertThat(text(set.put(entry("100.64.9.0-24", "{\"PublicIP\":\"198.18.0.9\",\"BackendType\":\"vxlan\"}"),
            OWN, null))).containsExactly("added 100.64.9.0-24 198.18.0.9");
    }

    @Test
    void removeForgetsAPeerOnce() {
        set.put(entry("100.64.2.0-24", ip("198.18.0.2")), OWN, null);
        assertThat(set.remove(Ipv4Prefix.parse("100.64.2.0/24"))).isPresent();
        assertThat(set.remove(Ipv4Prefix.parse("100.64.2.0/24"))).isEmpty();
    }

    @Test
    void unicastIsNeither0Slash8NorMulticastNorReserved() {
        assertThat(PeerSet.isUnicast(Ipv4.parse("198.18.0.1"))).isTrue();
        assertThat(PeerSet.isUnicast(Ipv4.parse("223.255.255.255"))).isTrue();
        assertThat(PeerSet.isUnicast(Ipv4.parse("0.0.0.0"))).isFalse();
        assertThat(PeerSet.isUnicast(Ipv4.parse("0.255.0.1"))).isFalse();
        assertThat(PeerSet.isUnicast(Ipv4.parse("224.0.0.1"))).isFalse();
        assertThat(PeerSet.isUnicast(Ipv4.parse("240.0.0.1"))).isFalse();
    }

    /** Two keys for one subnet: the older key owns it whatever the order seen; the younger one is named once. */
    @Test
    void theOlderOfTwoKeysForOneSubnetOwnsItAndTheYoungerChangesNothing() {
        final String real = "100.64.2.0-24";
        final String junk = "100.64.2.0-24&fc00::-64";
        assertThat(text(set.reset(List.of(created(junk, ip("198.18.0.66"), 9), created(real, ip("198.18.0.2"), 3)),
            OWN))).containsExactly("added 100.64.2.0-24 198.18.0.2", "note true");
        // the younger key changes: nothing; the owner changes: followed
        assertThat(set.put(created(junk, ip("198.18.0.67"), 9), OWN, null)).isEmpty();
        assertThat(text(set.put(created(real, ip("198.18.0.22"), 3), OWN, null)))
            .containsExactly("changed 100.64.2.0-24 198.18.0.2 -> 198.18.0.22");
        // deleting the younger key: nothing; writing it again: named again
        assertThat(set.delete(P + junk)).isEmpty();
        assertThat(text(set.put(created(junk, ip("198.18.0.66"), 12), OWN, null))).containsExactly("note true");
        // a re-listing with both: no change, no second WARN
        assertThat(set.reset(List.of(created(real, ip("198.18.0.22"), 3), created(junk, ip("198.18.0.66"), 12)),
            OWN)).isEmpty();
        // the owner goes: the other claim takes over, named
        final List<PeerSet.Change> c = set.delete(P + real);
        assertThat(text(c)).containsExactly("note true", "changed 100.64.2.0-24 198.18.0.22 -> 198.18.0.66");
        assertThat(((PeerSet.Note) c.get(0)).message()).contains(P + junk).contains("now owns it");
        assertThat(text(set.delete(P + junk))).containsExactly("removed 100.64.2.0-24");
        assertThat(set.peers()).isEmpty();
    }

    /** A key whose value turns malformed keeps its claim: a younger key does not take the subnet meanwhile. */
    @Test
    void aMalformedValueKeepsItsKeysClaim() {
        set.put(created("100.64.2.0-24", ip("198.18.0.2"), 3), OWN, null);
        set.put(created("100.64.2.0-24&fc00::-64", ip("198.18.0.66"), 9), OWN, null);
        assertThat(text(set.reset(List.of(created("100.64.2.0-24", "not-json", 3),
            created("100.64.2.0-24&fc00::-64", ip("198.18.0.66"), 9)), OWN))).containsExactly("skipped MALFORMED");
        assertThat(Ipv4.format(set.peers().get(Ipv4Prefix.parse("100.64.2.0/24")).attrs().publicIp()))
            .isEqualTo("198.18.0.2");
    }

    /** Loopback and this host's own PublicIP are skipped like 0.0.0.0, named once per key. */
    @Test
    void loopbackAndTheOwnPublicIpAreUnroutable() {
        set.ownPublicIp(Ipv4.parse("198.18.0.1"));
        final List<PeerSet.Change> c = set.put(entry("100.64.6.0-24", ip("127.0.0.1")), OWN, null);
        assertThat(text(c)).containsExactly("skipped UNROUTABLE");
        assertThat(((PeerSet.Skipped) c.get(0)).warning()).contains("127.0.0.1 is a loopback address");
        assertThat(text(set.put(entry("100.64.7.0-24", ip("127.255.255.254")), OWN, null)))
            .containsExactly("skipped UNROUTABLE");
        final List<PeerSet.Change> own = set.put(entry("100.64.8.0-24", ip("198.18.0.1")), OWN, null);
        assertThat(((PeerSet.Skipped) own.get(0)).warning()).contains("198.18.0.1 is this host's own PublicIP");
        assertThat(text(set.put(entry("100.64.9.0-24", ip("128.0.0.1")), OWN, null)))
            .containsExactly("added 100.64.9.0-24 128.0.0.1");
        assertThat(set.peers()).containsOnlyKeys(Ipv4Prefix.parse("100.64.9.0/24"));
    }
}
