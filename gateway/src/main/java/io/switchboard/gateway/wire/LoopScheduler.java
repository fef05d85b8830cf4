package io.switchboard.gateway.wire;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import reactor.core.Disposable;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * One I/O loop as a Reactor {@link Scheduler}: a task runs inline when already on the loop, else is queued to
 * it, and a delayed task is a timer of the loop's. What a session is confined to: its replies, its timers.
 */
final class LoopScheduler implements Scheduler {
    private final EventExecutor loop;
    private final Scheduler inline;

    LoopScheduler(EventExecutor loop) {
        this.loop = loop;
        this.inline = Schedulers.fromExecutor(task -> {
            if (loop.inEventLoop()) {
                task.run();
            } else {
                loop.execute(task);
            }
        });
    }

    @Override
    public Disposable schedule(Runnable task) {
        return inline.schedule(task);
    }

    @Override
    public Disposable schedule(Runnable task, long delay, TimeUnit unit) {
        ScheduledFuture<?> timer = loop.schedule(task, delay, unit);
        return () -> timer.cancel(false);
    }

    @Override
    public Worker createWorker() {
        return inline.createWorker();
    }

    @Override
    public void dispose() {
        inline.dispose();
    }

    @Override
    public boolean isDisposed() {
        return inline.isDisposed();
    }
}
