package io.overlay.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.overlay.core.Overlay;
import io.overlay.etcd.EtcdSettings;
import io.overlay.etcd.EtcdSubnetAllocator;
import io.overlay.testing.EtcdServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The launcher's view of an overlay that is not ready yet, against a real etcd on loopback (no root needed: nothing
 * gets past the network config or the interface choice): the status and /readyz while the config is missing, close()
 * during start(), and OverlayMain's exit status when start-up fails.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OverlayLifecycleTest {
    private static EtcdServer etcd;

    @BeforeAll
    static void startEtcd() throws Exception {
        etcd = EtcdServer.launch();
    }

    @AfterAll
    static void stopEtcd() {
        etcd.close();
    }

    @Test
    void whileTheConfigIsMissingReadyzSaysWhyAndCloseEndsStart() throws Exception {
        final Overlay overlay = Overlay.builder()
            .allocator(new EtcdSubnetAllocator(EtcdSettings.builder().endpoints(etcd.endpoint())
                .prefix("/lifecycle/missing").build()))
            .subnetFile(null)
            .build();
        try (HealthServer health = HealthServer.start("127.0.0.1", 0, overlay::status)) {
            final CompletableFuture<Void> start = CompletableFuture.runAsync(() -> {
                try {
                    overlay.start();
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            final URI readyz = URI.create("http://127.0.0.1:" + health.address().getPort() + "/readyz");
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!overlay.status().healthLine().equals("not-ready waiting for the network config")
                && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            Thread.sleep(500); // still waiting: the key is absent
            assertThat(start).isNotDone();
            assertThat(HealthCommand.query(readyz))
                .isEqualTo(new HealthCommand.Result(false, "not-ready waiting for the network config"));

            overlay.close();
            try {
                start.get(15, TimeUnit.SECONDS);
                org.assertj.core.api.Assertions.fail("start() returned normally after close()");
            } catch (ExecutionException expected) {
                // start() gives up once the allocator is closed
            }
            assertThat(overlay.status().healthLine()).isEqualTo("not-ready closed");
            assertThat(HealthCommand.query(readyz).line()).isEqualTo("not-ready closed");
        }
    }

    @Test
    void overlayMainExits1WhenStartUpFailsAndSaysWhy() throws Exception {
        etcd.etcdctl("put", "/lifecycle/config", "{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}");
        final StringWriter out = new StringWriter();
        final var cl = OverlayMain.commandLine(Map.of());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(out, true));
        final java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("lifecycle-fail");
        final java.nio.file.Path subnetEnv = dir.resolve("subnet.env");
        final int status;
        try {
            status = cl.execute("--etcd-endpoints", etcd.endpoint(), "--etcd-prefix", "/lifecycle",
                "--iface", "no-such-if0", "--subnet-file", subnetEnv.toString());
            assertThat(subnetEnv).doesNotExist();
        } finally {
            java.nio.file.Files.deleteIfExists(InstanceLock.lockFile(subnetEnv));
            java.nio.file.Files.deleteIfExists(subnetEnv);
            java.nio.file.Files.delete(dir);
        }
        assertThat(status).as("exit status; output: %s", out).isEqualTo(1);
        assertThat(etcd.etcdctl("get", "--prefix", "/lifecycle/subnets", "--keys-only").strip())
            .as("no lease is taken when the interface is missing").isEmpty();
    }

    /**
     * Two hosts with one PublicIP, at the facade: a second overlay started with the first host's PublicIP (and no
     * subnet.env) fails to start naming the key, the PublicIP and the holder's etcd lease, and leaves the holder's key
     * alone. The first host is a key with an etcd lease, as its launcher writes it. The TUN factory refuses, so even
     * a regression that took the lease over would never touch this test's own network namespace.
     */
    @Test
    void aSecondHostWithAnotherHostsPublicIpFailsToStartAndLeavesItsLeaseAlone() throws Exception {
        final String holder = liveLeaseOfThisHost("/lifecycle-ip");
        final String key = "/lifecycle-ip/subnets/100.64.9.0-24";
        final String before = etcd.etcdctl("get", key, "-w", "json");
        final java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("lifecycle-ip");
        final Overlay overlay = overlayWithoutTun("/lifecycle-ip", false, dir);
        try {
            org.assertj.core.api.Assertions.assertThatThrownBy(overlay::start)
                .isInstanceOf(io.overlay.core.LeaseTakeoverRefusedException.class)
                .hasMessageContaining("Refusing to take over lease " + key).hasMessageContaining("198.18.0.1")
                .hasMessageContaining("etcd lease " + holder);
            assertThat(overlay.status().healthLine()).startsWith("not-ready start failed: Refusing to take over");
        } finally {
            overlay.close();
            java.nio.file.Files.deleteIfExists(dir.resolve("subnet.env"));
            java.nio.file.Files.delete(dir);
        }
        final String after = etcd.etcdctl("get", key, "-w", "json");
        assertThat(after.replaceAll("\"revision\":\\d+", "").replaceAll("\"raft_term\":\\d+", ""))
            .as("the holder's key, value and etcd lease are untouched")
            .isEqualTo(before.replaceAll("\"revision\":\\d+", "").replaceAll("\"raft_term\":\\d+", ""));
    }

    /**
     * The real owner rebooted: subnet.env (tmpfs) is gone, its lease file names the live lease's subnet, so the lease
     * carrying its PublicIP is taken up again instead of refused (start then fails at the TUN, which this test does
     * not open, after the key moved to the new etcd lease).
     */
    @Test
    void aRebootedOwnerWithoutSubnetEnvKeepsItsLeaseThroughItsLeaseFile() throws Exception {
        etcd.etcdctl("put", "/lifecycle-lf/config", "{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}");
        final String holder = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        final String key = "/lifecycle-lf/subnets/100.64.9.0-24";
        etcd.etcdctl("put", "--lease=" + holder, key, "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
        final java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("lifecycle-lf");
        final java.nio.file.Path leaseFile = dir.resolve("lease.env");
        java.nio.file.Files.writeString(leaseFile, "FLANNEL_NETWORK=100.64.0.0/16\nFLANNEL_SUBNET=100.64.9.1/24\n"
            + "FLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n");
        final Overlay overlay = Overlay.builder()
            .allocator(new EtcdSubnetAllocator(EtcdSettings.builder().endpoints(etcd.endpoint())
                .prefix("/lifecycle-lf").build()))
            .ifaces(java.util.List.of("lo"))
            .publicIp("198.18.0.1")
            .subnetFile(dir.resolve("subnet.env"))
            .leaseFile(leaseFile)
            .tunDeviceFactory((name, queues) -> {
                throw new java.io.IOException("test: no TUN device here");
            })
            .build();
        try {
            org.assertj.core.api.Assertions.assertThatThrownBy(overlay::start)
                .isInstanceOf(java.io.IOException.class).hasMessage("test: no TUN device here");
            assertThat(etcd.etcdctl("get", key, "--print-value-only").strip())
                .isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
            assertThat(etcd.etcdctl("get", key, "-w", "json")).as("on this host's new etcd lease")
                .contains("\"lease\":").doesNotContain("\"lease\":" + Long.parseLong(holder, 16) + ",");
        } finally {
            overlay.close();
            java.nio.file.Files.deleteIfExists(dir.resolve("subnet.env"));
            java.nio.file.Files.deleteIfExists(leaseFile);
            java.nio.file.Files.delete(dir);
        }
    }

    /**
     * A start allowed to take over a live lease with this host's PublicIP ({@code --allow-lease-takeover}: the owner
     * lost its subnet.env and lease file, or an operator's error) that ends before subnet.env was written must not
     * delete the key it took over: this start did not allocate it, and it is the subnet the operator meant to keep (or
     * the other holder's, which would lose it). Kept as before the start ({@link Overlay#close()} keeps the lease).
     */
    @Test
    void aTakenOverLeaseIsKeptWhenTheStartEndsBeforeSubnetEnv() throws Exception {
        liveLeaseOfThisHost("/lifecycle-to");
        final String key = "/lifecycle-to/subnets/100.64.9.0-24";
        final java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("lifecycle-to");
        final Overlay overlay = overlayWithoutTun("/lifecycle-to", true, dir);
        try {
            org.assertj.core.api.Assertions.assertThatThrownBy(overlay::start)
                .isInstanceOf(java.io.IOException.class).hasMessage("test: no TUN device here");
        } finally {
            overlay.close();
            java.nio.file.Files.deleteIfExists(dir.resolve("subnet.env"));
            java.nio.file.Files.delete(dir);
        }
        assertThat(etcd.etcdctl("get", key, "--print-value-only").strip()).as("the taken-over key is kept")
            .isEqualTo("{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
    }

    /**
     * Writes a network config under {@code prefix} and a live lease (etcd lease of 600 s) on 100.64.9.0/24 with
     * PublicIP 198.18.0.1, this test host's, that no file of the host names.
     *
     * @return the etcd lease id, as etcdctl prints it
     */
    private String liveLeaseOfThisHost(final String prefix) throws Exception {
        etcd.etcdctl("put", prefix + "/config", "{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}");
        final String holder = etcd.etcdctl("lease", "grant", "600").split(" ")[1];
        etcd.etcdctl("put", "--lease=" + holder, prefix + "/subnets/100.64.9.0-24",
            "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null}");
        return holder;
    }

    /** An overlay with PublicIP 198.18.0.1 on etcd under {@code prefix} whose start fails at the TUN device. */
    private Overlay overlayWithoutTun(final String prefix, final boolean allowTakeover, final java.nio.file.Path dir) {
        return Overlay.builder()
            .allocator(new EtcdSubnetAllocator(EtcdSettings.builder().endpoints(etcd.endpoint())
                .prefix(prefix).allowLeaseTakeover(allowTakeover).build()))
            .ifaces(java.util.List.of("lo"))
            .publicIp("198.18.0.1")
            .subnetFile(dir.resolve("subnet.env"))
            .tunDeviceFactory((name, queues) -> {
                throw new java.io.IOException("test: no TUN device here");
            })
            .build();
    }
}
