package io.overlay.examples;

import io.overlay.core.flannel.NetworkConfig;
import io.overlay.tun.Tun;

/**
 * Initialises, on a daemon thread, the libraries the launcher's start needs later, while the main thread sets up
 * logging and builds the command line (together about 0.25 s of one CPU before the first etcd request): Netty's epoll
 * transport (its JNI library; gRPC's channel to etcd asks for it first), Jackson (the network config and lease
 * values are JSON) and the JNA bindings of the rtnetlink and TUN calls. Each is a class initialisation the main
 * thread would otherwise run itself, interpreted, on the way to ready; {@code startup-bench.sh} measured the launcher
 * ready 0.1–0.15 s sooner with it (see the performance docs).
 *
 * <p>Only a head start: it changes no state that the start reads, and whatever fails here (a missing native library,
 * say) is left to fail again where it is used, with that path's own message. A JVM class initialisation that is
 * under way on this thread makes the main thread wait for it, never run it twice.
 */
final class StartupPreload {
    /** A network config as etcd holds it, parsed once so that Jackson builds its parser and binding. */
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
