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

    /** A short name of the kind of failure, to log once per kind rather than once per attempt. */
    String kind() {
        return noSpace() ? "NOSPACE" : "unavailable";
    }
}
