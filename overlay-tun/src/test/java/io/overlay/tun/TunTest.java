package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The CAP_NET_ADMIN bit test of {@link Tun}; availability itself is checked as root in {@link TunAvailabilityTest}. */
class TunTest {
    @Test
    void capNetAdminIsBitTwelveOfCapEff() {
        assertThat(Tun.hasNetAdmin(0x000001ffffffffffL)).isTrue();   // root
        assertThat(Tun.hasNetAdmin(0x1000L)).isTrue();               // only CAP_NET_ADMIN
        assertThat(Tun.hasNetAdmin(0L)).isFalse();                   // unprivileged user
        assertThat(Tun.hasNetAdmin(0x000001ffffffefffL)).isFalse();  // everything but CAP_NET_ADMIN
    }
}
