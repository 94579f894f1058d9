package io.overlay.udp;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@link ForwardingLoop#batchSize}: the {@code overlay.udp.batch} property. */
class BatchSizeTest {
    @Test
    void defaultsTo32WhenUnset() {
        assertThat(ForwardingLoop.batchSize(null)).isEqualTo(ForwardingLoop.DEFAULT_BATCH).isEqualTo(32);
    }

    @Test
    void takesValuesFrom1To1024() {
        assertThat(ForwardingLoop.batchSize("1")).isEqualTo(1);
        assertThat(ForwardingLoop.batchSize(" 64 ")).isEqualTo(64);
        assertThat(ForwardingLoop.batchSize("1024")).isEqualTo(1024);
    }

    @Test
    void fallsBackToTheDefaultForInvalidValues() {
        assertThat(ForwardingLoop.batchSize("0")).isEqualTo(32);
        assertThat(ForwardingLoop.batchSize("1025")).isEqualTo(32);
        assertThat(ForwardingLoop.batchSize("-3")).isEqualTo(32);
        assertThat(ForwardingLoop.batchSize("many")).isEqualTo(32);
    }
}
