package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import io.overlay.testing.Privileged;
import org.junit.jupiter.api.Test;

/** As root on Linux with /dev/net/tun, TUN is available. */
@Privileged
class TunAvailabilityTest {
    @Test
    void availableAsRoot() {
        assertThat(Tun.unavailabilityCause()).isNull();
        assertThat(Tun.isAvailable()).isTrue();
        assertThatCode(Tun::ensureAvailability).doesNotThrowAnyException();
    }
}
