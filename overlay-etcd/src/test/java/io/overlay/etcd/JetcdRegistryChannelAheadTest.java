package io.overlay.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The registry builds jetcd's channel on a thread of its own ahead of the first request; {@link JetcdRegistry#close}
 * waits for that thread, or a channel built after the client closed would never be shut down. Building the channel
 * does no I/O, so no etcd is needed: the endpoint is a loopback port nothing listens on.
 */
class JetcdRegistryChannelAheadTest {
    @Test
    void closeRightAfterConstructionLeavesNoChannelThreadBehind() {
        final EtcdSettings settings = EtcdSettings.builder().endpoints("http://127.0.0.1:9").build();
        for (int i = 0; i < 20; i++) {
            final JetcdRegistry registry = new JetcdRegistry(settings);
            registry.close();
            assertThat(channelThreads()).as("etcd-channel threads alive after close(), round %d", i).isZero();
        }
    }

    private static long channelThreads() {
        return Thread.getAllStackTraces().keySet().stream()
            .filter(t -> t.getName().equals("etcd-channel") && t.isAlive()).count();
    }
}
