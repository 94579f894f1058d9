package io.overlay.examples;

import io.overlay.core.flannel.NetworkConfig;
import io.overlay.tun.Tun;

/**
 * Initialises, on a daemon thread, the libraries the launcher's start needs later, while the main thread builds and
 * parses the command line (picocli, about 0.17 s of one CPU): Netty's epoll transport (its JNI library, which the TUN
 * device and the packet engine use) and the JNA bindings of the rtnetlink and TUN calls ({@link Tun#isAvailable()}
 * loads both), and Jackson (the network config, lease values and etcd's answers are JSON). Each is a class
 * initialisation the main thread would otherwise run itself, interpreted, on the way to ready (docs/performance.md,
 * "Start-up, round four").
 * {@link OverlayMain#main} starts it after SLF4J is bound and Netty's properties are set ({@link NettyDefaults}).
 *
 * <p>Only a head start, but a class is initialised once per JVM: a native library that fails to load fails here first
 * (kept as {@link Tun#unavailabilityCause()}), and its later use on the start's path then meets
 * {@code NoClassDefFoundError: Could not initialize class ...} with this thread's error as its cause, which the
 * launcher names. A class initialisation under way on this thread makes the main thread wait for it, never run it
 * twice.
 */
final class StartupPreload {
    /** A network config as etcd holds it, parsed once so that Jackson builds its parser and node classes. */
    static final String SAMPLE_CONFIG = "{\"Network\":\"100.64.0.0/10\",\"SubnetLen\":24,\"Backend\":{\"Type\":\"udp\"}}";

    private StartupPreload() {
    }

    /** Starts the preload thread ({@code overlay-preload}), which ends by itself after a fraction of a second. */
    static void start() {
        final Thread t = new Thread(StartupPreload::run, "overlay-preload");
        t.setDaemon(true); // never holds the JVM open
        t.start();
    }

    static void run() {
        Tun.isAvailable(); // loads both native libraries; a failure is kept as its unavailability cause
        try {
            NetworkConfig.parse(SAMPLE_CONFIG);
        } catch (RuntimeException | LinkageError e) {
            // a head start only: the path that needs it reports the failure
        }
    }
}
