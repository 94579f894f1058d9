package io.overlay.core.spi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** {@link EngineTuning}: the {@code overlay.udp.batch} property as a default, and the validated record. */
class EngineTuningTest {
    @Test
    void batchSizeDefaultsTo32WhenUnset() {
        assertThat(EngineTuning.batchSize(null)).isEqualTo(EngineTuning.DEFAULT_BATCH_SIZE).isEqualTo(32);
    }

    @Test
    void batchSizeTakesValuesFrom1To1024() {
        assertThat(EngineTuning.batchSize("1")).isEqualTo(1);
        assertThat(EngineTuning.batchSize(" 64 ")).isEqualTo(64);
        assertThat(EngineTuning.batchSize("1024")).isEqualTo(1024);
    }

    @Test
    void batchSizeFallsBackToTheDefaultForInvalidValues() {
        assertThat(EngineTuning.batchSize("0")).isEqualTo(32);
        assertThat(EngineTuning.batchSize("1025")).isEqualTo(32);
        assertThat(EngineTuning.batchSize("-3")).isEqualTo(32);
        assertThat(EngineTuning.batchSize("many")).isEqualTo(32);
    }

    @Test
    void theRecordRejectsAnOutOfRangeBatchNamingTheValue() {
        assertThatThrownBy(() -> new EngineTuning(0, true, true)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("batch size").hasMessageContaining("got 0");
        assertThatThrownBy(() -> new EngineTuning(1025, true, true)).hasMessageContaining("got 1025");
        assertThat(new EngineTuning(1024, false, false).batchSize()).isEqualTo(1024);
    }

    @Test
    void defaultsFollowTheSystemProperties() {
        final String batch = System.getProperty(EngineTuning.BATCH_SIZE_PROP_NAME);
        final String gso = System.getProperty(EngineTuning.UDP_GSO_PROP_NAME);
        try {
            System.setProperty(EngineTuning.BATCH_SIZE_PROP_NAME, "7");
            System.setProperty(EngineTuning.UDP_GSO_PROP_NAME, "false");
            assertThat(EngineTuning.defaults()).isEqualTo(new EngineTuning(7, false, true));
        } finally {
            restore(EngineTuning.BATCH_SIZE_PROP_NAME, batch);
            restore(EngineTuning.UDP_GSO_PROP_NAME, gso);
        }
    }

    private static void restore(final String name, final String value) {
        if (value == null) {
            System.clearProperty(name);
        } else {
            System.setProperty(name, value);
        }
    }
}
