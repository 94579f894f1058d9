package io.overlay.udp.offload;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.testing.TestPackets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every {@link TcpCoalescerTest} case again with {@link TcpCoalescer#inPlace}: payloads referenced where they were
 * added and frames emitted as gather lists must give byte for byte the frames of the copying coalescer.
 */
class TcpCoalescerInPlaceTest extends TcpCoalescerTest {
    @Override
    TcpCoalescer create(final int flows) {
        return TcpCoalescer.inPlace(flows, this::record);
    }

    @Test
    void anInPlaceRunEndsAtItsIovecCapacity() {
        final List<byte[]> x = TestPackets.stream(40100, 100, 200, 200, 0x1000, 7, 100);
        feed(x); // the last segment has PSH: both runs end without a flush
        assertThat(frames).hasSize(2);
        assertThat(frames.get(0).length).isEqualTo(10 + 52 + TcpCoalescer.MAX_RUN_SEGMENTS * 200);
        assertSamePackets(resegment(frames), x);
    }
}
