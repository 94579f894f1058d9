package io.overlay.core.json;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link JsonTrees} against {@code ObjectMapper}, which it stands in for: the same trees and the same text. */
class JsonTreesTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {
        "{}", "[]", "\"\"", "0", "-0", "true", "false", "null",
        "{\"Network\":\"100.64.0.0/10\",\"SubnetLen\":24,\"Backend\":{\"Type\":\"udp\",\"Port\":8285}}",
        "{\"PublicIP\":\"198.18.0.1\",\"PublicIPv6\":null,\"BackendType\":\"vxlan\","
            + "\"BackendData\":{\"VNI\":1,\"VtepMAC\":\"aa:bb:cc:dd:ee:ff\"}}",
        "{\"kvs\":[{\"key\":\"a2V5\",\"mod_revision\":\"42\",\"lease\":\"7587869403462035971\"}],\"count\":\"1\"}",
        "[1, 2147483647, 2147483648, -2147483649, 9223372036854775807, 9223372036854775808, -9223372036854775809]",
        "[1.5, -0.0, 1e3, 1E-7, 2.5e+300, 1e400, 0.1, 123456789012345678901234567890.5]",
        "{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\u2028\\u00e9\\ud83d\\ude00 \u00fc\"}",
        "{\"a\":1,\"b\":{\"c\":[true,false,null,{\"d\":[]}]},\"a\":2}",
        "{\"Network\":\"a\",\"network\":\"b\"}",
        "  \n{ \"spaced\" : [ 1 , 2 ] }\t\n",
    })
    void readsAndWritesAsObjectMapperDoes(final String json) throws Exception {
        final JsonNode expected = MAPPER.readTree(json);
        final JsonNode tree = JsonTrees.read(json);
        assertEquals(expected, tree);
        assertEquals(expected, JsonTrees.read(json.getBytes(StandardCharsets.UTF_8)));
        assertEquals(MAPPER.writeValueAsString(expected), JsonTrees.write(tree));
        assertArrayEquals(MAPPER.writeValueAsBytes(expected), JsonTrees.writeBytes(tree));
        assertEquals(MAPPER.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(expected),
            JsonTrees.writePretty(tree));
        // the same node classes, so numbers keep their kind (IntNode, LongNode, BigIntegerNode, DoubleNode)
        assertEquals(MAPPER.writeValueAsString(typesOf(expected)), MAPPER.writeValueAsString(typesOf(tree)));
    }

    private static JsonNode typesOf(final JsonNode n) {
        if (n.isContainerNode()) {
            final var out = JsonNodeFactory.instance.arrayNode();
            n.forEach(c -> out.add(typesOf(c)));
            return out;
        }
        return JsonNodeFactory.instance.textNode(n.getClass().getSimpleName());
    }

    @Test
    void aRepeatedKeyKeepsItsFirstPlaceAndTakesTheLastValue() throws Exception {
        assertEquals("{\"a\":3,\"b\":2}", JsonTrees.write(JsonTrees.read("{\"a\":1,\"b\":2,\"a\":3}")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "\n\t "})
    void blankTextIsTheMissingNode(final String text) throws Exception {
        assertEquals(MissingNode.getInstance(), JsonTrees.read(text));
        assertEquals(MissingNode.getInstance(), JsonTrees.read(text.getBytes(StandardCharsets.UTF_8)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"{} {}", "{\"a\":1} {}", "1 2", "null []", "\"a\"\"b\""})
    void textAfterTheValueIsAnError(final String text) {
        final JsonProcessingException e = assertThrows(JsonProcessingException.class, () -> JsonTrees.read(text));
        assertTrue(e.getOriginalMessage().startsWith("Trailing token"), e.getOriginalMessage());
        assertThrows(JsonProcessingException.class, () -> JsonTrees.read(text.getBytes(StandardCharsets.UTF_8)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"{", "{\"a\":}", "[1,]", "{'a':1}", "NaN", "{\"a\" 1}", "\"unterminated", "01", "[] ]",
        "{} trailing"})
    void malformedTextIsAnError(final String text) {
        assertThrows(JsonProcessingException.class, () -> JsonTrees.read(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "plain", "quote \" and backslash \\", "controls \u0000\u0001\n\u001f",
        "\u00e9\u2028\ud83d\ude00"})
    void quoteEscapesAsJacksonDoes(final String s) throws Exception {
        assertEquals(MAPPER.writeValueAsString(s), JsonTrees.quote(s));
    }

    @Test
    void binaryIsWrittenAsBase64() throws Exception {
        final var tree = JsonTrees.object().put("b", new byte[] {0, 1, 2, (byte) 0xff});
        assertEquals(MAPPER.writeValueAsString(tree), JsonTrees.write(tree));
        assertEquals("{\"b\":\"AAEC/w==\"}", JsonTrees.write(tree));
    }

    @Test
    void aMissingOrPojoNodeCannotBeWritten() {
        assertThrows(IllegalArgumentException.class, () -> JsonTrees.write(MissingNode.getInstance()));
        assertThrows(IllegalArgumentException.class,
            () -> JsonTrees.write(JsonTrees.object().putPOJO("p", new Object())));
    }
}
