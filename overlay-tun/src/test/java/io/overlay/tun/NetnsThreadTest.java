package io.overlay.tun;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.overlay.testing.Netns;
import io.overlay.testing.Privileged;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Running code inside a namespace made by the test, from the test JVM. */
@Privileged
class NetnsThreadTest {
    @Test
    void callRunsInTheNamespaceAndLeavesTheCallerWhereItWas() throws Exception {
        final String before = NetnsThread.currentNamespaceId();
        try (Netns ns = Netns.create()) {
            final String inside = NetnsThread.call(ns.name(), NetnsThread::currentNamespaceId);
            assertThat(inside).startsWith("net:[").isNotEqualTo(before);
            assertThat(NetnsThread.call("/run/netns/" + ns.name(), NetnsThread::currentNamespaceId))
                .isEqualTo(inside);
            assertThat(NetnsThread.currentNamespaceId()).isEqualTo(before);
            // a device made inside is visible only there
            try (LinuxTunDevice tun = NetnsThread.call(ns.name(), () -> new LinuxTunDeviceFactory().open("ovns0", 1))) {
                assertThat(IpJson.linkExists(ns, tun.name())).isTrue();
                assertThat(java.nio.file.Files.exists(java.nio.file.Path.of("/sys/class/net/ovns0"))).isFalse();
            }
        }
    }

    @Test
    void threadFactoryThreadsStartInTheNamespace() throws Exception {
        try (Netns ns = Netns.create()) {
            final String expected = NetnsThread.call(ns.name(), NetnsThread::currentNamespaceId);
            final ThreadFactory factory = NetnsThread.threadFactory(ns.name());
            final CompletableFuture<String> seen = new CompletableFuture<>();
            final Thread t = factory.newThread(() -> {
                try {
                    seen.complete(NetnsThread.currentNamespaceId());
                } catch (IOException e) {
                    seen.completeExceptionally(e);
                }
            });
            assertThat(t.isDaemon()).isTrue();
            t.start();
            assertThat(seen.get(5, TimeUnit.SECONDS)).isEqualTo(expected);
        }
    }

    @Test
    void exceptionsOfTheTaskComeBackUnchanged() throws Exception {
        try (Netns ns = Netns.create()) {
            assertThatThrownBy(() -> NetnsThread.call(ns.name(), () -> {
                throw new IllegalStateException("from inside");
            })).isInstanceOf(IllegalStateException.class).hasMessage("from inside");
        }
    }

    @Test
    void missingOrInvalidNamespaceIsAClearError() {
        assertThatThrownBy(() -> NetnsThread.call("ovt-no-such-ns", () -> 1))
            .isInstanceOf(IOException.class).hasMessageContaining("/run/netns/ovt-no-such-ns")
            .hasMessageContaining("ip netns add");
        assertThatThrownBy(() -> NetnsThread.call("../etc", () -> 1))
            .isInstanceOf(IOException.class).hasMessageContaining("invalid network namespace name");
    }
}
