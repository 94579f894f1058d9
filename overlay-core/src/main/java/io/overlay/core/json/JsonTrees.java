package io.overlay.core.json;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * Jackson's {@link JsonNode} trees read and written through {@code jackson-core}'s streaming parser and generator,
 * without an {@code ObjectMapper}: the mapper's first use loads some 300 classes of {@code jackson-databind}'s
 * serializer and deserializer machinery, about 3.6 MB of every agent's resident class metadata and a share of its
 * start-up ({@code docs/performance.md}, "Round seven"), while overlay only ever reads and writes small trees of
 * objects, arrays, strings, numbers, booleans and nulls.
 *
 * <p>Trees come out as {@code ObjectMapper.readTree} makes them with its defaults: integers as {@code IntNode},
 * {@code LongNode} or {@code BigIntegerNode} by magnitude, other numbers as {@code DoubleNode}, a repeated key's last
 * value in the first one's place; and they are written as {@code ObjectMapper.writeValueAsString} writes them
 * (compact, or with Jackson's default pretty printer). Unlike {@code readTree}, reading is strict about the end: text
 * after the value is an error (as with {@code DeserializationFeature.FAIL_ON_TRAILING_TOKENS}).
 *
 * <p>{@link JsonNode#toString()} is still {@code jackson-databind}'s and loads the mapper; code on the agent's paths
 * writes trees with {@link #write(JsonNode)}.
 */
public final class JsonTrees {
    private static final JsonFactory FACTORY = new JsonFactory();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private JsonTrees() {
    }

    /**
     * Returns a new empty object node.
     *
     * @return the node, to be filled with {@code put}/{@code set}
     */
    public static ObjectNode object() {
        return NODES.objectNode();
    }

    /**
     * Reads one JSON value.
     *
     * @param text the whole text: one value, with white space around it at most
     * @return the tree, or {@link MissingNode} when the text holds only white space
     * @throws JsonProcessingException if the text is not JSON, or holds more than one value; the exception's
     *     {@code getOriginalMessage()} names what was found and where
     */
    public static JsonNode read(final String text) throws JsonProcessingException {
        try (JsonParser p = FACTORY.createParser(text)) {
            return readWhole(p);
        } catch (JsonProcessingException e) {
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a String is read without I/O
        }
    }

    /**
     * Reads one JSON value from UTF-8 (or UTF-16/32, detected as Jackson does) bytes.
     *
     * @param bytes the whole value
     * @return the tree, or {@link MissingNode} when the bytes hold only white space
     * @throws JsonProcessingException as {@link #read(String)}
     */
    public static JsonNode read(final byte[] bytes) throws JsonProcessingException {
        try (JsonParser p = FACTORY.createParser(bytes)) {
            return readWhole(p);
        } catch (JsonProcessingException e) {
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array is read without I/O
        }
    }

    private static JsonNode readWhole(final JsonParser p) throws IOException {
        final JsonToken first = p.nextToken();
        if (first == null) {
            return MissingNode.getInstance();
        }
        final JsonNode value = value(p, first);
        final JsonToken after = p.nextToken();
        if (after != null) {
            throw new JsonParseException(p, "Trailing token (of type " + after + ") found after the JSON value");
        }
        return value;
    }

    /** The value starting at {@code t}; nesting is bounded by the parser's own depth limit (1,000 by default). */
    private static JsonNode value(final JsonParser p, final JsonToken t) throws IOException {
        switch (t) {
            case START_OBJECT: {
                final ObjectNode o = NODES.objectNode();
                for (JsonToken k = p.nextToken(); k != JsonToken.END_OBJECT; k = p.nextToken()) {
                    final String name = p.currentName();
                    o.replace(name, value(p, p.nextToken()));
                }
                return o;
            }
            case START_ARRAY: {
                final ArrayNode a = NODES.arrayNode();
                for (JsonToken v = p.nextToken(); v != JsonToken.END_ARRAY; v = p.nextToken()) {
                    a.add(value(p, v));
                }
                return a;
            }
            case VALUE_STRING:
                return NODES.textNode(p.getText());
            case VALUE_NUMBER_INT:
                switch (p.getNumberType()) {
                    case INT:
                        return NODES.numberNode(p.getIntValue());
                    case LONG:
                        return NODES.numberNode(p.getLongValue());
                    default:
                        return NODES.numberNode(p.getBigIntegerValue());
                }
            case VALUE_NUMBER_FLOAT:
                return NODES.numberNode(p.getDoubleValue());
            case VALUE_TRUE:
                return NODES.booleanNode(true);
            case VALUE_FALSE:
                return NODES.booleanNode(false);
            case VALUE_NULL:
                return NODES.nullNode();
            default:
                throw new JsonParseException(p, "Unexpected token " + t);
        }
    }

    /**
     * Writes a tree as compact JSON.
     *
     * @param tree objects, arrays, strings, numbers, booleans, nulls and binary values (written as base64 strings)
     * @return the text, e.g. {@code {"key":"a2V5","limit":10}}
     * @throws IllegalArgumentException if the tree holds a missing node or a POJO node
     */
    public static String write(final JsonNode tree) {
        return write(tree, false);
    }

    /**
     * Writes a tree as JSON with Jackson's default pretty printer (two-space indents, {@code "name" : value}).
     *
     * @param tree as {@link #write(JsonNode)}
     * @return the text, without a final line break
     * @throws IllegalArgumentException as {@link #write(JsonNode)}
     */
    public static String writePretty(final JsonNode tree) {
        return write(tree, true);
    }

    /**
     * Writes a tree as compact JSON in UTF-8.
     *
     * @param tree as {@link #write(JsonNode)}
     * @return the bytes
     * @throws IllegalArgumentException as {@link #write(JsonNode)}
     */
    public static byte[] writeBytes(final JsonNode tree) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream(128);
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            node(g, tree);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array is written without I/O
        }
        return out.toByteArray();
    }

    /**
     * Quotes a string as a JSON string literal, escaping as Jackson's generator does.
     *
     * @param s the string
     * @return e.g. {@code "a\"b"} for {@code a"b}
     */
    public static String quote(final String s) {
        return write(NODES.textNode(s));
    }

    private static String write(final JsonNode tree, final boolean pretty) {
        final StringWriter out = new StringWriter(128);
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            if (pretty) {
                g.useDefaultPrettyPrinter();
            }
            node(g, tree);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return out.toString();
    }

    private static void node(final JsonGenerator g, final JsonNode n) throws IOException {
        switch (n.getNodeType()) {
            case OBJECT:
                g.writeStartObject();
                for (Map.Entry<String, JsonNode> e : n.properties()) {
                    g.writeFieldName(e.getKey());
                    node(g, e.getValue());
                }
                g.writeEndObject();
                break;
            case ARRAY:
                g.writeStartArray();
                for (JsonNode child : n) {
                    node(g, child);
                }
                g.writeEndArray();
                break;
            case STRING:
                g.writeString(n.textValue());
                break;
            case NUMBER:
                number(g, n);
                break;
            case BOOLEAN:
                g.writeBoolean(n.booleanValue());
                break;
            case NULL:
                g.writeNull();
                break;
            case BINARY:
                g.writeBinary(n.binaryValue());
                break;
            default:
                throw new IllegalArgumentException("cannot write a " + n.getNodeType() + " node as JSON");
        }
    }

    private static void number(final JsonGenerator g, final JsonNode n) throws IOException {
        switch (n.numberType()) {
            case INT:
                g.writeNumber(n.intValue());
                break;
            case LONG:
                g.writeNumber(n.longValue());
                break;
            case BIG_INTEGER:
                g.writeNumber(n.bigIntegerValue());
                break;
            case FLOAT:
                g.writeNumber(n.floatValue());
                break;
            case DOUBLE:
                g.writeNumber(n.doubleValue());
                break;
            default:
                g.writeNumber(n.decimalValue());
                break;
        }
    }
}
