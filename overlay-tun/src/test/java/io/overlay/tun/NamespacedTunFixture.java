package io.overlay.tun;

import io.overlay.testing.Netns;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * Per-test set-up shared by the TUN device tests: a fresh network namespace of the test's own, and the device the
 * test opens in it ({@link #tun}), both removed after every test, also when the test fails. The device is closed
 * first, then the namespace. Subclasses carry {@code @Privileged} themselves (the annotation is not inherited).
 */
abstract class NamespacedTunFixture {
    protected final LinuxTunDeviceFactory factory = new LinuxTunDeviceFactory();
    protected Netns ns;
    /** The device under test, opened by the test inside {@link #ns}; may stay null. */
    protected LinuxTunDevice tun;

    @BeforeEach
    void createNamespace() throws Exception {
        ns = Netns.create();
    }

    @AfterEach
    void cleanUp() throws Exception {
        try {
            if (tun != null) {
                tun.close();
            }
        } finally {
            ns.close();
        }
    }
}
