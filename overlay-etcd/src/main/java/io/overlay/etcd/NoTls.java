package io.overlay.etcd;

import java.security.SecureRandom;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;

/**
 * The TLS context given to the etcd client when every endpoint is {@code http://} (package-private). The JDK's HTTP
 * client otherwise builds the JVM's default TLS context when it is created, whether it ever opens a TLS connection or
 * not: about 360 classes and the CA store read and parsed, 0.6 CPU-seconds of a cold start on this repository's test
 * machine (docs/performance.md, "Start-up and memory"). This one does nothing until used, and refuses if it is.
 */
final class NoTls extends SSLContextSpi {
    /** The context; with it, pass {@code new SSLParameters()} so that the client asks it for no defaults either. */
    static final SSLContext CONTEXT = new SSLContext(new NoTls(), null, "none") {
    };

    private NoTls() {
    }

    private static UnsupportedOperationException refused() {
        return new UnsupportedOperationException("TLS to etcd is off: the etcd endpoints are http://");
    }

    @Override
    protected void engineInit(final KeyManager[] km, final TrustManager[] tm, final SecureRandom sr) {
        // nothing to set up
    }

    @Override
    protected SSLSocketFactory engineGetSocketFactory() {
        throw refused();
    }

    @Override
    protected SSLServerSocketFactory engineGetServerSocketFactory() {
        throw refused();
    }

    @Override
    protected SSLEngine engineCreateSSLEngine() {
        throw refused();
    }

    @Override
    protected SSLEngine engineCreateSSLEngine(final String host, final int port) {
        throw refused();
    }

    @Override
    protected SSLSessionContext engineGetServerSessionContext() {
        throw refused();
    }

    @Override
    protected SSLSessionContext engineGetClientSessionContext() {
        throw refused();
    }
}
