package io.overlay.etcd;

/**
 * An etcd request failed or timed out (endpoint down, no quorum, TLS or auth refused). The message names the request
 * and the endpoints (package-private: callers retry with backoff, nothing leaks to the public API).
 */
final class EtcdUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    EtcdUnavailableException(final String message, final Throwable cause) {
        super(message, cause);
    }
}
