package io.overlay.core.spi;

import io.overlay.core.net.Ipv4Prefix;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link TunSetup}'s validation and defaults. */
class TunSetupTest {
    private static final Ipv4Prefix ADDRESS = Ipv4Prefix.parse("100.64.16.0/32");
    private static final Ipv4Prefix NETWORK = Ipv4Prefix.parse("100.64.0.0/16");

    @Test
    void theThreeArgumentConstructorUsesTheDefaultTransmitQueueLengthOf2000() {
        final TunSetup s = new TunSetup(ADDRESS, 1472, List.of(NETWORK));
        assertThat(TunSetup.DEFAULT_TX_QUEUE_LENGTH).isEqualTo(2000);
        assertThat(s.txQueueLength()).isEqualTo(2000);
        assertThat(s).isEqualTo(new TunSetup(ADDRESS, 1472, List.of(NETWORK), 2000));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 500, 3333, 1_000_000})
    void transmitQueueLengthsInRangeAndZeroForKeepAreAccepted(final int packets) {
        assertThat(new TunSetup(ADDRESS, 1472, List.of(), packets).txQueueLength()).isEqualTo(packets);
    }

    @ParameterizedTest
    @ValueSource(ints = {-1, 1_000_001, Integer.MIN_VALUE, Integer.MAX_VALUE})
    void transmitQueueLengthsOutOfRangeAreRefusedNamingFieldAndValue(final int packets) {
        assertThatThrownBy(() -> new TunSetup(ADDRESS, 1472, List.of(), packets))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessage("TUN txQueueLength must be 1..1000000 packets, or 0 to leave the device's value, got "
                + packets);
    }

    @Test
    void checkTxQueueLengthNamesTheGivenSetting() {
        assertThat(TunSetup.checkTxQueueLength("tunTxQueueLength", 2000)).isEqualTo(2000);
        assertThatThrownBy(() -> TunSetup.checkTxQueueLength("--tun-txqueuelen", -5))
            .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("--tun-txqueuelen must be")
            .hasMessageEndingWith("got -5");
    }

    @ParameterizedTest
    @ValueSource(ints = {67, 65536, 0, -1})
    void mtuOutOfRangeIsRefusedNamingFieldAndValue(final int mtu) {
        assertThatThrownBy(() -> new TunSetup(ADDRESS, mtu, List.of()))
            .isInstanceOf(IllegalArgumentException.class).hasMessage("TUN MTU must be 68..65535 bytes, got " + mtu);
    }

    @Test
    void missingAddressOrRoutesAreRefused() {
        assertThatThrownBy(() -> new TunSetup(null, 1472, List.of())).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("TUN address is missing");
        assertThatThrownBy(() -> new TunSetup(ADDRESS, 1472, null)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("routes");
    }

    @Test
    void routesAreCopied() {
        final List<Ipv4Prefix> routes = new ArrayList<>(List.of(NETWORK));
        final TunSetup s = new TunSetup(ADDRESS, 1472, routes);
        routes.clear();
        assertThat(s.routes()).containsExactly(NETWORK);
    }
}
