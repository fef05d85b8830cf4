package io.switchboard.testing.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.SslOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.switchboard.testing.Await;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

/** {@link RedisServer} and {@link RedisExtension} give tests a real, empty Redis that Lettuce reaches. */
class RedisServerFixtureTests {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    @Test
    void lettuceSetsAndGetsOnThePlainServer() {
        RedisClient client = client(redis.server().uri());
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            assertThat(connection.sync().set("greeting", "hello")).isEqualTo("OK");
            assertThat(connection.sync().get("greeting")).isEqualTo("hello");
            assertThat(redis.server().cli("GET", "greeting")).isEqualTo("hello");
        } finally {
            client.shutdown();
        }
        assertThat(redis.server().uri())
                .isEqualTo("redis://127.0.0.1:" + redis.server().port());
    }

    @RepeatedTest(2)
    void everyTestStartsWithAnEmptyServer() {
        assertThat(redis.server().cli("DBSIZE")).isEqualTo("0");
        redis.server().cli("SET", "left-by-a-test", "1");
    }

    @Test
    void tlsServerAnswersPingOverRedissWithItsCaTrusted() {
        try (RedisServer server = RedisServer.startTls()) {
            assertThat(server.uri()).isEqualTo("rediss://127.0.0.1:" + server.port());
            RedisClient client = tlsClient(server);
            try (StatefulRedisConnection<String, String> connection = client.connect()) {
                assertThat(connection.sync().ping()).isEqualTo("PONG");
            } finally {
                client.shutdown();
            }
            assertThat(server.cli("PING")).isEqualTo("PONG");
        }
    }

    @Test
    void plainConnectionToTheTlsPortFails() {
        try (RedisServer server = RedisServer.startTls()) {
            RedisClient client = client("redis://127.0.0.1:" + server.port());
            try {
                assertThatThrownBy(client::connect).isInstanceOf(RedisConnectionException.class);
            } finally {
                client.shutdown();
            }
        }
    }

    @Test
    void keytoolCertificatesServeTlsWhereOpensslIsMissing() {
        try (RedisServer server = RedisServer.startTls(TestCertificates::withKeytool)) {
            RedisClient client = tlsClient(server);
            try (StatefulRedisConnection<String, String> connection = client.connect()) {
                assertThat(connection.sync().ping()).isEqualTo("PONG");
            } finally {
                client.shutdown();
            }
        }
    }

    @Test
    void killFailsCommandsAndRestartBringsBackAnEmptyServerOnTheSamePort() {
        try (RedisServer server = RedisServer.start()) {
            int port = server.port();
            RedisClient client = client(server.uri());
            client.setOptions(ClientOptions.builder()
                    .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                    .socketOptions(
                            SocketOptions.builder().connectTimeout(TIMEOUT).build())
                    .build());
            try (StatefulRedisConnection<String, String> connection = client.connect()) {
                connection.sync().set("before-the-crash", "1");

                server.kill();
                assertThat(server.isRunning()).isFalse();
                Await.until("Lettuce to see the connection drop", TIMEOUT, () -> !connection.isOpen());
                assertThatThrownBy(() -> connection.sync().get("before-the-crash"))
                        .isInstanceOf(RedisException.class);

                server.restart();
                assertThat(server.isRunning()).isTrue();
                assertThat(server.port()).isEqualTo(port);
                try (StatefulRedisConnection<String, String> fresh = client.connect()) {
                    assertThat(fresh.sync().get("before-the-crash")).isNull();
                    assertThat(fresh.sync().dbsize()).isZero();
                }
            } finally {
                client.shutdown();
            }
        }
    }

    @Test
    void closeStopsTheProcess() throws IOException {
        RedisServer server = RedisServer.start();
        int port = server.port();
        server.close();
        assertThat(server.isRunning()).isFalse();
        try (Socket socket = new Socket()) {
            assertThatThrownBy(() -> socket.connect(new InetSocketAddress("127.0.0.1", port), 1000))
                    .isInstanceOf(ConnectException.class);
        }
    }

    @Test
    void processIsTheServersOwnAndItsExitCodeIsKnownOnceItExitsByItself() {
        try (RedisServer server = RedisServer.start()) {
            ProcessHandle process = server.process().orElseThrow();
            assertThat(server.cli("INFO", "server")).contains("process_id:" + process.pid());
            assertThat(process.info().totalCpuDuration()).isPresent();
            assertThat(server.exitCode()).isEmpty();

            process.destroy(); // SIGTERM: redis-server shuts down by itself, with status 0
            Await.until("redis-server to exit", TIMEOUT, () -> !server.isRunning());
            assertThat(server.exitCode()).hasValue(0);
            assertThat(server.process()).hasValue(process);

            server.kill();
            assertThat(server.process()).isEmpty();
            assertThat(server.exitCode()).isEmpty();
        }
    }

    @Test
    void aLogOutsideTheDirectoryGetsTheOutputAndOutlivesClose(@TempDir Path logs) throws IOException {
        Path log = logs.resolve("redis.log");
        RedisServer server = RedisServer.start(log);
        assertThat(server.log()).isEqualTo(log);
        server.close();
        assertThat(Files.readString(log)).contains("Ready to accept connections");
    }

    @Test
    void missingRedisServerFailsInOneLineThatSaysHowToInstallItWhenBinariesAreRequired() {
        assertThatThrownBy(() -> Commands.redisServer("/nonexistent-bin", true))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("redis-server not found on PATH: install the Debian package redis-server"
                        + " (./scripts/test does this)");
    }

    @Test
    void missingRedisServerSkipsTheTestWithThatLineOtherwise() {
        assertThatThrownBy(() -> Commands.redisServer("/nonexistent-bin", false))
                .isInstanceOf(TestAbortedException.class)
                .hasMessage("redis-server not found on PATH: install the Debian package"
                        + " redis-server (./scripts/test does this) (skipped; -Dswitchboard.requireBinaries=true"
                        + " makes this a failure)");
    }

    private static RedisClient client(String uri) {
        RedisURI redisUri = RedisURI.create(uri);
        redisUri.setTimeout(TIMEOUT);
        return RedisClient.create(redisUri);
    }

    private static RedisClient tlsClient(RedisServer server) {
        RedisClient client = client(server.uri());
        client.setOptions(ClientOptions.builder()
                .sslOptions(SslOptions.builder()
                        .jdkSslProvider()
                        .trustManager(server.caCertificate().toFile())
                        .build())
                .build());
        return client;
    }
}
