package io.overlay.etcd;

/**
 * An etcd request failed or timed out (endpoint down, no quorum, TLS or auth refused, NOSPACE alarm). The message names
 * the request and the endpoints (package-private: callers retry with backoff, nothing leaks to the public API).
 */
final class EtcdUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** etcd's {@code ErrGRPCNoSpace}, code RESOURCE_EXHAUSTED (etcdserver/api/v3rpc/rpctypes/error.go at v3.4.23). */
    static final String NO_SPACE_ERROR = "etcdserver: mvcc: database space exceeded";

    /**
     * Appended to a request refused with {@link #NO_SPACE_ERROR}: which alarm it is and what the operator does about
     * it, after etcd's Documentation/op-guide/maintenance.md ("Space quota", v3.4).
     */
    static final String NO_SPACE_REMEDY = "; etcd's NOSPACE alarm is raised: its database reached "
        + "--quota-backend-bytes (2 GiB by default), and until the alarm is disarmed etcd refuses every write and "
        + "lease grant (reads, watches and lease renewals still work). Free space, then disarm: etcdctl compact "
        + "<current revision> (etcdctl endpoint status -w json shows it); etcdctl defrag (on every member); "
        + "etcdctl alarm disarm";

    EtcdUnavailableException(final String message, final Throwable cause) {
        super(message, cause);
    }

    /** Returns whether etcd refused the request because its NOSPACE alarm is raised. */
    boolean noSpace() {
        return getMessage() != null && getMessage().contains(NO_SPACE_ERROR);
    }

    /**
     * A short name of the kind of failure, to log once per kind rather than once per attempt: {@code NOSPACE}, {@code
     * no answer} (the request's deadline), the status code etcd refused the request with ({@link EtcdGateway.Refused}:
     * gRPC's code names, which etcd's JSON gateway reports as numbers: {@code UNAVAILABLE}, {@code UNAUTHENTICATED},
     * {@code PERMISSION_DENIED}, ...), else {@code unavailable}. Finer than "etcd failed" so
     * that a wait which began with etcd down and goes on because etcd now refuses this agent (its role lost its
     * permission, its password changed) says so at WARN, not only at DEBUG.
     */
    String kind() {
        if (noSpace()) {
            return "NOSPACE";
        }
        Throwable c = getCause();
        for (int depth = 0; c != null && depth < 8; c = c.getCause() == c ? null : c.getCause(), depth++) {
            if (c instanceof java.util.concurrent.TimeoutException) {
                return "no answer";
            }
            final java.util.regex.Matcher m = c.getMessage() == null ? null : GRPC_CODE.matcher(c.getMessage());
            if (m != null && m.lookingAt()) {
                return m.group(1);
            }
        }
        return "unavailable";
    }

    /** A refusal's message starts with its status code's name ({@link EtcdGateway.Refused}: gRPC's codes). */
    private static final java.util.regex.Pattern GRPC_CODE = java.util.regex.Pattern.compile("([A-Z][A-Z_]{3,})(:|$)");
}
