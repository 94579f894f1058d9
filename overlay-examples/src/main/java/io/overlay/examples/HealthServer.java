package io.overlay.examples;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.overlay.core.OverlayStatus;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * flanneld's health endpoints (flannel v0.28.9 {@code main.go}; {@code docs/flannel-compatibility.md#health-endpoints})
 * over HTTP/1.1, on the JDK's built-in server:
 * <ul>
 * <li>{@code GET /healthz}: 200, body {@code overlay is running\n}, whenever the process runs;</li>
 * <li>{@code GET /readyz}: 200 with the {@link OverlayStatus#healthLine() health line} and {@code \n} when the
 * overlay is ready, else 503 with the {@code not-ready <reason>} line.</li>
 * </ul>
 * Bodies are {@code text/plain; charset=utf-8}. Further read-only pages ({@code /metrics}, {@code /status}) can be
 * served beside them ({@link Page}). Other paths answer 404, other methods than GET and HEAD 405.
 *
 * <p>Slow clients: the JDK's server reads a request's line and headers on the thread that then serves it, so a client
 * sending its headers slowly holds a thread. Requests are therefore served by up to {@link #THREADS} daemon threads
 * (created on demand, gone after 30 s idle; further requests wait in a queue of {@link #QUEUE}, beyond it the
 * connection is closed), and a client must send its whole request within {@link #REQUEST_DEADLINE_SECONDS} seconds
 * and read its answer within {@link #RESPONSE_DEADLINE_SECONDS}, else its connection is closed. The deadlines are the
 * JDK server's {@code sun.net.httpserver.maxReqTime} and {@code maxRspTime} system properties (seconds, checked once
 * a second, read once per JVM when its first {@code HttpServer} is created): this class sets them when loaded unless
 * they are set already. So fewer than {@link #THREADS} slow clients at a time cannot delay a probe, and more can
 * delay it by at most about {@link #REQUEST_DEADLINE_SECONDS} + 1 s.
 */
public final class HealthServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HealthServer.class);
    /** The body of {@code /healthz}. */
    public static final String RUNNING = "overlay is running\n";
    /** At most this many threads serve requests. */
    public static final int THREADS = 8;
    /** At most this many accepted requests wait for a thread; further connections are closed. */
    public static final int QUEUE = 64;
    /** Seconds a client may take from its request's first byte to its last header, else it is disconnected. */
    public static final long REQUEST_DEADLINE_SECONDS = 2;
    /** Seconds a client may take to read an answer, else it is disconnected. */
    public static final long RESPONSE_DEADLINE_SECONDS = 10;
    private static final String MAX_REQ_TIME = "sun.net.httpserver.maxReqTime";
    private static final String MAX_RSP_TIME = "sun.net.httpserver.maxRspTime";

    static {
        // Read by the JDK once, when the first HttpServer of this JVM is created; a value set before wins.
        if (System.getProperty(MAX_REQ_TIME) == null) {
            System.setProperty(MAX_REQ_TIME, Long.toString(REQUEST_DEADLINE_SECONDS));
        }
        if (System.getProperty(MAX_RSP_TIME) == null) {
            System.setProperty(MAX_RSP_TIME, Long.toString(RESPONSE_DEADLINE_SECONDS));
        }
    }

    private final HttpServer server;
    private final ExecutorService executor;
    private final Supplier<OverlayStatus> status;
    private final Map<String, Page> pages;

    /**
     * A further page: always 200 with the body computed for each request.
     *
     * @param contentType the {@code Content-Type}, e.g. {@code application/json}
     * @param body computes the body; a {@link RuntimeException} answers 500 with its message
     */
    public record Page(String contentType, Supplier<String> body) {
    }

    private HealthServer(final HttpServer server, final ExecutorService executor,
                         final Supplier<OverlayStatus> status, final Map<String, Page> pages) {
        this.server = server;
        this.executor = executor;
        this.status = status;
        this.pages = pages;
    }

    /**
     * Checks a health server port: 0..65535, where 0 means any free port.
     *
     * @param what the name of the setting, for the message (e.g. {@code --healthz-port})
     * @param port the port
     * @return {@code port}
     * @throws IllegalArgumentException {@code "<what> must be 0..65535, got <port>"} if it is out of range
     */
    public static int checkPort(final String what, final int port) {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException(what + " must be 0..65535, got " + port);
        }
        return port;
    }

    /**
     * Starts serving.
     *
     * @param ip the address to listen on ({@code --healthz-ip}), e.g. {@code 0.0.0.0} or {@code 127.0.0.1}
     * @param port the TCP port ({@code --healthz-port}), 1..65535, or 0 for any free port (tests)
     * @param status where {@code /readyz} reads the overlay's state, e.g. {@code overlay::status}
     * @return the running server
     * @throws IOException if the address cannot be bound (the message names it)
     * @throws IllegalArgumentException if the port is outside 0..65535 or {@code ip} is not an address
     */
    public static HealthServer start(final String ip, final int port, final Supplier<OverlayStatus> status)
        throws IOException {
        return start(ip, port, status, Map.of());
    }

    /**
     * Starts serving {@code /healthz}, {@code /readyz} and further pages.
     *
     * @param ip the address to listen on ({@code --healthz-ip})
     * @param port the TCP port ({@code --healthz-port}), 1..65535, or 0 for any free port (tests)
     * @param status where {@code /readyz} reads the overlay's state
     * @param pages further pages by path, e.g. {@code /metrics}
     * @return the running server
     * @throws IOException if the address cannot be bound (the message names it)
     * @throws IllegalArgumentException if the port is outside 0..65535 or {@code ip} is not an address
     */
    public static HealthServer start(final String ip, final int port, final Supplier<OverlayStatus> status,
                                     final Map<String, Page> pages) throws IOException {
        Objects.requireNonNull(status, "status");
        checkPort("healthz port", port);
        final InetSocketAddress address = new InetSocketAddress(InetAddress.getByName(ip), port);
        final HttpServer server;
        try {
            server = HttpServer.create(address, 16);
        } catch (IOException e) {
            throw new IOException("cannot serve health endpoints on " + ip + ":" + port + ": " + e.getMessage(), e);
        }
        final AtomicInteger threads = new AtomicInteger();
        final ThreadPoolExecutor executor = new ThreadPoolExecutor(THREADS, THREADS, 30, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(QUEUE), r -> {
                final Thread t = new Thread(r, "overlay-healthz-" + threads.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        // a rejected request: the JDK server closes its connection (ServerImpl.Dispatcher.handle)
        executor.allowCoreThreadTimeOut(true);
        final HealthServer health = new HealthServer(server, executor, status, new TreeMap<>(pages));
        server.createContext("/", health::handle);
        server.setExecutor(executor);
        server.start();
        LOG.info("Serving {} on {}", String.join(", ", health.paths()), health.address());
        return health;
    }

    /**
     * Returns the bound address (with the actual port when 0 was asked for).
     *
     * @return the address
     */
    public InetSocketAddress address() {
        return server.getAddress();
    }

    private List<String> paths() {
        final List<String> paths = new ArrayList<>(List.of("/healthz", "/readyz"));
        paths.addAll(pages.keySet());
        return paths;
    }

    private void handle(final HttpExchange exchange) throws IOException {
        try (exchange) {
            final String method = exchange.getRequestMethod();
            final String path = exchange.getRequestURI().getPath();
            if (!method.equals("GET") && !method.equals("HEAD")) {
                exchange.getResponseHeaders().set("Allow", "GET, HEAD");
                respond(exchange, 405, "method " + method + " not allowed\n");
            } else if (path.equals("/healthz")) {
                respond(exchange, 200, RUNNING);
            } else if (path.equals("/readyz")) {
                OverlayStatus s;
                String line;
                try {
                    s = status.get();
                    line = s.healthLine();
                } catch (RuntimeException e) {
                    s = null;
                    line = "not-ready status unavailable: " + e.getMessage();
                }
                respond(exchange, s != null && s.ready() ? 200 : 503, line + "\n");
            } else if (pages.containsKey(path)) {
                final Page page = pages.get(path);
                String body;
                try {
                    body = page.body().get();
                } catch (RuntimeException e) {
                    respond(exchange, 500, "cannot compute " + path + ": " + e.getMessage() + "\n");
                    return;
                }
                respond(exchange, 200, page.contentType(), body);
            } else {
                respond(exchange, 404, "not found: " + path + " (try " + String.join(", ", paths()) + ")\n");
            }
        }
    }

    private static void respond(final HttpExchange exchange, final int code, final String body) throws IOException {
        respond(exchange, code, "text/plain; charset=utf-8", body);
    }

    private static void respond(final HttpExchange exchange, final int code, final String contentType,
                                final String body) throws IOException {
        final byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType);
        final boolean head = exchange.getRequestMethod().equals("HEAD");
        exchange.sendResponseHeaders(code, head ? -1 : bytes.length);
        if (!head) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    /** Stops serving at once and frees the port. Idempotent. */
    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
