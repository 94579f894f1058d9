package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.flannel.NetworkConfig;
import io.overlay.core.net.Ipv4Prefix;
import org.junit.jupiter.api.Test;

class StartupPreloadTest {
    @Test
    void theSampleIsAConfigTheParserAccepts() {
        // a sample the parser refused would leave Jackson's binding cold, silently
        final NetworkConfig config = NetworkConfig.parse(StartupPreload.SAMPLE_CONFIG);
        assertThat(config.network()).isEqualTo(Ipv4Prefix.parse("100.64.0.0/10"));
        assertThat(config.subnetLen()).isEqualTo(24);
    }

    @Test
    void runReturnsAndStartLeavesNoThreadBehind() throws InterruptedException {
        StartupPreload.run();
        StartupPreload.start();
        final long deadline = System.nanoTime() + 10_000_000_000L;
        while (preloadThread() != null && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(preloadThread()).as("the overlay-preload thread after 10 s").isNull();
    }

    private static Thread preloadThread() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("overlay-preload"))
            .findFirst().orElse(null);
    }
}
