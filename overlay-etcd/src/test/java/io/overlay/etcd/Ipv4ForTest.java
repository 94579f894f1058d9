package io.overlay.etcd;

import io.overlay.core.net.Ipv4;

/** Test shorthand for {@link Ipv4#parse}. */
final class Ipv4ForTest {
    private Ipv4ForTest() {
    }

    static int ip(final String dotted) {
        return Ipv4.parse(dotted);
    }
}
