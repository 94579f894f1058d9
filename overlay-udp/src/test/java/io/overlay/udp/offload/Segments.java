package io.overlay.udp.offload;

import java.util.ArrayList;
import java.util.List;

/** Copies the segments out of a {@link SegmentBatch}, for assertions on them as whole packets. */
final class Segments {
    private Segments() {
    }

    /** Returns a copy of each segment of {@code out}, in order. */
    static List<byte[]> of(final SegmentBatch out) {
        final List<byte[]> list = new ArrayList<>();
        for (int i = 0; i < out.count(); i++) {
            final byte[] p = new byte[out.length(i)];
            out.buffer().get(out.offset(i), p);
            list.add(p);
        }
        return list;
    }
}
