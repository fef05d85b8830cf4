package io.switchboard.gateway.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.switchboard.gateway.support.EventRecorder;
import io.switchboard.gateway.support.TestGateway;
import io.switchboard.protocol.CloseCodes;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import io.switchboard.protocol.client.SwitchboardClient;
import io.switchboard.testing.Await;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** {@code GET /metrics}: the gateway's meters in Prometheus text format (docs/protocol.md section 9). */
class MetricsIntegrationTests {
    private TestGateway gw;

    @AfterEach
    void stop() {
        if (gw != null) {
            gw.close();
        }
    }

    /** One scrape: each sample's value by its series ({@code name} or {@code name{k="v",...}}), and each TYPE. */
    private record Scrape(String text, Map<String, Double> samples, Map<String, String> types) {
        private static final Pattern SAMPLE =
                Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*\\})?\\s+(\\S+)(\\s+\\d+)?$");
        private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

        static Scrape parse(String text) {
            Map<String, Double> samples = new HashMap<>();
            Map<String, String> types = new HashMap<>();
            for (String line : text.split("\n")) {
                if (line.isBlank()) {
                    continue;
                }
                if (line.startsWith("# TYPE ")) {
                    String[] parts = line.substring("# TYPE ".length()).trim().split("\\s+");
                    types.put(parts[0], parts[1]);
                    continue;
                }
                if (line.startsWith("#")) {
                    continue;
                }
                Matcher m = SAMPLE.matcher(line.trim());
                if (!m.matches()) {
                    throw new AssertionError("not a Prometheus sample line: " + line);
                }
                samples.put(series(m.group(1), m.group(2)), parseValue(m.group(3)));
            }
            return new Scrape(text, samples, types);
        }

        /** The series key with labels sorted, so that {@code value} does not depend on their order. */
        private static String series(String name, String labels) {
            if (labels == null || labels.equals("{}")) {
                return name;
            }
            Matcher m = LABEL.matcher(labels);
            TreeMap<String, String> sorted = new TreeMap<>();
            while (m.find()) {
                sorted.put(m.group(1), m.group(2));
            }
            StringBuilder b = new StringBuilder(name).append('{');
            sorted.forEach((k, v) -> b.append(k).append("=\"").append(v).append("\","));
            b.setLength(b.length() - 1);
            return b.append('}').toString();
        }

        private static double parseValue(String v) {
            return switch (v) {
                case "+Inf" -> Double.POSITIVE_INFINITY;
                case "-Inf" -> Double.NEGATIVE_INFINITY;
                case "NaN" -> Double.NaN;
                default -> Double.parseDouble(v);
            };
        }

        boolean has(String series) {
            return samples.containsKey(series);
        }

        /** The value of {@code series}; fails when the scrape does not have it. */
        double value(String series) {
            Double v = samples.get(series);
            if (v == null) {
                throw new AssertionError("no series " + series + " in the scrape:\n" + text);
            }
            return v;
        }

        double valueOr(String series, double fallback) {
            return samples.getOrDefault(series, fallback);
        }
    }

    private Scrape scrape() {
        HttpResponse<String> res = gw.get("/metrics");
        assertThat(res.statusCode()).isEqualTo(200);
        return Scrape.parse(res.body());
    }

    @Test
    @DisplayName("section 9: GET /metrics is Prometheus text with connection, frame, error, latency and channel meters")
    void metricsAfterTraffic() {
        gw = TestGateway.start();
        SwitchboardClient reader = gw.connect();
        EventRecorder readerEvents = EventRecorder.of(reader);
        SwitchboardClient writer = gw.connect();
        EventRecorder writerEvents = EventRecorder.of(writer);
        reader.subscribe("public:metrics").block(TestGateway.TIMEOUT);
        assertThat(writer.publish("public:metrics", "{\"n\":1}")
                        .block(TestGateway.TIMEOUT)
                        .offset())
                .isEqualTo(1);
        assertThat(readerEvents.next(ServerFrame.Message.class).offset()).isEqualTo(1);
        writer.sendText("{not json");
        assertThat(writerEvents.next(ServerFrame.Error.class).code()).isEqualTo(ErrorCodes.BAD_REQUEST);
        SwitchboardClient rejected = gw.open();
        assertThatThrownBy(() -> TestGateway.hello(rejected, "not-a-token"));
        assertThat(rejected.closed().block(TestGateway.TIMEOUT).code()).isEqualTo(CloseCodes.UNAUTHORIZED);

        // the server counts a close when its side of the connection is gone, which may follow the client's view
        Await.until("the 4001 close to be counted and two connections to remain", TestGateway.TIMEOUT, () -> {
            Scrape s = scrape();
            return s.valueOr("switchboard_connections_closed_total{code=\"4001\"}", 0) >= 1
                    && s.valueOr("switchboard_connections", -1) == 2;
        });
        HttpResponse<String> res = gw.get("/metrics");
        assertThat(res.statusCode()).isEqualTo(200);
        assertThat(res.headers().firstValue("Content-Type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith("text/plain"));
        Scrape s = Scrape.parse(res.body());

        assertThat(s.types())
                .containsEntry("switchboard_connections", "gauge")
                .containsEntry("switchboard_publish_to_write_seconds", "summary");
        assertThat(s.value("switchboard_connections")).isEqualTo(2);
        assertThat(s.value("switchboard_connections_opened_total")).isEqualTo(3);
        assertThat(s.value("switchboard_connections_closed_total{code=\"4001\"}"))
                .isEqualTo(1);
        assertThat(s.value("switchboard_connections_closed_total{code=\"1000\"}"))
                .isZero();
        assertThat(s.value("switchboard_frames_in_total{type=\"publish\"}")).isGreaterThanOrEqualTo(1);
        assertThat(s.value("switchboard_frames_in_total{type=\"hello\"}")).isGreaterThanOrEqualTo(3);
        assertThat(s.value("switchboard_frames_out_total{type=\"message\"}")).isGreaterThanOrEqualTo(1);
        assertThat(s.value("switchboard_errors_total{code=\"bad_request\"}")).isGreaterThanOrEqualTo(1);
        assertThat(s.value("switchboard_errors_total{code=\"unauthorized\"}")).isGreaterThanOrEqualTo(1);
        assertThat(s.value("switchboard_publish_to_write_seconds_count")).isGreaterThanOrEqualTo(1);
        assertThat(s.value("switchboard_publish_to_write_seconds_sum")).isGreaterThan(0);
        assertThat(s.value("switchboard_slow_consumer_closes_total")).isZero();
        assertThat(s.value("switchboard_channels")).isGreaterThanOrEqualTo(1);
        assertThat(s.value("switchboard_history_messages")).isEqualTo(1);
    }

    @Test
    @DisplayName("section 9: GET /metrics of an idle gateway has every meter at zero")
    void idleGatewayStartsAtZero() {
        gw = TestGateway.start();
        Scrape s = scrape();
        assertThat(s.value("switchboard_connections")).isZero();
        assertThat(s.value("switchboard_connections_opened_total")).isZero();
        assertThat(s.value("switchboard_frames_in_total{type=\"publish\"}")).isZero();
        assertThat(s.value("switchboard_frames_out_total{type=\"message\"}")).isZero();
        assertThat(s.value("switchboard_errors_total{code=\"bad_request\"}")).isZero();
        assertThat(s.value("switchboard_slow_consumer_closes_total")).isZero();
        assertThat(s.value("switchboard_channels")).isZero();
        assertThat(s.value("switchboard_history_messages")).isZero();
    }
}
