package io.overlay.examples;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/**
 * {@code overlay health}: asks a running overlay's {@code /readyz} (see {@link HealthServer}) and prints its line,
 * {@code ready <bridge>:<address> subnet:<address>/<len> mtu:<mtu>} or {@code not-ready <reason>}. Exit status 0 when
 * ready, 1 otherwise (not ready, nothing listening, timeout). Connect timeout 2 s, whole request 5 s.
 */
@Command(name = "health", mixinStandardHelpOptions = true, versionProvider = OverlayVersion.class,
    description = {"Query /readyz of a running overlay and print its health line.",
        "Exit status 0 when ready, 1 when not ready or unreachable."})
public final class HealthCommand implements Callable<Integer> {
    /** Exit status when ready. */
    public static final int READY = 0;
    /** Exit status when not ready or unreachable. */
    public static final int NOT_READY = 1;

    @Spec
    private CommandSpec spec;

    @Mixin
    private HealthzTarget target;

    @Override
    public Integer call() {
        final PrintWriter out = spec.commandLine().getOut();
        final PrintWriter err = spec.commandLine().getErr();
        final Optional<URI> where = target.uri("overlay health", "/readyz", err);
        if (where.isEmpty()) {
            return NOT_READY;
        }
        final URI uri = where.get();
        final Result r = query(uri);
        out.println(r.line());
        out.flush();
        return r.ready() ? READY : NOT_READY;
    }

    /**
     * The answer of {@code /readyz}.
     *
     * @param ready whether it answered 200
     * @param line the line to print: the body's first line, or {@code not-ready <why>} when it could not be asked
     */
    public record Result(boolean ready, String line) {
    }

    /**
     * Queries a {@code /readyz} URL.
     *
     * @param uri e.g. {@code http://127.0.0.1:8471/readyz}
     * @return the result; never throws for network errors (they become a {@code not-ready cannot reach <uri>: <why>}
     *     line; nothing listening reads "connection refused (is OverlayMain running with --healthz-port N?)")
     */
    public static Result query(final URI uri) {
        final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2))
            .version(HttpClient.Version.HTTP_1_1).build();
        try {
            final HttpResponse<String> rsp = client.send(
                HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).GET().build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            final String body = rsp.body().strip();
            final String first = body.isEmpty() ? "" : body.lines().findFirst().orElse("");
            if (rsp.statusCode() == 200) {
                return new Result(true, first);
            }
            return new Result(false, first.startsWith("not-ready") ? first
                : "not-ready " + uri + " answered HTTP " + rsp.statusCode());
        } catch (ConnectException e) {
            return new Result(false, "not-ready cannot reach " + uri + ": connection refused (is OverlayMain running "
                + "with --healthz-port " + uri.getPort() + "?)");
        } catch (HttpTimeoutException e) {
            return new Result(false, "not-ready cannot reach " + uri + ": no answer within "
                + (e instanceof HttpConnectTimeoutException ? "2 s (connect)" : "5 s"));
        } catch (IOException e) {
            return new Result(false, "not-ready cannot reach " + uri + ": "
                + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, "not-ready interrupted while asking " + uri);
        }
    }
}
