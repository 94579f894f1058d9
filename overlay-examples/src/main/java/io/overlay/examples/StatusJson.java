package io.overlay.examples;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.overlay.core.OverlayHistory;
import io.overlay.core.OverlayStatus;
import io.overlay.core.flannel.Lease;
import io.overlay.core.json.JsonTrees;
import io.overlay.core.net.Ipv4;
import io.overlay.core.net.Ipv4Prefix;
import io.overlay.core.net.Peer;
import io.overlay.core.spi.AllocatorStatus;
import io.overlay.core.spi.Counter;
import io.overlay.core.spi.EngineOffloads;
import io.overlay.core.spi.DropReason;
import io.overlay.core.spi.TrafficCounters;
import java.time.Instant;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The launcher's {@code GET /status}: a running overlay's state as one JSON object, read by {@code overlay status}
 * ({@link StatusCommand}) and by anyone with {@code curl}. Fields (absent values are {@code null}):
 * <ul>
 * <li>{@code version}, {@code ready}, {@code reason} (why not ready, empty when ready), {@code healthLine};</li>
 * <li>{@code lease}: {@code subnet}, {@code publicIp}, {@code reservation}, {@code ttlSeconds} (as granted),
 * {@code remainingSeconds}, {@code grantedAt} (ISO-8601), {@code lost} and {@code reacquired} (counts);</li>
 * <li>{@code network}, {@code mtu}, {@code interface} (the TUN device), {@code bridge};</li>
 * <li>{@code peers}: one object per peer, sorted by subnet: {@code subnet}, {@code publicIp}, {@code port},
 * {@code changedAt} (when its lease was last added or changed; {@code null} if before this process saw it);</li>
 * <li>{@code counters}: the engine's counters by {@link Counter} name, and {@code drops} by {@link DropReason}
 * name;</li>
 * <li>{@code offloads}: which the engine uses now, {@code tunVnetHeader}, {@code udpGso}, {@code udpGro};</li>
 * <li>{@code encryption}: {@code mode}, this host's {@code publicKey}, {@code peersWithoutKey} (PublicIPs) and, when
 * required, {@code unreachable}: one line per peer that cannot be reached because it advertises no key;</li>
 * <li>{@code etcd}: {@code endpoints}, {@code state}, {@code renewals}, {@code watchResets}, {@code relists},
 * {@code errors}.</li>
 * </ul>
 */
final class StatusJson {
    /** The content type of {@code /status}. */
    static final String CONTENT_TYPE = "application/json";

    private StatusJson() {
    }

    /**
     * Returns the page for the health server.
     *
     * @param status the overlay's status, e.g. {@code overlay::status}
     * @param history the overlay's event history
     * @return {@code /status}'s page
     */
    static HealthServer.Page page(final Supplier<OverlayStatus> status, final OverlayHistory history) {
        return new HealthServer.Page(CONTENT_TYPE, () -> render(status.get(), history));
    }

    /**
     * Renders a status.
     *
     * @param s the status
     * @param history the event history
     * @return the JSON text, indented, ending in a newline
     */
    static String render(final OverlayStatus s, final OverlayHistory history) {
        final ObjectNode root = JsonTrees.object();
        root.put("version", OverlayVersion.version());
        root.put("ready", s.ready());
        root.put("reason", s.reason());
        root.put("healthLine", s.healthLine());
        root.set("lease", lease(s.lease(), history));
        root.put("network", s.network() == null ? null : s.network().toString());
        root.put("mtu", s.mtu());
        root.put("interface", s.tunName());
        root.put("bridge", s.bridge());
        final Map<Ipv4Prefix, Instant> changed = history.peersChanged();
        final ArrayNode peers = root.putArray("peers");
        new java.util.TreeMap<>(s.peers()).forEach((subnet, peer) -> peers.add(peer(subnet, peer,
            changed.get(subnet))));
        root.set("counters", counters(s.counters()));
        final EngineOffloads o = s.offloads();
        final ObjectNode offloads = root.putObject("offloads");
        offloads.put("tunVnetHeader", o.tunVnetHeader());
        offloads.put("udpGso", o.udpGso());
        offloads.put("udpGro", o.udpGro());
        final io.overlay.core.spi.EncryptionStatus enc = s.encryption();
        final ObjectNode encryption = root.putObject("encryption");
        encryption.put("mode", enc.mode().toString());
        encryption.put("publicKey", enc.publicKey());
        final ArrayNode keyless = encryption.putArray("peersWithoutKey");
        enc.keylessPeers().forEach(ip -> keyless.add(Ipv4.format(ip)));
        if (enc.mode() == io.overlay.core.spi.Encryption.REQUIRED) {
            final ArrayNode unreachable = encryption.putArray("unreachable");
            enc.keylessPeers().forEach(ip -> unreachable.add(Ipv4.format(ip)
                + ": advertises no key (encryption required)"));
        }
        final AllocatorStatus a = s.allocator();
        final ObjectNode etcd = root.putObject("etcd");
        a.endpoints().forEach(etcd.putArray("endpoints")::add);
        etcd.put("state", a.state());
        etcd.put("renewals", a.renewals());
        etcd.put("watchResets", a.watchResets());
        etcd.put("relists", a.relists());
        etcd.put("errors", a.errors());
        return JsonTrees.writePretty(root) + "\n";
    }

    private static ObjectNode lease(final Lease lease, final OverlayHistory history) {
        final ObjectNode n = JsonTrees.object();
        if (lease != null) {
            n.put("subnet", lease.subnet().toString());
            n.put("publicIp", Ipv4.format(lease.attrs().publicIp()));
            n.put("reservation", lease.reservation());
            n.put("ttlSeconds", lease.ttl().toSeconds());
        } else {
            n.putNull("subnet");
        }
        history.leaseRemaining().ifPresentOrElse(d -> n.put("remainingSeconds", d.toSeconds()),
            () -> n.putNull("remainingSeconds"));
        history.leaseGrantedAt().ifPresentOrElse(t -> n.put("grantedAt", t.toString()), () -> n.putNull("grantedAt"));
        n.put("lost", history.leasesLost());
        n.put("reacquired", history.leasesReacquired());
        return n;
    }

    private static ObjectNode peer(final Ipv4Prefix subnet, final Peer peer, final Instant changed) {
        final ObjectNode n = JsonTrees.object();
        n.put("subnet", subnet.toString());
        n.put("publicIp", Ipv4.format(peer.publicIp()));
        n.put("port", peer.port());
        n.put("changedAt", changed == null ? null : changed.toString());
        return n;
    }

    /** The engine's counters under their {@link Counter} names, then the drops by reason. */
    private static ObjectNode counters(final TrafficCounters c) {
        final ObjectNode n = JsonTrees.object();
        for (Counter counter : Counter.values()) {
            n.put(counter.name(), c.get(counter));
        }
        final ObjectNode drops = n.putObject("drops");
        for (DropReason r : DropReason.values()) {
            drops.put(r.name(), c.drops(r));
        }
        return n;
    }
}
