package io.overlay.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A real etcd cluster of several members on 127.0.0.1 (see {@link EtcdServer}), for tests that stop one member and
 * expect the others to carry on. {@link #close()} kills every member and deletes the data.
 */
public final class EtcdCluster implements AutoCloseable {
    private final Path root;
    private final List<EtcdServer> members;

    private EtcdCluster(final Path root, final List<EtcdServer> members) {
        this.root = root;
        this.members = members;
    }

    /**
     * Starts {@code size} members and waits until every one reports healthy (a leader is elected).
     *
     * @param size the member count, 1..7
     * @return the running cluster
     * @throws IOException if a member cannot be started or the cluster is not healthy within 30 s
     * @throws IllegalArgumentException if size is out of range
     */
    public static EtcdCluster launch(final int size) throws IOException {
        if (size < 1 || size > 7) {
            throw new IllegalArgumentException("cluster size must be 1..7, got " + size);
        }
        final Path root = Files.createTempDirectory("etcd-cluster-");
        final String token = "overlay-test-" + System.nanoTime();
        final List<EtcdServer> members = new ArrayList<>();
        final EtcdCluster cluster = new EtcdCluster(root, members);
        try {
            for (int i = 0; i < size; i++) {
                members.add(EtcdServer.create("m" + i, root, token));
            }
            final String initial = members.stream().map(m -> m.name() + "=" + m.peerUrl())
                .collect(Collectors.joining(","));
            for (EtcdServer m : members) {
                m.initialCluster(initial);
                m.startProcess();
            }
            for (EtcdServer m : members) {
                m.awaitHealthy(Duration.ofSeconds(30));
            }
        } catch (IOException | RuntimeException e) {
            cluster.close();
            throw e;
        }
        return cluster;
    }

    /**
     * Returns the members in creation order.
     *
     * @return the members (stop and start them individually)
     */
    public List<EtcdServer> members() {
        return List.copyOf(members);
    }

    /**
     * Returns every member's client URL.
     *
     * @return e.g. {@code [http://127.0.0.1:41234, ...]}
     */
    public List<String> endpoints() {
        return members.stream().map(EtcdServer::endpoint).collect(Collectors.toList());
    }

    /**
     * Runs {@code etcdctl} (v3 API) against all members.
     *
     * @param args the arguments
     * @return standard output
     * @throws IllegalStateException if etcdctl fails
     */
    public String etcdctl(final String... args) {
        return EtcdServer.etcdctlAt(String.join(",", endpoints()), args);
    }

    /**
     * Waits until every running member reports healthy.
     *
     * @param timeout how long to wait
     * @throws IOException if a running member is not healthy in time
     */
    public void awaitHealthy(final Duration timeout) throws IOException {
        for (EtcdServer m : members) {
            if (m.isRunning()) {
                m.awaitHealthy(timeout);
            }
        }
    }

    /** Kills every member and deletes the data directories. */
    @Override
    public void close() {
        members.forEach(EtcdServer::stop);
        EtcdServer.deleteTree(root);
    }
}
