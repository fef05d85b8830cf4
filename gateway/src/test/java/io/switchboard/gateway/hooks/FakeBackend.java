package io.switchboard.gateway.hooks;

import com.fasterxml.jackson.databind.JsonNode;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.switchboard.protocol.FrameCodec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;

/**
 * The application's backend as a test plays it: a real HTTP server on a free loopback port that answers
 * {@code POST /hooks/<hook>} as the test says (by default: allowed, or an empty result), and keeps every call.
 */
final class FakeBackend implements AutoCloseable {
    /** One hook call as the backend received it. */
    record Call(String hook, JsonNode body, HttpHeaders headers) {}

    /** What the backend answers: an HTTP status and a body. */
    record Reply(int status, String body) {}

    private final DisposableServer server;
    private final Map<String, Function<Call, Mono<Reply>>> answers = new ConcurrentHashMap<>();
    private final List<Call> calls = new CopyOnWriteArrayList<>();

    FakeBackend() {
        server = HttpServer.create()
                .host("127.0.0.1")
                .port(0)
                .route(r -> r.post("/hooks/{hook}", (req, res) -> {
                    String hook = req.param("hook");
                    HttpHeaders headers = req.requestHeaders().copy();
                    return req.receive()
                            .aggregate()
                            .asString()
                            .defaultIfEmpty("")
                            .flatMap(text -> {
                                Call call = new Call(hook, parse(text), headers);
                                calls.add(call);
                                return answers.getOrDefault(hook, FakeBackend::allow)
                                        .apply(call);
                            })
                            .flatMap(reply -> res.status(HttpResponseStatus.valueOf(reply.status()))
                                    .header(HttpHeaderNames.CONTENT_TYPE, "application/json")
                                    .sendString(Mono.just(reply.body()))
                                    .then());
                }))
                .bindNow(Duration.ofSeconds(10));
    }

    /** The base URL to give as {@code SWITCHBOARD_HOOK_URL}. */
    String url() {
        return "http://127.0.0.1:" + server.port() + "/hooks";
    }

    /** From now on {@code hook} is answered by {@code answer}. */
    void on(String hook, Function<Call, Mono<Reply>> answer) {
        answers.put(hook, answer);
    }

    /** From now on {@code hook} is answered 200 with {@code json}. */
    void answer(String hook, String json) {
        on(hook, call -> ok(json));
    }

    static Mono<Reply> ok(String json) {
        return Mono.just(new Reply(200, json));
    }

    static Mono<Reply> allow(Call call) {
        return ok(call.hook().equals("rpc") ? "{\"result\":{}}" : "{\"allow\":true}");
    }

    /** Every call so far, in order. */
    List<Call> calls() {
        return List.copyOf(calls);
    }

    /** The calls of {@code hook} so far, in order. */
    List<Call> calls(String hook) {
        return calls.stream().filter(c -> c.hook().equals(hook)).toList();
    }

    private static JsonNode parse(String text) {
        try {
            return FrameCodec.mapper().readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        server.disposeNow(Duration.ofSeconds(5));
    }
}
