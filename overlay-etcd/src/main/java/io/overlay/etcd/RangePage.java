package io.overlay.etcd;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;

/**
 * One page of a listing: etcd's {@code RangeResponse} (etcdserverpb/rpc.proto, v3.4) read token by token from the
 * gateway's JSON into {@link SubnetListing.Entry}s (package-private). A listing of the whole /10 at /24 is 16,383
 * keys, about 5 MB of JSON; read as a tree it cost twice the time and several times the garbage (measured with
 * {@code benchmarks/scale-bench.sh}, docs/performance.md).
 *
 * @param revision the store's revision at the read
 * @param more whether etcd has more keys in the range than the page's limit let through
 * @param entries the page's keys, parsed as subnet keys
 * @param lastKey the last key of the page, empty when the page is empty
 */
record RangePage(long revision, boolean more, List<SubnetListing.Entry> entries, byte[] lastKey) {
    private static final JsonFactory JSON = new JsonFactory();

    /**
     * Reads an answer to {@code /v3/kv/range}.
     *
     * @param prefix the listed prefix, for {@link SubnetListing.Entry#parse}
     * @throws EtcdGateway.Refused if etcd refused the request
     * @throws ExecutionException if the answer is not etcd's JSON
     */
    static RangePage read(final Answer r, final String prefix)
        throws EtcdGateway.Refused, ExecutionException {
        if (r.statusCode() != 200) {
            EtcdGateway.answer(r); // throws the refusal, or names what answered
            throw new ExecutionException(new IOException("HTTP " + r.statusCode() + " from " + r.uri()));
        }
        long revision = 0;
        boolean more = false;
        final List<SubnetListing.Entry> entries = new ArrayList<>();
        byte[] lastKey = new byte[0];
        try (JsonParser p = JSON.createParser(r.body())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                final String field = p.currentName();
                p.nextToken();
                switch (field) {
                    case "header" -> revision = header(p);
                    case "more" -> more = p.getValueAsBoolean();
                    case "kvs" -> {
                        while (p.nextToken() == JsonToken.START_OBJECT) {
                            lastKey = keyValue(p, prefix, entries);
                        }
                    }
                    case "error" -> {
                        EtcdGateway.answer(r); // a 200 with an error: throws the refusal
                        p.skipChildren();
                    }
                    default -> p.skipChildren();
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new ExecutionException(new IOException("HTTP " + r.statusCode() + " from " + r.uri()
                + " is not etcd's range answer (" + e.getMessage() + "): " + EtcdGateway.NOT_GATEWAY, e));
        }
        return new RangePage(revision, more, entries, lastKey);
    }

    private static long header(final JsonParser p) throws IOException {
        long revision = 0;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            final String field = p.currentName();
            p.nextToken();
            if (field.equals("revision")) {
                revision = p.getValueAsLong(); // int64 as a JSON string
            } else {
                p.skipChildren();
            }
        }
        return revision;
    }

    /** Reads one {@code mvccpb.KeyValue}, adds its entry and returns its key. */
    private static byte[] keyValue(final JsonParser p, final String prefix, final List<SubnetListing.Entry> out)
        throws IOException {
        byte[] key = new byte[0];
        byte[] value = new byte[0];
        long lease = 0;
        long mod = 0;
        long create = 0;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            final String field = p.currentName();
            p.nextToken();
            switch (field) {
                case "key" -> key = p.getBinaryValue();
                case "value" -> value = p.getBinaryValue();
                case "lease" -> lease = p.getValueAsLong();
                case "mod_revision" -> mod = p.getValueAsLong();
                case "create_revision" -> create = p.getValueAsLong();
                default -> p.skipChildren();
            }
        }
        out.add(SubnetListing.Entry.parse(prefix, new String(key, StandardCharsets.UTF_8), value, lease, mod, create));
        return key;
    }
}
