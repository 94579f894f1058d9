package io.overlay.etcd;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The etcd TLS files ({@code --etcd-cafile}, {@code --etcd-certfile}, {@code --etcd-keyfile}) read once into memory
 * and checked with the JDK alone (package-private): every PEM block parses, the client key is PKCS#8 and belongs to
 * the certificate (a test signature), and the dates are checked against the clock. The client is then built from these
 * bytes, not from the paths, so a file replaced between the check and the build cannot slip in unchecked.
 *
 * <p>Why check at all: the JDK's TLS set-up (a key store and an SSL context) takes a certificate and a key that do not
 * belong together, or an expired certificate, without complaint; the failure would only show as refused handshakes,
 * after the working client was dropped.
 *
 * @param ca the CA file's bytes (one or more PEM certificates), null without {@code --etcd-cafile}
 * @param cert the client certificate file's bytes (PEM chain, the client's own first), null without one
 * @param key the client key file's bytes (PEM PKCS#8), null without one
 * @param subject the client certificate's subject, or "none"
 * @param notAfter the client certificate's expiry, null without one
 * @param timeProblem what is wrong with the dates (a certificate expired or not yet valid), naming the file, else empty
 */
record TlsCredentials(byte[] ca, byte[] cert, byte[] key, String subject, Instant notAfter,
                      Optional<String> timeProblem) {
    private static final Pattern PEM = Pattern.compile(
        "-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]*?)-----END \\1-----");

    /** A TLS file is missing, unreadable, cannot be parsed, or the key does not belong to the certificate. */
    static final class InvalidException extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidException(final String message) {
            super(message);
        }
    }

    /**
     * When each TLS file was last changed, as the file the path leads to (following symlinks, so a swapped
     * Kubernetes {@code ..data} link shows) reports it: device and inode, modification time, size; or why it cannot
     * be read. Equal stamps: nothing was replaced or rewritten. Three {@code stat} calls, no reading.
     *
     * @param parts one entry per configured file, in the order CA, certificate, key
     */
    record Stamp(List<String> parts) {
        static Stamp of(final EtcdSettings s) {
            final List<String> out = new ArrayList<>(3);
            for (Optional<Path> f : List.of(s.caFile(), s.certFile(), s.keyFile())) {
                if (f.isEmpty()) {
                    continue;
                }
                try {
                    final BasicFileAttributes a = Files.readAttributes(f.get(), BasicFileAttributes.class);
                    out.add(a.fileKey() + "|" + a.lastModifiedTime().toInstant() + "|" + a.size());
                } catch (IOException e) {
                    out.add("unreadable: " + e);
                }
            }
            return new Stamp(List.copyOf(out));
        }
    }

    /**
     * Reads and checks the TLS files {@code settings} name.
     *
     * @param settings the settings naming the files (none: an empty set, the JVM's trust store and no client
     *     certificate)
     * @param now the time the certificates' dates are checked against
     * @return the files' bytes; a date problem is reported in {@link #timeProblem()}, not thrown
     * @throws InvalidException naming the file and what is wrong with it
     */
    static TlsCredentials load(final EtcdSettings settings, final Instant now) throws InvalidException {
        byte[] ca = null;
        String problem = null;
        if (settings.caFile().isPresent()) {
            final Path f = settings.caFile().get();
            ca = read("CA file", f);
            final List<X509Certificate> cas = certificates("CA file", f, ca);
            if (cas.stream().allMatch(c -> c.getNotAfter().toInstant().isBefore(now))) {
                problem = "CA file " + f + " holds only expired certificates (the last expired at "
                    + cas.stream().map(c -> c.getNotAfter().toInstant()).max(Instant::compareTo).orElseThrow() + ")";
            }
        }
        if (settings.certFile().isEmpty()) {
            return new TlsCredentials(ca, null, null, "none", null, Optional.ofNullable(problem));
        }
        final Path certFile = settings.certFile().get();
        final Path keyFile = settings.keyFile().orElseThrow();
        final byte[] cert = read("client certificate file", certFile);
        final byte[] key = read("client key file", keyFile);
        final X509Certificate leaf = certificates("client certificate file", certFile, cert).get(0);
        matches(keyFile, privateKey(keyFile, key, leaf.getPublicKey()), leaf.getPublicKey(), certFile);
        try {
            leaf.checkValidity(java.util.Date.from(now));
        } catch (CertificateExpiredException e) {
            problem = "client certificate file " + certFile + " (" + leaf.getSubjectX500Principal() + ") expired at "
                + leaf.getNotAfter().toInstant();
        } catch (CertificateNotYetValidException e) {
            problem = "client certificate file " + certFile + " (" + leaf.getSubjectX500Principal() + ") is not valid "
                + "before " + leaf.getNotBefore().toInstant() + " (check the clocks)";
        }
        return new TlsCredentials(ca, cert, key, leaf.getSubjectX500Principal().getName(),
            leaf.getNotAfter().toInstant(), Optional.ofNullable(problem));
    }

    /**
     * Reads and checks the TLS files at start: a file that cannot be used is an error; a certificate out of its dates
     * is logged at ERROR and used anyway (etcd will refuse it until the file is replaced, which the client notices,
     * see {@link ReloadingRegistry}).
     *
     * @param settings the settings naming the files
     * @return the files' contents
     * @throws IllegalArgumentException naming the file and what is wrong with it
     */
    static TlsCredentials loadAtStart(final EtcdSettings settings) {
        final TlsCredentials c;
        try {
            c = load(settings, Instant.now());
        } catch (InvalidException e) {
            throw new IllegalArgumentException("cannot set up TLS for etcd from " + settings + ": " + e.getMessage(),
                e);
        }
        c.timeProblem().ifPresent(p -> org.slf4j.LoggerFactory.getLogger(EtcdSubnetAllocator.class).error(
            "{}: etcd will refuse it; starting anyway, and the file is taken again once it is replaced", p));
        return c;
    }

    private static byte[] read(final String what, final Path f) throws InvalidException {
        try {
            final byte[] b = Files.readAllBytes(f);
            if (b.length == 0) {
                throw new InvalidException(what + " " + f + " is empty");
            }
            return b;
        } catch (IOException e) {
            throw new InvalidException(what + " " + f + " cannot be read: " + e);
        }
    }

    private static List<X509Certificate> certificates(final String what, final Path f, final byte[] pem)
        throws InvalidException {
        final List<String> blocks = blocks(pem, "CERTIFICATE");
        if (blocks.isEmpty()) {
            throw new InvalidException(what + " " + f + " cannot be parsed: no complete PEM CERTIFICATE block "
                + "(half written?)");
        }
        final List<X509Certificate> out = new ArrayList<>();
        try {
            final CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (String b : blocks) {
                final Collection<? extends java.security.cert.Certificate> cs =
                    cf.generateCertificates(new ByteArrayInputStream(Base64.getMimeDecoder().decode(b)));
                for (java.security.cert.Certificate c : cs) {
                    out.add((X509Certificate) c);
                }
            }
        } catch (CertificateException | IllegalArgumentException e) {
            throw new InvalidException(what + " " + f + " cannot be parsed: " + e.getMessage());
        }
        if (out.isEmpty()) {
            throw new InvalidException(what + " " + f + " cannot be parsed: it holds no certificate");
        }
        return out;
    }

    /**
     * The base64 bodies of the PEM blocks labelled {@code label}; text around blocks is allowed (openssl writes
     * some), a block cut short is not one, and a truncated file also fails because its trailing
     * {@code -----BEGIN} has no end.
     */
    private static List<String> blocks(final byte[] pem, final String label) {
        final String text = new String(pem, StandardCharsets.US_ASCII);
        final List<String> out = new ArrayList<>();
        final Matcher m = PEM.matcher(text);
        int end = 0;
        while (m.find()) {
            if (m.group(1).equals(label)) {
                out.add(m.group(2));
            }
            end = m.end();
        }
        if (text.indexOf("-----BEGIN", end) >= 0) {
            return List.of();
        }
        return out;
    }

    private static PrivateKey privateKey(final Path f, final byte[] pem, final PublicKey certKey)
        throws InvalidException {
        final List<String> blocks = blocks(pem, "PRIVATE KEY");
        if (blocks.size() != 1) {
            final String text = new String(pem, StandardCharsets.US_ASCII);
            final Matcher m = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----").matcher(text);
            throw new InvalidException("client key file " + f + " cannot be parsed: "
                + (m.find() && !m.group(1).equals("PRIVATE KEY")
                    ? "it holds a " + m.group(1) + ", not an unencrypted PKCS#8 PRIVATE KEY (convert it with "
                        + "openssl pkcs8 -topk8 -nocrypt)"
                    : "expected one complete PEM PRIVATE KEY block (PKCS#8; half written?)"));
        }
        final byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(blocks.get(0));
        } catch (IllegalArgumentException e) {
            throw new InvalidException("client key file " + f + " cannot be parsed: " + e.getMessage());
        }
        try {
            return KeyFactory.getInstance(certKey.getAlgorithm()).generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (GeneralSecurityException e) {
            throw new InvalidException("client key file " + f + " does not match the client certificate: it is not "
                + "a " + certKey.getAlgorithm() + " key as the certificate's (" + e.getMessage() + ")");
        }
    }

    /** Signs a few bytes with the key and verifies with the certificate's public key. */
    private static void matches(final Path keyFile, final PrivateKey key, final PublicKey pub, final Path certFile)
        throws InvalidException {
        final String alg = switch (pub.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            case "EdDSA", "Ed25519", "Ed448" -> pub.getAlgorithm();
            default -> null;
        };
        if (alg == null) {
            return; // no test signature for this algorithm; the handshake will tell
        }
        try {
            final byte[] data = "overlay etcd client key check".getBytes(StandardCharsets.US_ASCII);
            final Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(data);
            final byte[] sig = s.sign();
            final Signature v = Signature.getInstance(alg);
            v.initVerify(pub);
            v.update(data);
            if (v.verify(sig)) {
                return;
            }
        } catch (GeneralSecurityException e) {
            // not a key of this algorithm's family: a mismatch as well
        }
        throw new InvalidException("client key file " + keyFile + " does not match the client certificate "
            + certFile + " (the key is not the certificate's)");
    }

    /**
     * Builds the TLS context of the etcd client from these bytes: the CA file's certificates as the only trust
     * anchors (the JVM's trust store when there is no CA file), the client certificate chain and key when given.
     *
     * @return a TLS context; the JDK's HTTP client verifies the servers' host names against it
     * @throws GeneralSecurityException if the JDK refuses the certificates or the key (already parsed once by
     *     {@link #load}, so only on an unusual provider setup)
     */
    javax.net.ssl.SSLContext sslContext() throws GeneralSecurityException {
        javax.net.ssl.TrustManager[] trust = null;
        if (ca != null) {
            final java.security.KeyStore ks = emptyStore();
            int i = 0;
            for (X509Certificate c : parse(ca)) {
                ks.setCertificateEntry("ca-" + i++, c);
            }
            final javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
                javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            trust = tmf.getTrustManagers();
        }
        javax.net.ssl.KeyManager[] keys = null;
        if (cert != null) {
            final List<X509Certificate> chain = parse(cert);
            final byte[] der = Base64.getMimeDecoder().decode(blocks(key, "PRIVATE KEY").get(0));
            final PrivateKey pk = KeyFactory.getInstance(chain.get(0).getPublicKey().getAlgorithm())
                .generatePrivate(new PKCS8EncodedKeySpec(der));
            final java.security.KeyStore ks = emptyStore();
            final char[] none = new char[0];
            ks.setKeyEntry("client", pk, none, chain.toArray(new X509Certificate[0]));
            final javax.net.ssl.KeyManagerFactory kmf = javax.net.ssl.KeyManagerFactory.getInstance(
                javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, none);
            keys = kmf.getKeyManagers();
        }
        final javax.net.ssl.SSLContext ctx = javax.net.ssl.SSLContext.getInstance("TLS");
        ctx.init(keys, trust, null);
        return ctx;
    }

    private static java.security.KeyStore emptyStore() throws GeneralSecurityException {
        final java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
        try {
            ks.load(null, null);
        } catch (IOException e) {
            throw new GeneralSecurityException(e);
        }
        return ks;
    }

    private static List<X509Certificate> parse(final byte[] pem) throws GeneralSecurityException {
        final CertificateFactory cf = CertificateFactory.getInstance("X.509");
        final List<X509Certificate> out = new ArrayList<>();
        for (String b : blocks(pem, "CERTIFICATE")) {
            for (java.security.cert.Certificate c
                : cf.generateCertificates(new ByteArrayInputStream(Base64.getMimeDecoder().decode(b)))) {
                out.add((X509Certificate) c);
            }
        }
        return out;
    }

    /** Names the subject and expiry; never the key. */
    @Override
    public String toString() {
        return "client certificate " + subject + (notAfter == null ? "" : ", valid until " + notAfter);
    }
}
