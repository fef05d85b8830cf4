package io.switchboard.testing.redis;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A test CA and a server certificate it signed for {@code 127.0.0.1} and {@code localhost}, as PEM files that
 * redis-server, redis-cli and Lettuce read. Made with {@code openssl} when it is on PATH, otherwise with the JDK's
 * {@code keytool} (a minimal Debian image has no openssl binary). EC P-256 keys, valid for two days.
 */
record TestCertificates(Path caCertificate, Path serverCertificate, Path serverKey) {
    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(30);
    private static final String CA_NAME = "CN=Switchboard test CA";
    private static final String SERVER_NAME = "CN=localhost";
    private static final String STORE_PASSWORD = "switchboard-test";

    /** Certificate generation, as a seam so that a test can make them with either tool. */
    @FunctionalInterface
    interface Maker {
        TestCertificates make(Path dir);
    }

    static TestCertificates create(Path dir) {
        return Commands.find("openssl", System.getenv("PATH")).isPresent() ? withOpenssl(dir) : withKeytool(dir);
    }

    static TestCertificates withOpenssl(Path dir) {
        Path openssl = Commands.find("openssl", System.getenv("PATH"))
                .orElseThrow(() -> new IllegalStateException("openssl not found on PATH: install the Debian package"
                        + " openssl, or let TestCertificates.create fall back to keytool"));
        Path config = dir.resolve("openssl.cnf");
        write(config, """
                [req]
                distinguished_name = dn
                [dn]
                [ca]
                basicConstraints = critical,CA:TRUE
                keyUsage = critical,keyCertSign,cRLSign
                subjectKeyIdentifier = hash
                [server]
                basicConstraints = critical,CA:FALSE
                keyUsage = critical,digitalSignature
                extendedKeyUsage = serverAuth
                subjectAltName = IP:127.0.0.1,DNS:localhost
                subjectKeyIdentifier = hash
                authorityKeyIdentifier = keyid
                """);
        TestCertificates files = in(dir);
        Path caKey = dir.resolve("ca.key");
        Path request = dir.resolve("server.csr");
        String bin = openssl.toString();
        Commands.check(
                List.of(
                        bin,
                        "req",
                        "-x509",
                        "-new",
                        "-config",
                        config.toString(),
                        "-extensions",
                        "ca",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-keyout",
                        caKey.toString(),
                        "-out",
                        files.caCertificate().toString(),
                        "-days",
                        "2",
                        "-subj",
                        "/" + CA_NAME),
                TOOL_TIMEOUT);
        Commands.check(
                List.of(
                        bin,
                        "req",
                        "-new",
                        "-config",
                        config.toString(),
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-keyout",
                        files.serverKey().toString(),
                        "-out",
                        request.toString(),
                        "-subj",
                        "/" + SERVER_NAME),
                TOOL_TIMEOUT);
        Commands.check(
                List.of(
                        bin,
                        "x509",
                        "-req",
                        "-in",
                        request.toString(),
                        "-CA",
                        files.caCertificate().toString(),
                        "-CAkey",
                        caKey.toString(),
                        "-set_serial",
                        "0x" + Long.toHexString(ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE)),
                        "-days",
                        "2",
                        "-extfile",
                        config.toString(),
                        "-extensions",
                        "server",
                        "-out",
                        files.serverCertificate().toString()),
                TOOL_TIMEOUT);
        return files;
    }

    static TestCertificates withKeytool(Path dir) {
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        if (!Files.isExecutable(keytool)) {
            throw new IllegalStateException("neither openssl on PATH nor " + keytool + " is available to make the"
                    + " test certificates: install the Debian package openssl, or run the tests on a full JDK");
        }
        TestCertificates files = in(dir);
        Path caStore = dir.resolve("ca.p12");
        Path serverStore = dir.resolve("server.p12");
        Path request = dir.resolve("server.csr");
        keytool(
                keytool,
                "-genkeypair",
                "-keystore",
                caStore,
                "-alias",
                "ca",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-dname",
                CA_NAME,
                "-validity",
                "2",
                "-ext",
                "bc:c=ca:true",
                "-ext",
                "ku:c=keyCertSign,cRLSign");
        keytool(
                keytool,
                "-genkeypair",
                "-keystore",
                serverStore,
                "-alias",
                "server",
                "-keyalg",
                "EC",
                "-groupname",
                "secp256r1",
                "-dname",
                SERVER_NAME,
                "-validity",
                "2");
        keytool(keytool, "-certreq", "-keystore", serverStore, "-alias", "server", "-file", request);
        keytool(
                keytool,
                "-gencert",
                "-keystore",
                caStore,
                "-alias",
                "ca",
                "-infile",
                request,
                "-outfile",
                files.serverCertificate(),
                "-rfc",
                "-validity",
                "2",
                "-ext",
                "san=ip:127.0.0.1,dns:localhost",
                "-ext",
                "eku=serverAuth",
                "-ext",
                "ku:c=digitalSignature");
        keytool(keytool, "-exportcert", "-keystore", caStore, "-alias", "ca", "-rfc", "-file", files.caCertificate());
        try (InputStream in = Files.newInputStream(serverStore)) {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(in, STORE_PASSWORD.toCharArray());
            byte[] pkcs8 = store.getKey("server", STORE_PASSWORD.toCharArray()).getEncoded();
            write(
                    files.serverKey(),
                    "-----BEGIN PRIVATE KEY-----\n"
                            + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(pkcs8)
                            + "\n-----END PRIVATE KEY-----\n");
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException(
                    "cannot read the server key from " + serverStore + ": " + e.getMessage(), e);
        }
        return files;
    }

    /** A TLS context that trusts only {@link #caCertificate()}. */
    SSLContext clientContext() {
        try (InputStream in = Files.newInputStream(caCertificate)) {
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            trusted.setCertificateEntry(
                    "ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(trusted);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            return context;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot trust the test CA " + caCertificate + ": " + e.getMessage(), e);
        }
    }

    private static TestCertificates in(Path dir) {
        return new TestCertificates(dir.resolve("ca.crt"), dir.resolve("server.crt"), dir.resolve("server.key"));
    }

    private static void keytool(Path keytool, Object... args) {
        List<String> command =
                new ArrayList<>(List.of(keytool.toString(), "-storetype", "PKCS12", "-storepass", STORE_PASSWORD));
        for (Object arg : args) {
            command.add(arg.toString());
        }
        Commands.check(command, TOOL_TIMEOUT);
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
