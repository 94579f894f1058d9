package io.overlay.etcd;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.LongSupplier;
import org.slf4j.LoggerFactory;

/**
 * How {@link EtcdSubnetAllocator} reaches etcd and keeps its lease: an immutable record, usually made with
 * {@link #builder()}; the canonical constructor validates every component, so no invalid settings exist.
 *
 * <p>Defaults follow flanneld: endpoints {@code http://127.0.0.1:4001} and {@code http://127.0.0.1:2379} (etcd's
 * legacy and current client ports; the client uses whichever answers), prefix {@code /coreos.com/network}, lease TTL
 * 24 h ({@code subnetTTL}), renew margin 60 min ({@code --subnet-lease-renew-margin}), renewal retried every minute
 * (docs/flannel-compatibility.md#lease-ttl-and-renewal, #flags-and-environment). The public API holds JDK types
 * only.
 *
 * <p>TLS: used when the endpoints are {@code https://}; the CA file (else the JVM's trust store) verifies the servers,
 * and a client certificate with its PKCS#8 key is presented when both are set. flanneld differs: it builds its TLS
 * config only when both {@code --etcd-certfile} and {@code --etcd-keyfile} are given, silently ignoring a lone
 * {@code --etcd-cafile}; overlay refuses TLS files with {@code http://} endpoints, except a CA file set with
 * {@link Builder#flanneldCaFile}, which is ignored with a WARN, so a flanneld command line keeps working. The files
 * are checked when the allocator is created (an unusable one is an {@link IllegalArgumentException} naming it) and
 * followed while it runs: replaced files are taken without a restart (docs/operations.md#rotating-etcd-credentials).
 *
 * <p>About 510 lines, above the usual 400: seventeen public settings, each documented once here and once on its
 * validating builder setter.
 *
 * @param endpoints the etcd client URLs: one or more {@code http://host:port} or {@code https://host:port}, all of
 *     one scheme
 * @param prefix the key prefix without trailing slash, e.g. {@code /coreos.com/network}
 * @param caFile the PEM file of the CA that signed the etcd servers' certificates; empty: the JVM's trust store
 * @param certFile the client certificate PEM file, present exactly when {@code keyFile} is
 * @param keyFile the client key PEM file (PKCS#8, the one PEM key format the JDK reads)
 * @param username the etcd user name for authentication; empty: none
 * @param password the etcd password, present exactly when {@code username} is
 * @param requestTimeout the limit for one etcd request, default 5 s
 * @param connectTimeout the limit for opening a connection to an endpoint, default 5 s
 * @param leaseTtl the TTL of the etcd lease attached to this host's subnet key, whole seconds, default 24 h
 * @param renewMargin how long before expiry the lease is renewed, default 60 min, shorter than {@code leaseTtl}
 * @param renewRetryInterval the pause between renewal attempts after a failure, default 1 min
 * @param backoffMin the first pause of every capped exponential backoff (config wait, etcd errors, watch
 *     reconnect), default 100 ms
 * @param backoffMax the cap of every exponential backoff, at least {@code backoffMin}, default 5 s
 * @param resyncInterval how often all leases are listed again as a safety net behind the watch (the difference is
 *     delivered, the watch reopened from the listing's revision), default 10 min
 * @param ticker the monotonic time source for lease expiry and renewal deadlines: nanoseconds from an arbitrary
 *     origin, default {@link System#nanoTime()}
 * @param allowLeaseTakeover whether acquisition may take over a live lease that carries this host's PublicIP without
 *     evidence that it is this host's own (default false: refused with an error naming the key, the PublicIP and the
 *     holder; see {@link Builder#allowLeaseTakeover})
 */
public record EtcdSettings(List<URI> endpoints, String prefix, Optional<Path> caFile, Optional<Path> certFile,
                           Optional<Path> keyFile, Optional<String> username, Optional<String> password,
                           Duration requestTimeout, Duration connectTimeout, Duration leaseTtl, Duration renewMargin,
                           Duration renewRetryInterval, Duration backoffMin, Duration backoffMax,
                           Duration resyncInterval, LongSupplier ticker, boolean allowLeaseTakeover) {
    /** flanneld's default {@code --etcd-prefix}. */
    public static final String DEFAULT_PREFIX = "/coreos.com/network";
    /**
     * flanneld's default {@code --etcd-endpoints}, comma-separated as on its command line: etcd's legacy client port
     * 4001 and its current one 2379, both on loopback.
     */
    public static final String DEFAULT_ENDPOINTS = "http://127.0.0.1:4001,http://127.0.0.1:2379";
    /** flannel's lease TTL ({@code subnetTTL}): 24 h. */
    public static final Duration DEFAULT_LEASE_TTL = Duration.ofHours(24);
    /** flannel's default renew margin: 60 min. */
    public static final Duration DEFAULT_RENEW_MARGIN = Duration.ofMinutes(60);
    /** flannel's renewal retry interval after a failure: 1 min. */
    public static final Duration DEFAULT_RENEW_RETRY = Duration.ofMinutes(1);

    /**
     * Validates every component; the prefix loses its trailing slashes.
     *
     * @throws IllegalArgumentException if an endpoint is not an http(s) URL with host and port, endpoints mix http
     *     and https, the prefix is not absolute, TLS files are given for http endpoints or do not exist, only one of
     *     certificate and key (or of user and password) is given, a duration is not positive, the lease TTL is not
     *     whole seconds, the renew margin is not shorter than the TTL or the backoff cap is below its start
     */
    public EtcdSettings {
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("etcd endpoints: at least one is needed");
        }
        endpoints = endpoints.stream().map(u -> endpoint(u.toString())).toList();
        final String scheme = endpoints.get(0).getScheme();
        for (URI u : endpoints) {
            if (!u.getScheme().equals(scheme)) {
                throw new IllegalArgumentException("etcd endpoints mix http and https: " + endpoints);
            }
        }
        prefix = normalizedPrefix(prefix);
        if (certFile.isPresent() != keyFile.isPresent()) {
            throw new IllegalArgumentException("etcd client certificate and key go together: " + certFile + ", "
                + keyFile);
        }
        if ((caFile.isPresent() || certFile.isPresent()) && !"https".equals(scheme)) {
            throw new IllegalArgumentException("TLS files are set but the etcd endpoints use http://: "
                + endpoints + " (use https:// endpoints)");
        }
        readable("CA file", caFile);
        readable("client certificate file", certFile);
        readable("client key file", keyFile);
        if (username.isPresent() != password.isPresent() || username.filter(String::isEmpty).isPresent()) {
            throw new IllegalArgumentException("etcd user name must be non-empty and come with a password");
        }
        positive("requestTimeout", requestTimeout);
        positive("connectTimeout", connectTimeout);
        positive("leaseTtl", leaseTtl);
        positive("renewMargin", renewMargin);
        positive("renewRetryInterval", renewRetryInterval);
        positive("backoff min", backoffMin);
        positive("backoff max", backoffMax);
        positive("resyncInterval", resyncInterval);
        Objects.requireNonNull(ticker, "ticker");
        if (leaseTtl.toMillis() % 1000 != 0) {
            throw new IllegalArgumentException("leaseTtl must be whole seconds (etcd lease TTLs are), got "
                + leaseTtl);
        }
        if (renewMargin.compareTo(leaseTtl) >= 0) {
            throw new IllegalArgumentException("renewMargin " + renewMargin + " must be shorter than leaseTtl "
                + leaseTtl);
        }
        if (backoffMax.compareTo(backoffMin) < 0) {
            throw new IllegalArgumentException("backoff max " + backoffMax + " is below min " + backoffMin);
        }
    }

    /**
     * The settings without lease takeover ({@code allowLeaseTakeover} false), as before that option existed.
     *
     * @throws IllegalArgumentException as the canonical constructor
     */
    public EtcdSettings(final List<URI> endpoints, final String prefix, final Optional<Path> caFile,
                        final Optional<Path> certFile, final Optional<Path> keyFile, final Optional<String> username,
                        final Optional<String> password, final Duration requestTimeout, final Duration connectTimeout,
                        final Duration leaseTtl, final Duration renewMargin, final Duration renewRetryInterval,
                        final Duration backoffMin, final Duration backoffMax, final Duration resyncInterval,
                        final LongSupplier ticker) {
        this(endpoints, prefix, caFile, certFile, keyFile, username, password, requestTimeout, connectTimeout,
            leaseTtl, renewMargin, renewRetryInterval, backoffMin, backoffMax, resyncInterval, ticker, false);
    }

    /**
     * Returns a builder with flannel's defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the config key.
     *
     * @return {@code <prefix>/config}
     */
    public String configKey() {
        return prefix + "/config";
    }

    /**
     * Returns the prefix all subnet keys share (flannel lists and watches with it, without a trailing slash).
     *
     * @return {@code <prefix>/subnets}
     */
    public String subnetsPrefix() {
        return prefix + "/subnets";
    }

    /**
     * Returns whether the endpoints use TLS.
     *
     * @return {@code true} for {@code https://} endpoints
     */
    public boolean tls() {
        return "https".equals(endpoints.get(0).getScheme());
    }

    /** Names endpoints, prefix, TLS files, user and lease timing; never the password. */
    @Override
    public String toString() {
        return "EtcdSettings{endpoints=" + endpoints + ", prefix=" + prefix + ", tls=" + tls()
            + caFile.map(f -> ", ca=" + f).orElse("") + certFile.map(f -> ", cert=" + f).orElse("")
            + username.map(u -> ", user=" + u).orElse("") + ", leaseTtl=" + leaseTtl + ", renewMargin="
            + renewMargin + (allowLeaseTakeover ? ", allowLeaseTakeover" : "") + "}";
    }

    private static URI endpoint(final String text) {
        final URI uri;
        try {
            uri = URI.create(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("etcd endpoint is not a URL: \"" + text + "\"", e);
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
            throw new IllegalArgumentException("etcd endpoint must start with http:// or https://: \"" + text
                + "\"");
        }
        if (uri.getHost() == null || uri.getPort() < 1) {
            throw new IllegalArgumentException("etcd endpoint needs a host and a port (e.g. "
                + "http://127.0.0.1:2379): \"" + text + "\"");
        }
        return uri;
    }

    private static String normalizedPrefix(final String value) {
        String p = Objects.requireNonNull(value, "prefix").strip();
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        if (!value.strip().startsWith("/") || p.isEmpty()) {
            throw new IllegalArgumentException("etcd prefix must be an absolute key path like "
                + DEFAULT_PREFIX + ", got \"" + value + "\"");
        }
        return p;
    }

    private static void readable(final String what, final Optional<Path> file) {
        if (file.isPresent() && !Files.isReadable(file.get())) {
            throw new IllegalArgumentException(what + " " + file.get() + " does not exist or is not readable");
        }
    }

    private static Duration positive(final String name, final Duration value) {
        Objects.requireNonNull(value, name);
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(name + " must be positive, got " + value);
        }
        return value;
    }

    /** Builds {@link EtcdSettings}; every setter returns {@code this}. Not thread-safe. */
    public static final class Builder {
        private final List<URI> endpoints = new ArrayList<>();
        private String prefix = DEFAULT_PREFIX;
        private Path caFile;
        private boolean caFileAsFlanneld;
        private Path certFile;
        private Path keyFile;
        private String username;
        private String password;
        private Duration requestTimeout = Duration.ofSeconds(5);
        private Duration connectTimeout = Duration.ofSeconds(5);
        private Duration leaseTtl = DEFAULT_LEASE_TTL;
        private Duration renewMargin = DEFAULT_RENEW_MARGIN;
        private Duration renewRetryInterval = DEFAULT_RENEW_RETRY;
        private Duration backoffMin = Duration.ofMillis(100);
        private Duration backoffMax = Duration.ofSeconds(5);
        private Duration resyncInterval = Duration.ofMinutes(10);
        private LongSupplier ticker = System::nanoTime;
        private boolean allowLeaseTakeover;

        private Builder() {
            endpoints(DEFAULT_ENDPOINTS);
        }

        /**
         * Sets the etcd client URLs (replacing the default), like flanneld's comma-separated
         * {@code --etcd-endpoints}.
         *
         * @param urls one or more {@code http://host:port} or {@code https://host:port}; each may also be a
         *     comma-separated list
         * @return this builder
         * @throws IllegalArgumentException if none is given or one is not an http(s) URL with host and port
         */
        public Builder endpoints(final String... urls) {
            Objects.requireNonNull(urls, "urls");
            final List<URI> parsed = new ArrayList<>();
            for (String u : urls) {
                for (String part : Objects.requireNonNull(u, "endpoint").split(",")) {
                    final String s = part.strip();
                    if (!s.isEmpty()) {
                        parsed.add(endpoint(s));
                    }
                }
            }
            return endpoints(parsed);
        }

        /**
         * Sets the etcd client URLs (replacing the default).
         *
         * @param urls one or more {@code http://host:port} or {@code https://host:port} URIs
         * @return this builder
         * @throws IllegalArgumentException if the list is empty or one is not an http(s) URL with host and port
         */
        public Builder endpoints(final List<URI> urls) {
            if (urls.isEmpty()) {
                throw new IllegalArgumentException("etcd endpoints: at least one is needed");
            }
            final List<URI> checked = new ArrayList<>();
            for (URI u : urls) {
                checked.add(endpoint(u.toString()));
            }
            endpoints.clear();
            endpoints.addAll(checked);
            return this;
        }

        /**
         * Sets the key prefix, like flanneld's {@code --etcd-prefix}; trailing slashes are dropped (flannel joins keys
         * with Go's {@code path.Join}).
         *
         * @param value an absolute key path, e.g. {@code /coreos.com/network}
         * @return this builder
         * @throws IllegalArgumentException if it does not start with {@code /} or is only slashes
         */
        public Builder prefix(final String value) {
            this.prefix = normalizedPrefix(value);
            return this;
        }

        /**
         * Sets the CA certificate (PEM) that signed the etcd servers' certificates ({@code --etcd-cafile}). Needs
         * {@code https://} endpoints.
         *
         * @param pem the PEM file
         * @return this builder
         */
        public Builder caFile(final Path pem) {
            this.caFile = Objects.requireNonNull(pem, "caFile");
            this.caFileAsFlanneld = false;
            return this;
        }

        /**
         * Sets the CA certificate as flanneld takes {@code --etcd-cafile}: as {@link #caFile}, except that with
         * {@code http://} endpoints {@link #build()} ignores it with a WARN instead of failing (flanneld sets up TLS
         * only for a client certificate and key). For launchers that accept flanneld's command lines.
         *
         * @param pem the PEM file
         * @return this builder
         */
        public Builder flanneldCaFile(final Path pem) {
            caFile(pem);
            this.caFileAsFlanneld = true;
            return this;
        }

        /**
         * Sets the client certificate and key (PEM, the key in PKCS#8) for mutual TLS ({@code --etcd-certfile},
         * {@code --etcd-keyfile}). Needs {@code https://} endpoints.
         *
         * @param certPem the certificate chain
         * @param keyPem the private key
         * @return this builder
         */
        public Builder clientCertificate(final Path certPem, final Path keyPem) {
            this.certFile = Objects.requireNonNull(certPem, "certFile");
            this.keyFile = Objects.requireNonNull(keyPem, "keyFile");
            return this;
        }

        /**
         * Sets user name and password for etcd authentication ({@code --etcd-username}, {@code --etcd-password}).
         *
         * @param user the user name
         * @param pass the password
         * @return this builder
         * @throws IllegalArgumentException if the user name is empty
         */
        public Builder credentials(final String user, final String pass) {
            if (Objects.requireNonNull(user, "user").isEmpty()) {
                throw new IllegalArgumentException("etcd user name is empty");
            }
            this.username = user;
            this.password = Objects.requireNonNull(pass, "password");
            return this;
        }

        /**
         * Sets the limit for one etcd request.
         *
         * @param value positive
         * @return this builder
         */
        public Builder requestTimeout(final Duration value) {
            this.requestTimeout = positive("requestTimeout", value);
            return this;
        }

        /**
         * Sets the limit for opening a connection.
         *
         * @param value positive
         * @return this builder
         */
        public Builder connectTimeout(final Duration value) {
            this.connectTimeout = positive("connectTimeout", value);
            return this;
        }

        /**
         * Sets the TTL of the etcd lease attached to the subnet key (flannel: 24 h). Shorter values are for tests;
         * etcd raises a TTL below its minimum (about 2 s) to that minimum.
         *
         * @param value whole seconds, at least 1 s
         * @return this builder
         */
        public Builder leaseTtl(final Duration value) {
            this.leaseTtl = positive("leaseTtl", value);
            return this;
        }

        /**
         * Sets how long before expiry the lease is renewed (flannel's {@code --subnet-lease-renew-margin}).
         *
         * @param value positive and shorter than the lease TTL (checked in {@link #build()})
         * @return this builder
         */
        public Builder renewMargin(final Duration value) {
            this.renewMargin = positive("renewMargin", value);
            return this;
        }

        /**
         * Sets the pause between renewal attempts after a failure (flannel: 1 min).
         *
         * @param value positive
         * @return this builder
         */
        public Builder renewRetryInterval(final Duration value) {
            this.renewRetryInterval = positive("renewRetryInterval", value);
            return this;
        }

        /**
         * Sets the capped exponential backoff used while the config is missing, after etcd errors and for watch
         * reconnects (flannel: 100 ms doubling to 5 s).
         *
         * @param min the first pause, positive
         * @param max the cap, at least {@code min}
         * @return this builder
         */
        public Builder backoff(final Duration min, final Duration max) {
            positive("backoff min", min);
            positive("backoff max", max);
            if (max.compareTo(min) < 0) {
                throw new IllegalArgumentException("backoff max " + max + " is below min " + min);
            }
            this.backoffMin = min;
            this.backoffMax = max;
            return this;
        }

        /**
         * Sets how often all leases are listed again behind the watch, a safety net against a watch that went quiet
         * without an error (a stream that stalled after a reconnect).
         *
         * @param value positive
         * @return this builder
         */
        public Builder resyncInterval(final Duration value) {
            this.resyncInterval = positive("resyncInterval", value);
            return this;
        }

        /**
         * Sets the monotonic time source for lease expiry and renewal deadlines (tests inject their own).
         *
         * @param nanos returns nanoseconds from an arbitrary origin, never going backwards
         * @return this builder
         */
        public Builder ticker(final LongSupplier nanos) {
            this.ticker = Objects.requireNonNull(nanos, "ticker");
            return this;
        }

        /**
         * Lets acquisition take over a live lease that carries this host's PublicIP although nothing shows it is this
         * host's own (the launcher's {@code --allow-lease-takeover}). By default such a lease is refused: flanneld
         * reuses any lease with its PublicIP ({@code tryAcquireLease} in pkg/subnet/etcd/local_manager.go), so two
         * hosts started with one PublicIP (one NAT address for all) silently share one subnet. Evidence that needs no
         * takeover: the previous subnet (subnet.env, or the lease file) names the lease's subnet, the key has no etcd
         * lease (a reservation), or its etcd lease is gone. Use it once, for a host that lost both its subnet.env
         * and its lease file.
         *
         * @param value true to take such leases over (the holder's etcd lease is revoked; it logs a WARN)
         * @return this builder
         */
        public Builder allowLeaseTakeover(final boolean value) {
            this.allowLeaseTakeover = value;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the settings
         * @throws IllegalArgumentException if endpoints mix http and https, TLS files are given for http endpoints
         *     (except a {@link #flanneldCaFile}, then ignored) or do not exist, the lease TTL is not whole seconds, or
         *     the renew margin is not shorter than the TTL
         */
        public EtcdSettings build() {
            Path ca = caFile;
            if (ca != null && caFileAsFlanneld && !"https".equals(endpoints.get(0).getScheme())) {
                LoggerFactory.getLogger(EtcdSettings.class).warn("etcd CA file {} ignored: the etcd endpoints {} are "
                    + "not https://, and flanneld ignores --etcd-cafile then too", ca, endpoints);
                ca = null;
            }
            return new EtcdSettings(List.copyOf(endpoints), prefix, Optional.ofNullable(ca),
                Optional.ofNullable(certFile), Optional.ofNullable(keyFile), Optional.ofNullable(username),
                Optional.ofNullable(password), requestTimeout, connectTimeout, leaseTtl, renewMargin,
                renewRetryInterval, backoffMin, backoffMax, resyncInterval, ticker, allowLeaseTakeover);
        }
    }
}
