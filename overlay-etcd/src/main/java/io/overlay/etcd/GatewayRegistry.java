package io.overlay.etcd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link SubnetRegistry} on etcd's JSON gateway ({@link EtcdGateway}): each method is one etcd v3 request, the
 * messages of etcd's {@code etcdserver/etcdserverpb/rpc.proto} (v3.4) in JSON. Every request blocks for at most the
 * configured request timeout and fails with {@link EtcdUnavailableException}, whose message names the request, the
 * endpoints and what etcd or the connection reported. Watch callbacks run on the client's thread.
 */
final class GatewayRegistry implements SubnetRegistry {
    /** Keys per listing request, so that one answer stays a few MiB however many leases there are. */
    static final int LIST_PAGE_SIZE = 5000;

    private final EtcdGateway gateway;
    private final int listPageSize;
    private final Set<GatewayWatch> watches = ConcurrentHashMap.newKeySet();
    private volatile GatewayWatch.Timing watchTiming = GatewayWatch.Timing.DEFAULT;

    /**
     * Creates the client (connections are opened by the first request), reading the TLS files now.
     *
     * @throws IllegalArgumentException if the TLS files cannot be loaded
     */
    GatewayRegistry(final EtcdSettings settings) {
        this(settings, LIST_PAGE_SIZE);
    }

    /** As {@link #GatewayRegistry(EtcdSettings)}, listing {@code listPageSize} keys per request. */
    GatewayRegistry(final EtcdSettings settings, final int listPageSize) {
        this(settings, settings.tls() ? TlsCredentials.loadAtStart(settings) : null, listPageSize);
    }

    /**
     * Creates the client with TLS from {@code tls}, the files' bytes as read and checked (not the paths, which may
     * name newer files by now).
     *
     * @param tls the TLS files' contents; null (or ignored) for http endpoints
     * @throws IllegalArgumentException if the JDK cannot use them
     */
    GatewayRegistry(final EtcdSettings settings, final TlsCredentials tls) {
        this(settings, tls, LIST_PAGE_SIZE);
    }

    private GatewayRegistry(final EtcdSettings settings, final TlsCredentials tls, final int listPageSize) {
        this.gateway = new EtcdGateway(settings, tls);
        this.listPageSize = listPageSize;
    }

    static String b64(final String s) {
        return b64(s.getBytes(StandardCharsets.UTF_8));
    }

    static String b64(final byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }

    static byte[] bytes(final JsonNode n) {
        return n == null || n.isNull() ? new byte[0] : Base64.getDecoder().decode(n.asText());
    }

    static String text(final JsonNode n) {
        return new String(bytes(n), StandardCharsets.UTF_8);
    }

    /** The end of etcd's range of every key starting with {@code prefix} (clientv3's {@code GetPrefixRangeEnd}). */
    static byte[] prefixEnd(final byte[] prefix) {
        final byte[] end = prefix.clone();
        for (int i = end.length - 1; i >= 0; i--) {
            if (end[i] != (byte) 0xff) {
                end[i]++;
                return java.util.Arrays.copyOf(end, i + 1);
            }
        }
        return new byte[] {0}; // all 0xff: to the end of the keyspace
    }

    private static long revision(final JsonNode answer) {
        return answer.path("header").path("revision").asLong();
    }

    @Override
    public Read read(final String key) {
        final JsonNode r = gateway.call("get " + key, "/kv/range", gateway.object().put("key", b64(key)));
        final long revision = revision(r);
        final JsonNode kvs = r.path("kvs");
        if (kvs.isEmpty()) {
            return new Read(Optional.empty(), revision);
        }
        final JsonNode kv = kvs.get(0);
        return new Read(Optional.of(new Value(bytes(kv.get("value")), kv.path("lease").asLong(),
            kv.path("mod_revision").asLong(), revision)), revision);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Read in pages of {@code listPageSize} keys; the pages after the first are read at the first page's revision.
     */
    @Override
    public SubnetListing list(final String prefix) {
        final byte[] start = prefix.getBytes(StandardCharsets.UTF_8);
        final String end = b64(prefixEnd(start));
        final List<SubnetListing.Entry> entries = new ArrayList<>();
        byte[] from = start;
        long revision = 0;
        while (true) {
            final ObjectNode req = gateway.object().put("key", b64(from)).put("range_end", end)
                .put("limit", listPageSize);
            if (revision != 0) {
                req.put("revision", revision);
            }
            final RangePage page = gateway.call("list " + prefix, "/kv/range", req, r -> RangePage.read(r, prefix));
            if (revision == 0) {
                revision = page.revision();
            }
            entries.addAll(page.entries());
            if (!page.more() || page.entries().isEmpty()) {
                return new SubnetListing(revision, List.copyOf(entries));
            }
            // The next page starts just after the last key read (key + one zero byte).
            from = java.util.Arrays.copyOf(page.lastKey(), page.lastKey().length + 1);
        }
    }

    @Override
    public List<String> keys(final String prefix, final int limit) {
        final byte[] start = prefix.getBytes(StandardCharsets.UTF_8);
        final JsonNode r = gateway.call("list keys " + prefix, "/kv/range", gateway.object().put("key", b64(start))
            .put("range_end", b64(prefixEnd(start))).put("keys_only", true).put("limit", limit));
        final List<String> out = new ArrayList<>();
        for (JsonNode kv : r.path("kvs")) {
            out.add(text(kv.get("key")));
        }
        return out;
    }

    @Override
    public Granted grant(final long ttlSeconds) {
        final JsonNode r = gateway.call("grant lease of " + ttlSeconds + " s", "/lease/grant",
            gateway.object().put("TTL", ttlSeconds));
        return new Granted(r.path("ID").asLong(), r.path("TTL").asLong());
    }

    @Override
    public void revoke(final long leaseId) {
        gateway.sendAndForget("/lease/revoke", gateway.object().put("ID", leaseId));
    }

    private ObjectNode put(final String key, final byte[] value, final long leaseId) {
        final ObjectNode put = gateway.object().put("key", b64(key)).put("value", b64(value));
        if (leaseId != 0) {
            put.put("lease", leaseId);
        }
        return put;
    }

    private JsonNode txn(final String what, final String key, final String target, final long value,
                         final ObjectNode success) {
        final ObjectNode req = gateway.object();
        req.putArray("compare").addObject().put("target", target).put("result", "EQUAL").put("key", b64(key))
            .put(target.equals("CREATE") ? "create_revision" : "mod_revision", value);
        req.putArray("success").add(success);
        return gateway.call(what, "/kv/txn", req);
    }

    @Override
    public Optional<Long> createIfAbsent(final String key, final byte[] value, final long leaseId) {
        final JsonNode r = txn("create " + key, key, "CREATE", 0,
            gateway.object().set("request_put", put(key, value, leaseId)));
        return r.path("succeeded").asBoolean() ? Optional.of(revision(r)) : Optional.empty();
    }

    @Override
    public Optional<Long> putIfUnchanged(final String key, final byte[] value, final long leaseId,
                                         final long modRevision) {
        final JsonNode r = txn("update " + key, key, "MOD", modRevision,
            gateway.object().set("request_put", put(key, value, leaseId)));
        return r.path("succeeded").asBoolean() ? Optional.of(revision(r)) : Optional.empty();
    }

    @Override
    public boolean deleteIfUnchanged(final String key, final long modRevision) {
        return txn("delete " + key, key, "MOD", modRevision,
            gateway.object().set("request_delete_range", gateway.object().put("key", b64(key))))
            .path("succeeded").asBoolean();
    }

    @Override
    public long keepAliveOnce(final long leaseId) throws LeaseGoneException {
        final JsonNode r;
        try {
            r = gateway.call("renew lease " + SubnetRegistry.leaseIdText(leaseId), "/lease/keepalive",
                gateway.object().put("ID", leaseId));
        } catch (EtcdUnavailableException e) {
            if (e.getCause() instanceof EtcdGateway.Refused refused && refused.code() == EtcdGateway.NOT_FOUND) {
                throw new LeaseGoneException(leaseId, e);
            }
            throw e;
        }
        // etcd answers a renewal of an unknown lease with TTL 0 (etcdserver/api/v3rpc/lease.go, v3.4)
        final long ttl = r.path("TTL").asLong();
        if (ttl <= 0) {
            throw new LeaseGoneException(leaseId, null);
        }
        return ttl;
    }

    @Override
    public LeaseInfo timeToLive(final long leaseId, final boolean withKeys) {
        final JsonNode r = gateway.call("lease time-to-live " + SubnetRegistry.leaseIdText(leaseId),
            "/lease/timetolive", gateway.object().put("ID", leaseId).put("keys", withKeys));
        return new LeaseInfo(r.path("TTL").asLong(), r.path("grantedTTL").asLong(),
            withKeys ? r.path("keys").size() : 0);
    }

    @Override
    public Watching watch(final String prefix, final long fromRevision, final WatchSink sink) {
        final GatewayWatch w = new GatewayWatch(gateway, prefix, fromRevision, sink, watches::remove, watchTiming);
        watches.add(w);
        w.open();
        return w;
    }

    /** Sets the probe and refresh durations of watches opened from now on: tests only, the agent keeps the default. */
    void watchTiming(final GatewayWatch.Timing timing) {
        this.watchTiming = java.util.Objects.requireNonNull(timing, "timing");
    }

    @Override
    public void refreshWatches() {
        gateway.renewConnections(); // a pooled connection may be bound to the old address too
        for (GatewayWatch w : watches) {
            w.refreshSoon();
        }
    }

    @Override
    public long failedRequests() {
        return gateway.failedRequests();
    }

    @Override
    public void close() {
        for (GatewayWatch w : List.copyOf(watches)) {
            w.close();
        }
        gateway.close();
    }
}
