package io.overlay.etcd;

import io.overlay.testing.EtcdServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl (PKCS#8 keys). */
final class TestCerts {
    private TestCerts() {
    }

    static EtcdServer.Tls create(final Path dir, final boolean requireClientCert) throws IOException,
        InterruptedException {
        final Path ext = Files.writeString(dir.resolve("server.ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
        final Path clientExt = Files.writeString(dir.resolve("client.ext"), "extendedKeyUsage=clientAuth\n");
        openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key");
        openssl(dir, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=overlay-test-ca", "-days", "2",
            "-out", "ca.pem");
        for (String who : List.of("server", "client")) {
            openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                who + ".key");
            openssl(dir, "req", "-new", "-key", who + ".key", "-subj", "/CN=" + who, "-out", who + ".csr");
            openssl(dir, "x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", (who.equals("server") ? ext : clientExt).toString(),
                "-out", who + ".pem");
        }
        return new EtcdServer.Tls(dir.resolve("ca.pem"), dir.resolve("server.pem"), dir.resolve("server.key"),
            dir.resolve("client.pem"), dir.resolve("client.key"), requireClientCert);
    }

    /**
     * Makes another client certificate and PKCS#8 key, signed by the CA {@link #create} made in {@code caDir}.
     *
     * @param caDir the directory holding {@code ca.pem} and {@code ca.key}
     * @param name the file names' stem: {@code <name>.pem}, {@code <name>.key}
     * @param days validity from now; -1 makes a certificate that expired a day ago
     * @return the certificate file (the key is next to it)
     */
    static Path clientCert(final Path caDir, final String name, final int days) throws IOException,
        InterruptedException {
        final Path clientExt = Files.writeString(caDir.resolve(name + ".ext"), "extendedKeyUsage=clientAuth\n");
        openssl(caDir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name + ".key");
        openssl(caDir, "req", "-new", "-key", name + ".key", "-subj", "/CN=" + name, "-out", name + ".csr");
        openssl(caDir, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", Integer.toString(days), "-extfile", clientExt.toString(), "-out", name + ".pem");
        return caDir.resolve(name + ".pem");
    }

    static void openssl(final Path dir, final String... args) throws IOException, InterruptedException {
        final List<String> cmd = new java.util.ArrayList<>();
        cmd.add("openssl");
        cmd.addAll(List.of(args));
        final Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        final String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + " failed: " + out);
        }
    }
}
