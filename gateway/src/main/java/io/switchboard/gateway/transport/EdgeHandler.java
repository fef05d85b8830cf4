package io.switchboard.gateway.transport;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * One connection's edge, between the HTTP codec and reactor-netty: the deadline for a complete request head
 * (from the connection's arrival, or from the end of the previous response on a keep-alive connection, where the
 * idle time is allowed too) and then for its body, and the answer of a connection that {@link EdgeGuard} refused. The deadline is armed
 * and cancelled here only; once the connection is a WebSocket the handler leaves the pipeline.
 */
final class EdgeHandler extends ChannelDuplexHandler {
    private final EdgeGuard guard;
    private final long headerTimeoutMs;
    private final long idleTimeoutMs;
    private ScheduledFuture<?> deadline;
    private long deadlineMs;
    private boolean started;
    private boolean attributed;
    private boolean refusing;
    private EdgeGuard.Refusal refusal;
    /** Requests read whose response has not ended. */
    private int inFlight;

    EdgeHandler(EdgeGuard guard, long headerTimeoutMs, long idleTimeoutMs) {
        this.guard = guard;
        this.headerTimeoutMs = headerTimeoutMs;
        this.idleTimeoutMs = idleTimeoutMs;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        if (ctx.channel().isActive() && ctx.channel().isRegistered()) {
            start(ctx);
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        start(ctx);
        ctx.fireChannelActive();
    }

    private void start(ChannelHandlerContext ctx) {
        if (started) {
            return;
        }
        started = true;
        refusal = guard.admit(ctx.channel());
        arm(ctx, refusal == null ? headerTimeoutMs : Math.min(headerTimeoutMs, EdgeGuard.REFUSED_WAIT_MS));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (refusing) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpRequest request) {
            cancel();
            if (request.decoderResult().cause() instanceof PrematureChannelClosureException) {
                // the client left in the middle of a request head: nothing to answer, nothing to log
                ReferenceCountUtil.release(msg);
                return;
            }
            inFlight++;
            if (request.decoderResult().isFailure()) {
                refusing = true;
                ReferenceCountUtil.release(msg);
                refuse(
                        ctx,
                        guard.malformed(ctx.channel(), request.decoderResult().cause()));
                return;
            }
            if (refusal == null && !attributed) {
                attributed = true;
                refusal = guard.attribute(ctx.channel(), request);
            }
            if (refusal != null && !(refusal.reason().equals("max_connections") && isHealth(request))) {
                refusing = true;
                ReferenceCountUtil.release(msg);
                guard.refusing(refusal);
                refuse(ctx, refusal);
                return;
            }
            if (!(msg instanceof LastHttpContent)) {
                arm(ctx, headerTimeoutMs); // for the body
            }
        } else if (msg instanceof LastHttpContent) {
            cancel();
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof HttpResponse res && res.status().code() == HttpResponseStatus.SWITCHING_PROTOCOLS.code()) {
            cancel();
            ctx.write(msg, promise);
            ctx.pipeline().remove(this);
            return;
        }
        if (msg instanceof HttpResponse res && res.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
            ctx.write(msg, promise); // 100 Continue: the request goes on, its response is still to come
            return;
        }
        if (msg instanceof LastHttpContent && inFlight > 0 && --inFlight == 0 && !refusing) {
            arm(ctx, idleTimeoutMs + headerTimeoutMs);
        }
        ctx.write(msg, promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancel();
    }

    private void arm(ChannelHandlerContext ctx, long ms) {
        cancel();
        deadlineMs = ms;
        deadline = ctx.executor()
                .schedule(
                        () -> {
                            deadline = null;
                            if (ctx.channel().isActive()) {
                                guard.requestTimedOut(ctx.channel(), deadlineMs);
                                ctx.close();
                            }
                        },
                        ms,
                        TimeUnit.MILLISECONDS);
    }

    private void cancel() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }

    /**
     * Whether this is a health check, which is served even at the instance's connection cap (from the descriptors
     * kept in reserve), so that a full instance is not taken for a dead one and restarted.
     */
    private static boolean isHealth(HttpRequest request) {
        String uri = request.uri();
        return uri.equals("/health") || uri.startsWith("/health/") || uri.startsWith("/health?");
    }

    /** Answers {@code r} and closes; the rest of the request is read and dropped meanwhile. */
    private static void refuse(ChannelHandlerContext ctx, EdgeGuard.Refusal r) {
        FullHttpResponse res = new DefaultFullHttpResponse(
                HttpVersion.HTTP_1_1, r.status(), Unpooled.copiedBuffer(r.message() + "\n", StandardCharsets.UTF_8));
        res.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                .set(HttpHeaderNames.CONTENT_LENGTH, res.content().readableBytes())
                .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        if (r.retryAfterSeconds() > 0) {
            res.headers().set(HttpHeaderNames.RETRY_AFTER, r.retryAfterSeconds());
        }
        ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    }
}
