package io.overlay.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.flannel.Lease;
import io.overlay.core.flannel.LeaseAttrs;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class OverlayHistoryTest {
    private static final Instant T0 = Instant.parse("2026-11-29T22:00:00Z");
    private static final Ipv4Prefix OWN = Ipv4Prefix.parse("100.64.5.0/24");
    private static final Ipv4Prefix PEER = Ipv4Prefix.parse("100.64.7.0/24");

    private Instant now = T0;
    private final List<String> passedOn = new ArrayList<>();
    private final OverlayHistory history = new OverlayHistory(new OverlayListener() {
        @Override
        public void leaseLost(final Lease lease) {
            passedOn.add("leaseLost " + lease.subnet());
        }

        @Override
        public void peerAdded(final Lease lease) {
            passedOn.add("peerAdded " + lease.subnet());
        }
    }, new Clock() {
        @Override
        public Instant instant() {
            return now;
        }

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(final java.time.ZoneId zone) {
            return this;
        }
    });

    private static Lease lease(final Ipv4Prefix subnet, final String ip, final Duration ttl, final boolean reserved) {
        return new Lease(subnet, LeaseAttrs.udp(Ipv4.parse(ip)), reserved, ttl);
    }

    @Test
    void leaseRemainingCountsDownFromTheLastGrantAndIsEmptyWhileLost() {
        assertThat(history.leaseRemaining()).isEmpty();
        history.leaseAcquired(lease(OWN, "198.18.0.1", Duration.ofHours(24), false));
        now = T0.plusSeconds(600);
        assertThat(history.leaseRemaining()).contains(Duration.ofHours(24).minusSeconds(600));
        history.leaseRenewed(lease(OWN, "198.18.0.1", Duration.ofHours(24), false));
        assertThat(history.leaseRemaining()).contains(Duration.ofHours(24));
        assertThat(history.leaseGrantedAt()).contains(T0.plusSeconds(600));
        now = T0.plus(Duration.ofDays(3));
        assertThat(history.leaseRemaining()).contains(Duration.ZERO);

        history.leaseLost(lease(OWN, "198.18.0.1", Duration.ofHours(24), false));
        assertThat(history.leaseRemaining()).isEmpty();
        history.leaseRenewed(lease(OWN, "198.18.0.1", Duration.ofHours(24), false)); // late: stays lost
        assertThat(history.leaseRemaining()).isEmpty();
        history.leaseReacquired(lease(OWN, "198.18.0.1", Duration.ofHours(24), false),
            lease(OWN, "198.18.0.1", Duration.ofHours(24), false));
        assertThat(history.leaseRemaining()).contains(Duration.ofHours(24));
        assertThat(history.leasesLost()).isEqualTo(1);
        assertThat(history.leasesReacquired()).isEqualTo(1);
        assertThat(passedOn).containsExactly("leaseLost 100.64.5.0/24");
    }

    @Test
    void aReservationHasNoRemainingTime() {
        history.leaseAcquired(lease(OWN, "198.18.0.1", Duration.ZERO, true));
        assertThat(history.leaseRemaining()).isEmpty();
        assertThat(history.leaseGrantedAt()).contains(T0);
    }

    @Test
    void remembersWhenEachPeerLastChanged() {
        history.peerAdded(lease(PEER, "198.18.0.2", Duration.ofHours(24), false));
        now = T0.plusSeconds(5);
        history.peerChanged(lease(PEER, "198.18.0.2", Duration.ofHours(24), false),
            lease(PEER, "198.18.0.3", Duration.ofHours(24), false));
        assertThat(history.peersChanged()).containsExactlyEntriesOf(java.util.Map.of(PEER, T0.plusSeconds(5)));
        history.peerRemoved(lease(PEER, "198.18.0.3", Duration.ofHours(24), false));
        assertThat(history.peersChanged()).isEmpty();
        assertThat(passedOn).containsExactly("peerAdded 100.64.7.0/24");
    }
}
