package io.overlay.etcd;

import io.overlay.core.flannel.InvalidNetworkConfigException;
import io.overlay.core.flannel.NetworkConfig;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Waits for a valid network config at {@code <prefix>/config}, as flanneld does at start-up, and says once per
 * distinct problem why it cannot be used yet: missing (with the v3-API and wrong-prefix hints,
 * docs/flannel-compatibility.md#etcd-schema), invalid, or etcd unreachable (package-private).
 */
final class NetworkConfigWaiter {
    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);

    private final EtcdSettings settings;
    private final SubnetRegistry registry;
    private final Runnable checkOpen;

    /**
     * @param checkOpen throws {@link IllegalStateException} once the allocator is closed
     */
    NetworkConfigWaiter(final EtcdSettings settings, final SubnetRegistry registry, final Runnable checkOpen) {
        this.settings = settings;
        this.registry = registry;
        this.checkOpen = checkOpen;
    }

    /**
     * Reads the config, retrying with capped exponential backoff ({@link EtcdSettings#backoffMin()} doubling to
     * {@link EtcdSettings#backoffMax()}) while it is missing, invalid or etcd is unreachable.
     *
     * @return the parsed config
     * @throws InterruptedException if interrupted while waiting
     * @throws IllegalStateException if the allocator is closed
     */
    NetworkConfig await() throws InterruptedException {
        final String key = settings.configKey();
        final Set<String> logged = new HashSet<>();
        long backoff = settings.backoffMin().toNanos();
        while (true) {
            checkOpen.run();
            String problem;
            String problemId;
            try {
                final Optional<SubnetRegistry.Value> v = registry.get(key);
                if (v.isEmpty()) {
                    final List<String> elsewhere = configKeysElsewhere();
                    problemId = "missing " + elsewhere;
                    problem = missingConfigMessage(elsewhere);
                } else {
                    final String json = new String(v.get().value(), StandardCharsets.UTF_8);
                    try {
                        final NetworkConfig c = NetworkConfig.parse(json);
                        LOG.info("Network config at {}: Network {}, {}, backend {} port {}", key, c.network(),
                            c.rangeDescription(), c.backend().type(), c.backend().port());
                        return c;
                    } catch (InvalidNetworkConfigException e) {
                        problemId = "invalid " + json;
                        problem = "Network config at " + key + " (etcd " + settings.endpoints() + ") is invalid: "
                            + e.getMessage() + " (field " + e.field() + "); waiting for it to be fixed";
                    }
                }
            } catch (EtcdUnavailableException e) {
                if (Thread.interrupted()) {
                    throw new InterruptedException("interrupted while reading " + key);
                }
                problemId = "unavailable " + rootCause(e).getClass().getName();
                problem = "Cannot read network config " + key + " from etcd " + settings.endpoints() + ": "
                    + e.getMessage() + "; retrying";
            }
            if (logged.add(problemId)) {
                LOG.warn(problem);
            } else {
                LOG.debug(problem);
            }
            TimeUnit.NANOSECONDS.sleep(backoff);
            backoff = Math.min(backoff * 2, settings.backoffMax().toNanos());
        }
    }

    private String missingConfigMessage(final List<String> elsewhere) {
        final StringBuilder sb = new StringBuilder(400);
        sb.append("Network config not found: no key ").append(settings.configKey()).append(" in etcd ")
            .append(settings.endpoints()).append(". flannel >= 0.18 and overlay read the etcd v3 API: a config ")
            .append("written with the v2 API (etcdctl set, or ETCDCTL_API=2) or under another prefix is invisible. ")
            .append("Write it with: ETCDCTL_API=3 etcdctl put ").append(settings.configKey())
            .append(" '{\"Network\":\"100.64.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}'");
        if (!elsewhere.isEmpty()) {
            sb.append(". Config keys found under other prefixes: ").append(elsewhere)
                .append(" (this host uses prefix ").append(settings.prefix()).append(')');
        }
        return sb.toString();
    }

    /** Keys named {@code .../config} outside our prefix: the usual wrong-prefix mistake (keys only, bounded). */
    private List<String> configKeysElsewhere() {
        try {
            return registry.keys("/", 1000).stream()
                .filter(k -> k.endsWith("/config") && !k.equals(settings.configKey()))
                .limit(5).collect(Collectors.toList());
        } catch (EtcdUnavailableException e) {
            return List.of();
        }
    }

    /** The innermost cause of {@code t}. */
    static Throwable rootCause(final Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c;
    }
}
