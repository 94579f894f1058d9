package io.overlay.udp.offload;

import java.util.ArrayList;
import java.util.List;

/** Copies the segments out of a {@link SegmentBatch} (headers and tail joined), for assertions on whole packets. */
final class Segments {
    private Segments() {
    }

    /** Returns a copy of each segment of {@code out}, in order. */
    static List<byte[]> of(final SegmentBatch out) {
        final List<byte[]> list = new ArrayList<>();
        for (int i = 0; i < out.count(); i++) {
            final byte[] p = new byte[out.length(i)];
            final int head = out.headLength(i);
            out.buffer().get(out.offset(i), p, 0, head);
            if (out.tailLength(i) > 0) {
                out.tailBuffer().get(out.tailOffset(i), p, head, out.tailLength(i));
            }
            list.add(p);
        }
        return list;
    }
}
