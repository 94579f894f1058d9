package io.overlay.core.flannel;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;

/**
 * How Go's {@code encoding/json} matches object keys to struct fields, the way flanneld decodes the network config
 * and lease values: a key matches a field whose name equals it ignoring case (Go's {@code bytes.EqualFold}), unknown
 * keys are ignored, and when several keys match one field each sets it in turn, so the last one wins
 * ({@code Unmarshal} in Go's {@code encoding/json/decode.go}).
 */
final class GoJson {
    private GoJson() {
    }

    /**
     * Returns the value a Go struct field named {@code name} would be decoded from.
     *
     * @param object a JSON object
     * @param name the Go field name, e.g. {@code PublicIP}
     * @return the value of the last key equal to {@code name} ignoring case, or {@code null} when no key matches (a
     *     JSON {@code null} value is returned as a null node, not as {@code null})
     */
    static JsonNode field(final JsonNode object, final String name) {
        JsonNode found = null;
        for (Map.Entry<String, JsonNode> e : object.properties()) {
            if (e.getKey().equalsIgnoreCase(name)) {
                found = e.getValue();
            }
        }
        return found;
    }
}
