package io.overlay.core.flannel;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** Go encoding/json key matching, as flanneld decodes its config and lease values. */
class GoJsonTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode object(final String json) throws Exception {
        return JSON.readTree(json);
    }

    @Test
    void keysMatchIgnoringCase() throws Exception {
        assertThat(GoJson.field(object("{\"publicip\":\"a\"}"), "PublicIP").asText()).isEqualTo("a");
        assertThat(GoJson.field(object("{\"PUBLICIP\":\"b\"}"), "PublicIP").asText()).isEqualTo("b");
    }

    @Test
    void theLastMatchingKeyWins() throws Exception {
        assertThat(GoJson.field(object("{\"Network\":\"1\",\"other\":0,\"NETWORK\":\"2\",\"network\":\"3\"}"),
            "Network").asText()).isEqualTo("3");
    }

    @Test
    void aMissingKeyIsNullAndAJsonNullIsANullNode() throws Exception {
        assertThat(GoJson.field(object("{\"Networks\":\"x\"}"), "Network")).isNull();
        assertThat(GoJson.field(object("{\"Network\":null}"), "Network").isNull()).isTrue();
    }
}
