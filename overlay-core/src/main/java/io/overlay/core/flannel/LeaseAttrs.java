package io.overlay.core.flannel;

import io.overlay.core.json.JsonTrees;
import io.overlay.core.net.Ipv4;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * A lease's attributes, the JSON value stored under {@code <prefix>/subnets/<key>} (flannel's {@code LeaseAttrs}
 * in flannel v0.28.9 {@code pkg/lease/lease.go}; {@code docs/flannel-compatibility.md#lease-value}).
 *
 * <p>Reading accepts every shape flannel has written: with or without {@code PublicIPv6}, with {@code BackendType},
 * {@code BackendData} and {@code BackendV6Data}, with unknown fields (ignored), key names case-insensitive as Go's
 * {@code encoding/json} matches them (of several spellings of one field the last wins). {@code BackendV6Data} is not
 * kept. Writing a udp lease produces exactly what flanneld's udp backend writes:
 * {@code {"PublicIP":"198.18.0.1","PublicIPv6":null}}.
 *
 * @param publicIp the host's PublicIP, int form (see {@link Ipv4}); 0.0.0.0 for an IPv6-only vxlan node
 * @param publicIpv6 the host's IPv6 PublicIP as text, or {@code null}
 * @param backendType the backend type ({@code "vxlan"}, ...), or {@code null}: the udp backend never sets it
 * @param backendData the raw {@code BackendData} JSON, or {@code null}
 */
public record LeaseAttrs(int publicIp, String publicIpv6, String backendType, String backendData) {
    /**
     * Returns the attributes a udp-backend host writes: only its PublicIP.
     *
     * @param publicIp the PublicIP, int form
     * @return the attributes
     */
    public static LeaseAttrs udp(final int publicIp) {
        return new LeaseAttrs(publicIp, null, null, null);
    }

    /**
     * Returns these attributes with another PublicIP and everything else ({@code PublicIPv6}, {@code BackendType},
     * {@code BackendData}) kept, for a host whose underlay address changed.
     *
     * @param ip the new PublicIP, int form
     * @return the attributes
     */
    public LeaseAttrs withPublicIp(final int ip) {
        return new LeaseAttrs(ip, publicIpv6, backendType, backendData);
    }

    /**
     * Parses a lease value.
     *
     * @param value the etcd value bytes (UTF-8 JSON)
     * @return the attributes
     * @throws IllegalArgumentException if the value is not one JSON object, {@code PublicIP} is missing or not a
     *     dotted-quad IPv4 string, or {@code PublicIPv6}/{@code BackendType} is neither a string nor null; the message
     *     names the field and quotes the value (shortened to 120 characters)
     */
    public static LeaseAttrs parse(final byte[] value) {
        final String text = new String(value, StandardCharsets.UTF_8);
        final JsonNode root;
        try {
            root = JsonTrees.read(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("lease value is not JSON: " + quote(text), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("lease value is not a JSON object: " + quote(text));
        }
        final JsonNode ip = GoJson.field(root, "PublicIP");
        if (ip == null || !ip.isTextual()) {
            throw new IllegalArgumentException("lease value has no PublicIP string: " + quote(text));
        }
        final int publicIp;
        try {
            publicIp = Ipv4.parse(ip.asText());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("lease value's PublicIP is not an IPv4 address: " + quote(text), e);
        }
        final JsonNode data = GoJson.field(root, "BackendData");
        return new LeaseAttrs(publicIp, optionalString(root, "PublicIPv6", text),
            optionalString(root, "BackendType", text), data == null || data.isNull() ? null : JsonTrees.write(data));
    }

    private static String optionalString(final JsonNode root, final String name, final String text) {
        final JsonNode n = GoJson.field(root, name);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            throw new IllegalArgumentException("lease value's " + name + " is not a string: " + quote(text));
        }
        return n.asText().isEmpty() ? null : n.asText();
    }

    private static String quote(final String text) {
        final String shortened = text.length() > 120 ? text.substring(0, 120) + "..." : text;
        return "'" + shortened + "'";
    }

    /**
     * Returns the JSON value flanneld writes for these attributes, byte for byte: fields in Go's declaration order
     * ({@code PublicIP}, {@code PublicIPv6} always, then {@code BackendType}, {@code BackendData} when set).
     *
     * @return e.g. {@code {"PublicIP":"198.18.0.1","PublicIPv6":null}}
     */
    public String toJson() {
        final StringBuilder sb = new StringBuilder(64);
        sb.append("{\"PublicIP\":\"").append(Ipv4.format(publicIp)).append("\",\"PublicIPv6\":");
        sb.append(publicIpv6 == null ? "null" : jsonString(publicIpv6));
        if (backendType != null) {
            sb.append(",\"BackendType\":").append(jsonString(backendType));
        }
        if (backendData != null) {
            sb.append(",\"BackendData\":").append(backendData);
        }
        return sb.append('}').toString();
    }

    private static String jsonString(final String s) {
        return JsonTrees.quote(s);
    }

    /**
     * Returns {@link #toJson()} as UTF-8 bytes.
     *
     * @return the etcd value
     */
    public byte[] toBytes() {
        return toJson().getBytes(StandardCharsets.UTF_8);
    }

    // Written out: a record's generated equals and hashCode are bootstrapped through method handles at their first
    // call, which spins classes during the launcher's start (docs/performance.md, "Start-up, round five").
    @Override
    public boolean equals(final Object other) {
        return other instanceof LeaseAttrs o && publicIp == o.publicIp && Objects.equals(publicIpv6, o.publicIpv6)
            && Objects.equals(backendType, o.backendType) && Objects.equals(backendData, o.backendData);
    }

    @Override
    public int hashCode() {
        return Objects.hash(publicIp, publicIpv6, backendType, backendData);
    }
}
