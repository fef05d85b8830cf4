package io.switchboard.gateway.wire;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutor;
import io.switchboard.gateway.config.IoTransport;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import reactor.core.scheduler.Scheduler;

/**
 * The gateway's I/O threads, owned here and shut down in {@link #close()}. Every connection lives on one loop
 * and all of its state is touched only there; the loops are numbered so that fan-out can hand each loop its
 * subscribers in one task, and each loop has a Reactor {@link Scheduler} that runs inline when already on it
 * and runs timers on it. The loops accept connections too: one group serves the whole server.
 */
public final class EventLoops implements AutoCloseable {
    private final IoTransport transport;
    private final EventLoopGroup group;
    private final EventExecutor[] loops;
    private final Scheduler[] schedulers;

    /** {@code threads} loops on the best transport this machine has ({@link IoTransport#AUTO}). */
    public EventLoops(String prefix, int threads) {
        this(prefix, threads, IoTransport.AUTO);
    }

    /** {@code threads} loops on {@code wanted}, resolved ({@link IoTransport#resolve()}); it must be available. */
    public EventLoops(String prefix, int threads, IoTransport wanted) {
        transport = wanted.resolve();
        IoHandlerFactory io = switch (transport) {
            case IO_URING -> IoUringIoHandler.newFactory();
            case EPOLL -> EpollIoHandler.newFactory();
            case NIO, AUTO -> NioIoHandler.newFactory();
        };
        group = new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(prefix, true), io);
        List<EventExecutor> list = new ArrayList<>();
        group.iterator().forEachRemaining(list::add);
        loops = list.toArray(EventExecutor[]::new);
        schedulers = new Scheduler[loops.length];
        for (int i = 0; i < loops.length; i++) {
            schedulers[i] = new LoopScheduler(loops[i]);
        }
    }

    /** The group to run a server on (reactor-netty picks the channel type that matches its transport). */
    public EventLoopGroup group() {
        return group;
    }

    /** The transport the loops use: io_uring, epoll or NIO. */
    public IoTransport transport() {
        return transport;
    }

    public int count() {
        return loops.length;
    }

    public EventExecutor loop(int index) {
        return loops[index];
    }

    public Scheduler scheduler(int index) {
        return schedulers[index];
    }

    /** The number of {@code loop}, or -1 when it is not one of these (a client's or a test's loop). */
    public int indexOf(EventLoop loop) {
        for (int i = 0; i < loops.length; i++) {
            if (loops[i] == loop) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public void close() {
        for (Scheduler s : schedulers) {
            s.dispose();
        }
        group.shutdownGracefully(0, 10, TimeUnit.SECONDS).awaitUninterruptibly(15, TimeUnit.SECONDS);
    }
}
