package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.OutOfSubnetsException;
import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4Prefix;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** flannel's candidate walk (docs/flannel-compatibility.md#subnet-allocation), without etcd. */
class FreeSubnetsTest {
    private static final NetworkConfig NET16 = NetworkConfig.parse("{\"Network\":\"100.64.0.0/16\"}");

    @Test
    void candidatesAreTheLowest100FreeFromSubnetMin() {
        final List<Ipv4Prefix> c = FreeSubnets.candidates(NET16, List.of(Ipv4Prefix.parse("100.64.2.0/24")));
        assertThat(c).hasSize(100);
        assertThat(c.get(0)).isEqualTo(Ipv4Prefix.parse("100.64.1.0/24"));
        assertThat(c.get(1)).isEqualTo(Ipv4Prefix.parse("100.64.3.0/24"));
        assertThat(c.get(99)).isEqualTo(Ipv4Prefix.parse("100.64.101.0/24"));
    }

    @Test
    void overlapNotEqualityBlocksCandidates() {
        // a /20 key covers 100.64.0.0-100.64.15.255: sixteen /24 candidates (15 from SubnetMin)
        final List<Ipv4Prefix> c = FreeSubnets.candidates(NET16, List.of(Ipv4Prefix.parse("100.64.0.0/20"),
            Ipv4Prefix.parse("100.64.16.128/25")));
        assertThat(c.get(0)).isEqualTo(Ipv4Prefix.parse("100.64.17.0/24"));
    }

    @Test
    void pickIsUniformAmongCandidatesOnly() {
        final Random random = new Random(7);
        final Set<Ipv4Prefix> seen = new HashSet<>();
        for (int i = 0; i < 3000; i++) {
            seen.add(FreeSubnets.pick(NET16, List.of(), random));
        }
        assertThat(seen).hasSize(100);
        assertThat(seen).allMatch(p -> ((p.address() >> 8) & 0xff) >= 1 && ((p.address() >> 8) & 0xff) <= 100);
    }

    @Test
    void exhaustedRangeNamesRangeAndCount() {
        final NetworkConfig net24 = NetworkConfig.parse("{\"Network\":\"100.64.0.0/24\"}");
        final List<Ipv4Prefix> all = new ArrayList<>(FreeSubnets.candidates(net24, List.of()));
        assertThat(all).hasSize(3);
        assertThatThrownBy(() -> FreeSubnets.pick(net24, all, new Random()))
            .isInstanceOf(OutOfSubnetsException.class)
            .hasMessage("no free /26 in 100.64.0.64-100.64.0.192 of 100.64.0.0/24: 3 of 3 in use (3 subnet keys in "
                + "etcd)");
    }

    /** The one-pass walk gives what testing each candidate against every key gives, on random mixed-length keys. */
    @Test
    void candidatesMatchTheOverlapTestOfEveryPairOnRandomKeys() {
        final NetworkConfig net = NetworkConfig.parse("{\"Network\":\"100.64.0.0/14\",\"SubnetLen\":24}");
        final Random random = new Random(11);
        for (int round = 0; round < 200; round++) {
            final List<Ipv4Prefix> occupied = new ArrayList<>();
            final int keys = random.nextInt(round % 10 == 0 ? 1100 : 60);
            for (int k = 0; k < keys; k++) {
                occupied.add(Ipv4Prefix.containing(Ipv4Prefix.parse("100.62.0.0/15").address()
                    + random.nextInt(1 << 19), 18 + random.nextInt(13)));
            }
            final List<Ipv4Prefix> expected = new ArrayList<>();
            for (Ipv4Prefix c = Ipv4Prefix.parse("100.64.1.0/24"); expected.size() < 100
                && c.address() <= Ipv4Prefix.parse("100.67.255.0/24").address(); c = c.next()) {
                final Ipv4Prefix candidate = c;
                if (occupied.stream().noneMatch(o -> o.overlaps(candidate))) {
                    expected.add(candidate);
                }
            }
            assertThat(FreeSubnets.candidates(net, occupied)).as("round %d, %d keys", round, keys)
                .isEqualTo(expected);
        }
    }

    /** A full /10 at /24 with one subnet left: found without testing 16,384 candidates against 16,383 keys each. */
    @Test
    void theLastFreeSubnetOfAFullSlash10() {
        final NetworkConfig net = NetworkConfig.parse("{\"Network\":\"100.64.0.0/10\",\"SubnetLen\":24}");
        final List<Ipv4Prefix> occupied = new ArrayList<>();
        for (int i = 1; i < 16_384; i++) {
            if (i != 9_999) {
                occupied.add(Ipv4Prefix.of(Ipv4Prefix.parse("100.64.0.0/10").address() + (i << 8), 24));
            }
        }
        java.util.Collections.shuffle(occupied, new Random(3));
        assertThat(FreeSubnets.candidates(net, occupied)).containsExactly(
            Ipv4Prefix.of(Ipv4Prefix.parse("100.64.0.0/10").address() + (9_999 << 8), 24));
    }
}
