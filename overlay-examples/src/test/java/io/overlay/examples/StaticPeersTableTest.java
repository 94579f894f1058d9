package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StaticPeersTableTest {
    @Test
    void parsesTheBenchHarnessPeersVariable() {
        final Map<Ipv4Prefix, Peer> peers =
            StaticPeersTable.parse("  100.64.2.0/24=198.18.0.2:8285\t100.64.3.0/24=198.18.0.3:9000 ");
        assertThat(List.copyOf(peers.keySet()))
            .containsExactly(Ipv4Prefix.parse("100.64.2.0/24"), Ipv4Prefix.parse("100.64.3.0/24"));
        assertThat(peers.get(Ipv4Prefix.parse("100.64.2.0/24"))).isEqualTo(new Peer(Ipv4.parse("198.18.0.2"), 8285));
        assertThat(peers.get(Ipv4Prefix.parse("100.64.3.0/24"))).isEqualTo(new Peer(Ipv4.parse("198.18.0.3"), 9000));
        assertThat(StaticPeersTable.parse("")).isEmpty();
        assertThat(StaticPeersTable.parse(null)).isEmpty();
    }

    @Test
    void rejectsBadEntriesNamingThem() {
        assertThatThrownBy(() -> StaticPeersTable.parse("100.64.2.0/24"))
            .hasMessageContaining("\"100.64.2.0/24\"").hasMessageContaining("subnet=ip:port");
        assertThatThrownBy(() -> StaticPeersTable.parse("100.64.2.0/24=198.18.0.2"))
            .hasMessageContaining("expected subnet=ip:port");
        assertThatThrownBy(() -> StaticPeersTable.parse("100.64.2.1/24=198.18.0.2:8285"))
            .hasMessageContaining("host bits");
        assertThatThrownBy(() -> StaticPeersTable.parse("100.64.2.0/24=198.18.0.2:70000"))
            .hasMessageContaining("65535");
        assertThatThrownBy(() -> StaticPeersTable.parse("100.64.2.0/24=198.18.0.2:x"))
            .hasMessageContaining("not a number");
        assertThatThrownBy(() -> StaticPeersTable.parse("100.64.2.0/24=198.18.0.2:1 100.64.2.0/24=198.18.0.3:1"))
            .hasMessageContaining("listed twice");
    }
}
