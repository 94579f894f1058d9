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
 * expect the others to carry on, or change the membership as an operator does ({@link #removeMember},
 * {@link #addMember}: etcd's runtime reconfiguration, {@code Documentation/op-guide/runtime-configuration.md} of etcd
 * v3.4). {@link #close()} kills every member, current or removed, and deletes the data.
 */
public final class EtcdCluster implements AutoCloseable {
    private final Path root;
    private final String token;
    private final List<EtcdServer> members;
    /** Members removed with {@link #removeMember}: killed and deleted by {@link #close()} too. */
    private final List<EtcdServer> removed = new ArrayList<>();
    private int nextIndex;

    private EtcdCluster(final Path root, final String token, final List<EtcdServer> members) {
        this.root = root;
        this.token = token;
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
        final EtcdCluster cluster = new EtcdCluster(root, token, members);
        try {
            for (int i = 0; i < size; i++) {
                members.add(EtcdServer.create("m" + i, root, token));
            }
            cluster.nextIndex = size;
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
     * Removes {@code member} from the cluster ({@code etcdctl member remove <id>} through the other members), as an
     * operator replacing a failed member or shrinking the cluster does. A running removed member shuts itself down once
     * it learns of the removal (etcd 3.4); this method does not stop it, so a test sees what etcd does. From now on
     * {@link #members()} and {@link #endpoints()} leave it out; {@link #close()} still kills it.
     *
     * @param member a current member
     * @throws IllegalArgumentException if it is not a current member
     * @throws IllegalStateException if etcdctl fails (e.g. no quorum) or the member is not listed
     */
    public synchronized void removeMember(final EtcdServer member) {
        if (!members.contains(member)) {
            throw new IllegalArgumentException(member + " is not a current member");
        }
        final String id = memberId(member);
        final List<String> others = new ArrayList<>();
        for (EtcdServer m : members) {
            if (m != member) {
                others.add(m.endpoint());
            }
        }
        reconfigure(String.join(",", others), "member", "remove", id);
        members.remove(member);
        removed.add(member);
    }

    /**
     * Adds a new member on new free ports ({@code etcdctl member add}) and starts it with
     * {@code --initial-cluster-state existing}, as an operator replacing a member or growing the cluster does, then
     * waits until every running member is healthy.
     *
     * @return the new member (its {@link EtcdServer#endpoint()} is a URL no client was configured with)
     * @throws IOException if it cannot be started or the cluster is not healthy within 30 s
     * @throws IllegalStateException if etcdctl fails (e.g. no quorum)
     */
    public synchronized EtcdServer addMember() throws IOException {
        final EtcdServer m = EtcdServer.create("m" + nextIndex++, root, token);
        reconfigure(String.join(",", endpoints()), "member", "add", m.name(), "--peer-urls=" + m.peerUrl());
        // the new member's --initial-cluster: every current member (by its peer URL) plus itself
        final List<String> all = new ArrayList<>();
        for (EtcdServer e : members) {
            all.add(e.name() + "=" + e.peerUrl());
        }
        all.add(m.name() + "=" + m.peerUrl());
        m.joinExisting(String.join(",", all));
        members.add(m);
        m.startProcess();
        awaitHealthy(Duration.ofSeconds(30));
        return m;
    }

    /**
     * Runs a membership change, retrying for up to 30 s while etcd refuses it as {@code unhealthy cluster} or does not
     * answer in time (a leader election after a member stopped): with
     * {@code --strict-reconfig-check} (the default) etcd counts a member as active only once connected for 5 s
     * (etcdserver/api/membership/cluster.go, v3.4), so right after a start or a change it refuses the next one.
     */
    private static void reconfigure(final String endpoints, final String... args) {
        final long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        boolean retried = false;
        while (true) {
            try {
                EtcdServer.etcdctlAt(endpoints, args);
                return;
            } catch (IllegalStateException e) {
                final String m = String.valueOf(e.getMessage());
                if (retried && m.contains("member not found") && "remove".equals(args[1])) {
                    return; // the attempt that timed out was applied after all
                }
                if (retried && m.contains("already exists") && "add".equals(args[1])) {
                    return; // the same: the new member's peer URL is in the cluster
                }
                // a leader election on a loaded machine: "request timed out, possibly due to previous leader
                // failure", "leader changed", "no leader"
                if (!(m.contains("unhealthy cluster") || m.contains("deadline exceeded") || m.contains("timed out")
                    || m.contains("leader")) || System.nanoTime() > deadline) {
                    throw e;
                }
                retried = true;
                EtcdServer.sleep(500);
            }
        }
    }

    /** The member's ID in hex, as {@code etcdctl member remove} takes it, from {@code member list}. */
    private String memberId(final EtcdServer member) {
        // "8e9e05c52164694d, started, m0, http://127.0.0.1:2380, http://127.0.0.1:2379, false"
        for (String line : etcdctl("member", "list").split("\n")) {
            final String[] f = line.split(",\\s*");
            if (f.length >= 4 && f[3].equals(member.peerUrl())) {
                return f[0].trim();
            }
        }
        throw new IllegalStateException(member + " is not in etcdctl member list");
    }

    /**
     * Returns the current members in creation order (removed ones left out).
     *
     * @return the members (stop and start them individually)
     */
    public synchronized List<EtcdServer> members() {
        return List.copyOf(members);
    }

    /**
     * Returns every member's client URL.
     *
     * @return e.g. {@code [http://127.0.0.1:41234, ...]}
     */
    public synchronized List<String> endpoints() {
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
        for (EtcdServer m : members()) {
            if (m.isRunning()) {
                m.awaitHealthy(timeout);
            }
        }
    }

    /** Kills every member and deletes the data directories. */
    @Override
    public synchronized void close() {
        members.forEach(EtcdServer::stop);
        removed.forEach(EtcdServer::stop);
        EtcdServer.deleteTree(root);
    }
}
