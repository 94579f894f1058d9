package io.overlay.etcd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.overlay.core.json.JsonTrees;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.Flow;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * etcd's v3 API as JSON over HTTP/1.1 (package-private): etcd's gRPC gateway, which every etcd v3.4+ member serves on
 * its client URLs unless started with {@code --enable-grpc-gateway=false} (etcd's {@code etcdserver/api/v3rpc} and
 * {@code Documentation/dev-guide/api_grpc_gateway.md}, v3.4). Requests and answers are etcd's protobuf messages in
 * JSON: byte fields in base64, 64-bit integers as strings, fields at their default value left out.
 *
 * <p>One JDK {@link HttpClient} with one thread of its own ({@code overlay-etcd-http}, which also runs the watches'
 * timers) besides the JDK's selector thread: the agent's few requests do not need gRPC, HTTP/2 and their ~1,700
 * classes. Endpoints are used one at a time, starting with the first: a refused connection, or a 404 that is not
 * etcd's JSON (no gateway there), moves the request on to the next at once (it was never carried out); a request
 * without an answer fails after the request timeout and the next request goes to the next endpoint, as does one that
 * etcd answers with {@code UNAVAILABLE} (no leader).
 *
 * <p>With a user name, the client authenticates ({@code /v3/auth/authenticate}) before its first request and again
 * when etcd says the token is no longer valid (etcd's simple tokens expire after 5 minutes idle).
 */
final class EtcdGateway implements AutoCloseable {
    /** The JSON gateway's path prefix: {@code /v3} in etcd v3.4 and later. */
    static final String API = "/v3";

    private static final Logger LOG = LoggerFactory.getLogger(EtcdSubnetAllocator.class);

    /** gRPC status codes by number (grpc's {@code codes.Code}), as the gateway reports them in {@code code}. */
    private static final List<String> CODES = List.of("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED");
    static final int NOT_FOUND = 5;
    private static final int UNAVAILABLE = 14;

    /**
     * Why no endpoint answers. A member removed from the cluster shuts down (etcd 3.4, {@code etcdserver/server.go});
     * like flanneld's client, overlay only ever uses the endpoints it was given, so an endpoint list naming only
     * removed or moved members never works again until the agent is restarted with the members' current client URLs.
     */
    static final String NO_ANSWER_CAUSES = "etcd is down or unreachable, or the endpoints are no longer an etcd "
        + "member (removed, or moved to another URL: compare with etcdctl member list; --etcd-endpoints is read once, "
        + "at start)";
    /**
     * The start of etcd's plain-text refusal of a gateway request that carries a client certificate with a CommonName
     * while authentication and {@code --client-cert-auth} are on (etcd's {@code embed/serve.go}, v3.4+): over its
     * gateway etcd would not log in by the certificate's CN as it does over gRPC, so it refuses.
     */
    static final String CN_REFUSED = "CommonName of client sending a request against gateway";
    /** What the operator does about {@link #CN_REFUSED}. */
    static final String CN_REMEDY = "(etcd has authentication and --client-cert-auth on and refuses, on its JSON "
        + "gateway, client certificates with a CommonName: give overlay a client certificate without a CN and log in "
        + "with --etcd-username and --etcd-password)";

    /** What an answer that is not etcd's JSON most likely means. */
    static final String NOT_GATEWAY = "is it an etcd v3.4+ member with its gRPC gateway on (--enable-grpc-gateway, "
        + "the default)?";
    /** etcd's {@code ErrAuthFailed} (etcdserver/api/v3rpc/rpctypes/error.go, v3.4). */
    static final String AUTH_FAILED = "etcdserver: authentication failed";
    /**
     * Refusals after which the client authenticates again (etcd's {@code rpctypes/error.go}, v3.4–v3.6): the token
     * expired or the member restarted ({@code ErrInvalidAuthToken}); a JWT older than a user or role change
     * ({@code ErrAuthOldRevision}); no token sent because etcd had authentication off when the agent started and has
     * it on now ({@code ErrUserEmpty}). jetcd re-authenticated on the first two as well.
     */
    private static final List<String> STALE_TOKEN = List.of("etcdserver: invalid auth token",
        "etcdserver: revision of auth store is old", "etcdserver: user name is empty");

    /** Whether etcd refused a request because of the token it was sent with (or without). */
    static boolean staleToken(final String message) {
        return message != null && STALE_TOKEN.stream().anyMatch(message::contains);
    }

    /** etcd's {@code ErrAuthNotEnabled}: a user name was given but etcd has no authentication on; go without. */
    private static final String AUTH_NOT_ENABLED = "etcdserver: authentication is not enabled";

    /** The endpoint has no such path and is not etcd's gateway: the request was not carried out, the next may take it. */
    static final class NoGateway extends IOException {
        private static final long serialVersionUID = 1L;

        NoGateway(final String message) {
            super(message);
        }
    }

    /** Whether a request that failed with {@code cause} was surely not carried out, so another endpoint may take it. */
    private static boolean notSent(final Throwable cause) {
        return cause instanceof ConnectException || cause instanceof HttpConnectTimeoutException
            || cause instanceof NoGateway;
    }

    /** etcd refused a request: the gRPC status the gateway reported, and etcd's message. */
    static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;
        private final int code;

        Refused(final int code, final String message) {
            super((code >= 0 && code < CODES.size() ? CODES.get(code) : "code " + code) + ": " + message);
            this.code = code;
        }

        int code() {
            return code;
        }
    }

    private final EtcdSettings settings;
    private final List<URI> endpoints;
    private final long timeoutNanos;
    private final ScheduledThreadPoolExecutor executor;
    /** The TLS context of https endpoints, null for http. */
    private final javax.net.ssl.SSLContext ssl;
    /** The client; replaced by {@link #renewConnections}. */
    private volatile HttpClient http;
    /** The endpoint in use, an index into {@link #endpoints}. */
    private volatile int current;
    /** The auth token; null before authenticating, "" when etcd has authentication off. */
    private final AtomicReference<String> token = new AtomicReference<>();
    private volatile boolean authRefused;
    private volatile boolean answered;
    private final AtomicLong failedRequests = new AtomicLong();

    /**
     * Creates the client; connections are opened by the first request.
     *
     * @param tls the TLS files' contents for https endpoints, else null
     * @throws IllegalArgumentException if the JDK refuses the TLS files
     */
    EtcdGateway(final EtcdSettings settings, final TlsCredentials tls) {
        this.settings = settings;
        this.endpoints = List.copyOf(settings.endpoints());
        this.timeoutNanos = settings.requestTimeout().toNanos();
        this.executor = new ScheduledThreadPoolExecutor(1, r -> {
            final Thread t = new Thread(r, "overlay-etcd-http");
            t.setDaemon(true);
            return t;
        });
        executor.setRemoveOnCancelPolicy(true);
        if (settings.tls()) {
            java.util.Objects.requireNonNull(tls, "TLS credentials for https:// endpoints");
            try {
                this.ssl = tls.sslContext();
            } catch (java.security.GeneralSecurityException | RuntimeException e) {
                executor.shutdownNow();
                throw new IllegalArgumentException("cannot set up TLS for etcd from " + settings + ": "
                    + e.getMessage(), e);
            }
        } else {
            this.ssl = null;
        }
        this.http = newClient();
    }

    private HttpClient newClient() {
        // HTTP/1.1: etcd serves the gateway on HTTP/1.1 everywhere; a watch holds one connection, requests use others
        final HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(settings.connectTimeout()).executor(executor);
        if (ssl != null) {
            b.sslContext(ssl);
        } else {
            b.sslContext(NoTls.CONTEXT).sslParameters(new javax.net.ssl.SSLParameters());
        }
        return b.build();
    }

    /**
     * Drops every pooled connection: requests and streams from now on open new ones. The host's addresses changed,
     * and an idle connection may be bound to one it no longer has (a request on it would wait the whole timeout). The
     * old client's connections close as it is collected (JDK 17's client has no close).
     */
    void renewConnections() {
        http = newClient();
    }

    ObjectNode object() {
        return JsonTrees.object();
    }

    ScheduledThreadPoolExecutor executor() {
        return executor;
    }

    long failedRequests() {
        return failedRequests.get();
    }

    /** The endpoint requests go to now. */
    URI endpoint() {
        return endpoints.get(current);
    }

    /** Moves on from the endpoint at {@code index} to the next, unless another failure moved on already. */
    void leave(final URI endpoint) {
        final int index = endpoints.indexOf(endpoint);
        if (index == current && endpoints.size() > 1) {
            current = (index + 1) % endpoints.size();
            LOG.debug("etcd endpoint {} did not answer; using {}", endpoint, endpoints.get(current));
        }
    }

    /**
     * Sends one request and waits for its answer, at most the request timeout.
     *
     * @param what the request in words, for the error message ("get /coreos.com/network/config")
     * @param path the gateway path after {@link #API} ("/kv/range")
     * @return the answer's JSON object
     * @throws EtcdUnavailableException if no endpoint answered in time, or etcd refused the request
     */
    JsonNode call(final String what, final String path, final ObjectNode body) {
        return call(what, path, body, EtcdGateway::answer);
    }

    /** Reads an HTTP answer into what the caller needs. */
    @FunctionalInterface
    interface Reader<T> {
        /**
         * @throws Refused if etcd refused the request
         * @throws ExecutionException if the answer is not etcd's
         */
        T read(Answer answer) throws Refused, ExecutionException;
    }

    /** As {@link #call(String, String, ObjectNode)}, the answer read by {@code reader} (a listing, token by token). */
    <T> T call(final String what, final String path, final ObjectNode body, final Reader<T> reader) {
        try {
            final T r = callOnce(what, path, body, reader, true, true);
            answered = true;
            if (authRefused) {
                authRefused = false;
                LOG.info("etcd accepts the user name and password of {} again", settings.username().orElse("?"));
            }
            return r;
        } catch (EtcdUnavailableException e) {
            failedRequests.incrementAndGet();
            // Only after etcd took them: refused from the start, the caller's WARN names the failure already.
            if (answered && !authRefused && settings.username().isPresent()
                && e.getMessage().contains(AUTH_FAILED)) {
                authRefused = true;
                LOG.error("etcd refuses the user name and password of etcd user {} ({}): its password was changed "
                    + "or the user removed. overlay reads --etcd-password once, at start (as flanneld does): "
                    + "restart it with the new password. Until then requests fail and are retried; the lease "
                    + "expires when renewals keep failing", settings.username().get(), e.getMessage());
            }
            throw e;
        }
    }

    /**
     * One request, on the endpoints in turn while their connections are refused.
     *
     * @param mayReauth whether a stale token may be replaced and the request sent once more
     * @param withToken whether to send the token (authenticating first when there is none): false to authenticate
     */
    private <T> T callOnce(final String what, final String path, final ObjectNode body, final Reader<T> reader,
                           final boolean mayReauth, final boolean withToken) {
        final String auth = withToken ? authToken(what) : null;
        final long deadline = System.nanoTime() + timeoutNanos;
        final byte[] bytes = bytes(body);
        Throwable refused = null;
        for (int tried = 0; tried < endpoints.size(); tried++) {
            final URI endpoint = endpoint();
            try {
                return reader.read(send(endpoint, path, bytes, auth, deadline));
            } catch (ExecutionException e) {
                final Throwable cause = e.getCause() == null ? e : e.getCause();
                leave(endpoint);
                if (notSent(cause)) {
                    refused = cause; // never carried out: the next endpoint may take it
                    continue;
                }
                throw failed(what, cause);
            } catch (Refused e) {
                if (e.code() == UNAVAILABLE) {
                    leave(endpoint);
                }
                if (mayReauth && staleToken(e.getMessage()) && settings.username().isPresent()) {
                    token.compareAndSet(auth == null ? "" : auth, null); // "": etcd had authentication off
                    return callOnce(what, path, body, reader, false, true);
                }
                throw failed(what, e);
            } catch (TimeoutException e) {
                leave(endpoint);
                throw new EtcdUnavailableException("etcd " + what + " timed out after " + settings.requestTimeout()
                    + " (endpoints " + settings.endpoints() + "): no answer; " + NO_ANSWER_CAUSES
                    + (settings.tls() ? ", or the TLS handshake fails (server certificate "
                        + "not trusted by the CA file, or a client certificate missing or refused)" : ""), e);
            }
        }
        throw failed(what, refused);
    }

    private EtcdUnavailableException failed(final String what, final Throwable cause) {
        final String described = describe(cause);
        return new EtcdUnavailableException("etcd " + what + " failed (endpoints " + settings.endpoints() + "): "
            + described + hint(cause, described), cause);
    }

    /** What the operator most likely has to look at, by the kind of failure. */
    private static String hint(final Throwable cause, final String described) {
        if (described.contains(EtcdUnavailableException.NO_SPACE_ERROR)) {
            return EtcdUnavailableException.NO_SPACE_REMEDY;
        }
        for (Throwable c = cause; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof javax.net.ssl.SSLException) {
                return "; the TLS handshake fails (server certificate not trusted by the CA file, or a client "
                    + "certificate missing or refused)";
            }
            if (c instanceof ConnectException) {
                return "; no endpoint takes connections: " + NO_ANSWER_CAUSES;
            }
        }
        return cause == null ? "; " + NO_ANSWER_CAUSES : "";
    }

    /**
     * Sends a request to the endpoint in use with the token known now, and neither waits for its answer nor reads it
     * (best effort: revoking a lease that would otherwise expire by itself).
     */
    void sendAndForget(final String path, final ObjectNode body) {
        final String t = token.get();
        http.sendAsync(request(endpoint(), path, bytes(body), t == null || t.isEmpty() ? null : t)
            .timeout(settings.requestTimeout()).build(), HttpResponse.BodyHandlers.discarding());
    }

    /** The token to send, authenticating first when there is none yet; null without a user name. */
    private String authToken(final String what) {
        if (settings.username().isEmpty()) {
            return null;
        }
        final String known = token.get();
        if (known != null) {
            return known.isEmpty() ? null : known;
        }
        final String t = callOnce(what + " (authenticating as etcd user " + settings.username().get() + ")",
            "/auth/authenticate", credentials(), EtcdGateway::token, false, false);
        token.set(t);
        return t.isEmpty() ? null : t;
    }

    private Answer send(final URI endpoint, final String path, final byte[] body, final String auth,
                        final long deadline)
        throws ExecutionException, TimeoutException {
        final long left = Math.max(1, deadline - System.nanoTime());
        final CompletableFuture<HttpResponse<Answer.Body>> f = http.sendAsync(
            request(endpoint, path, body, auth).timeout(Duration.ofNanos(left)).build(), Answer.BODY);
        try {
            return Answer.of(f.get(left, TimeUnit.NANOSECONDS));
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new EtcdUnavailableException("interrupted during etcd request " + path, e);
        } catch (java.util.concurrent.CancellationException e) {
            throw new ExecutionException(e);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw e;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof java.net.http.HttpTimeoutException
                && !(e.getCause() instanceof HttpConnectTimeoutException)) {
                throw new TimeoutException(e.getCause().getMessage());
            }
            throw e;
        }
    }

    private HttpRequest.Builder request(final URI endpoint, final String path, final byte[] body, final String auth) {
        final HttpRequest.Builder b = HttpRequest.newBuilder(endpoint.resolve(API + path))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (auth != null) {
            b.header("Authorization", auth);
        }
        return b;
    }

    private ObjectNode credentials() {
        return object().put("name", settings.username().orElse("")).put("password", settings.password().orElse(""));
    }

    /** Reads an answer to {@code /auth/authenticate}: the token, or "" when etcd has authentication off. */
    private static String token(final Answer r) throws Refused, ExecutionException {
        try {
            return answer(r).path("token").asText("");
        } catch (Refused e) {
            if (e.getMessage().contains(AUTH_NOT_ENABLED)) {
                return "";
            }
            throw e;
        }
    }

    /**
     * The token for a streaming request, without blocking (a watch opens and reopens on the client's own thread,
     * where a blocking authentication would wait on itself): the known one unless it is {@code stale}, else a new one
     * from {@code endpoint}.
     *
     * @param stale a token etcd called invalid, or null
     * @return the token to send, null for none; fails with {@link EtcdUnavailableException} if authenticating fails
     */
    CompletableFuture<String> tokenAsync(final String what, final URI endpoint, final String stale) {
        if (settings.username().isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        if (stale != null) {
            token.compareAndSet(stale, null);
        }
        final String known = token.get();
        if (known != null) {
            return CompletableFuture.completedFuture(known.isEmpty() ? null : known);
        }
        final String doing = what + " (authenticating as etcd user " + settings.username().get() + ")";
        return http.sendAsync(request(endpoint, "/auth/authenticate", bytes(credentials()), null)
                .timeout(settings.requestTimeout()).build(), Answer.BODY)
            .handle((r, e) -> {
                if (e != null) {
                    final Throwable cause = e instanceof java.util.concurrent.CompletionException
                        && e.getCause() != null ? e.getCause() : e;
                    throw cause instanceof java.net.http.HttpTimeoutException
                        && !(cause instanceof HttpConnectTimeoutException)
                        ? new EtcdUnavailableException("etcd " + doing + " timed out after "
                            + settings.requestTimeout() + " on " + endpoint + ": no answer; " + NO_ANSWER_CAUSES, cause)
                        : failed(doing, cause);
                }
                try {
                    final String t = token(Answer.of(r));
                    token.set(t);
                    return t.isEmpty() ? null : t;
                } catch (Refused | ExecutionException x) {
                    throw failed(doing, x instanceof ExecutionException && x.getCause() != null ? x.getCause() : x);
                }
            });
    }

    /**
     * Opens a streaming request (a watch) on {@code endpoint}: the answer's HTTP status goes to {@code status}, then
     * its lines to {@code lines}.
     *
     * @param auth the token to send ({@link #tokenAsync}), or null
     * @return the exchange as {@code sendAsync} returned it, completing when the stream ends
     */
    CompletableFuture<HttpResponse<Void>> stream(final URI endpoint, final String path, final ObjectNode body,
                                                 final String auth, final java.util.function.IntConsumer status,
                                                 final Flow.Subscriber<String> lines) {
        final HttpRequest r = request(endpoint, path, bytes(body), auth)
            // etcd's rpctypes.MetadataRequireLeaderKey through the gateway's metadata headers: a member that loses
            // its leader ends the watch instead of leaving it silent
            .header("Grpc-Metadata-hasleader", "true")
            .timeout(settings.requestTimeout()) // until the answer's headers; the stream itself has no deadline
            .build();
        return http.sendAsync(r, info -> {
            status.accept(info.statusCode());
            return HttpResponse.BodySubscribers.fromLineSubscriber(lines, s -> null, StandardCharsets.UTF_8, null);
        });
    }

    /**
     * Asks {@code endpoint} for its status (answered by the member alone, no consensus); completes with whether it
     * answered at all. Any HTTP answer counts: etcd 3.5.28+ and 3.6 refuse the status to users without the root role
     * (403), and a refusal still shows the member alive.
     */
    CompletableFuture<Boolean> probe(final URI endpoint, final Duration timeout) {
        final String auth = token.get();
        return http.sendAsync(request(endpoint, "/maintenance/status", "{}".getBytes(StandardCharsets.US_ASCII),
                auth == null || auth.isEmpty() ? null : auth).timeout(timeout).build(),
                HttpResponse.BodyHandlers.discarding())
            .handle((r, e) -> e == null);
    }

    /**
     * Reads an answer: the JSON object, or, for a streamed answer ({@code {"result": ...}}), its first result.
     *
     * @throws Refused if etcd refused the request
     * @throws ExecutionException if the answer is not etcd's JSON (not an etcd member, or its gateway is off)
     */
    static JsonNode answer(final Answer r) throws Refused, ExecutionException {
        final JsonNode n = parse(r.body());
        if (n == null && excerpt(r.body()).startsWith(CN_REFUSED)) {
            throw new ExecutionException(new IOException("HTTP " + r.statusCode() + " from " + r.uri() + ": "
                + excerpt(r.body()) + " " + CN_REMEDY));
        }
        if (n == null || !n.isObject()) {
            final String m = "HTTP " + r.statusCode() + " from " + r.uri() + " is not etcd's JSON ("
                + excerpt(r.body()) + "): " + NOT_GATEWAY;
            throw new ExecutionException(r.statusCode() == 404 ? new NoGateway(m) : new IOException(m));
        }
        final Refused refused = refusal(n);
        if (refused != null) {
            throw refused;
        }
        if (r.statusCode() != 200) {
            throw new ExecutionException(new IOException("HTTP " + r.statusCode() + " from " + r.uri() + ": "
                + excerpt(r.body())));
        }
        return n.has("result") ? n.get("result") : n;
    }

    /**
     * The refusal an answer or a streamed line carries: {@code {"error": "...", "code": N}} for a request,
     * {@code {"error": {"grpc_code": N, "message": "..."}}} in a stream; null if none.
     */
    static Refused refusal(final JsonNode n) {
        final JsonNode e = n.get("error");
        if (e == null) {
            return null;
        }
        if (e.isObject()) {
            return new Refused(e.path("grpc_code").asInt(2), e.path("message").asText("?"));
        }
        if (!e.isTextual() || e.asText().isEmpty()) {
            return null; // LeaseGrantResponse has an "error" string of its own, empty when granted
        }
        return new Refused(n.path("code").asInt(2), e.asText());
    }

    static JsonNode parse(final byte[] body) {
        try {
            return JsonTrees.read(body);
        } catch (IOException e) {
            return null;
        }
    }

    static JsonNode parse(final String line) {
        try {
            return JsonTrees.read(line);
        } catch (IOException e) {
            return null;
        }
    }

    private static String excerpt(final byte[] body) {
        final String s = new String(body, 0, Math.min(body.length, 200), StandardCharsets.UTF_8).strip();
        return s.isEmpty() ? "empty body" : s;
    }

    private static byte[] bytes(final ObjectNode body) {
        return JsonTrees.writeBytes(body);
    }

    /**
     * The messages along a cause chain, each distinct one once ("UNAUTHENTICATED: etcdserver: invalid auth token",
     * "ConnectException <- ..."), so a log line names what etcd or the TLS layer actually refused.
     */
    static String describe(final Throwable t) {
        if (t == null) {
            return "no endpoint answered";
        }
        final StringBuilder sb = new StringBuilder();
        int depth = 0;
        for (Throwable c = t; c != null && depth < 8; c = c.getCause() == c ? null : c.getCause(), depth++) {
            final String m = c.getMessage() == null ? c.getClass().getSimpleName()
                : c == t && c instanceof Refused ? c.getMessage() : c.getClass().getSimpleName() + ": " + c.getMessage();
            if (sb.indexOf(c.getMessage() == null ? m : c.getMessage()) < 0) {
                if (sb.length() > 0) {
                    sb.append(" <- ");
                }
                sb.append(m);
            }
        }
        return sb.toString();
    }

    /** Stops the thread; open streams are cancelled by their owners first. */
    @Override
    public void close() {
        executor.shutdownNow();
    }
}
