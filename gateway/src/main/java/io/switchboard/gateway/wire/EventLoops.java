package io.switchboard.gateway.wire;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import reactor.core.scheduler.Scheduler;
import reactor.netty.resources.LoopResources;

/**
 * The gateway's I/O threads, owned here and shut down in {@link #close()}. Every connection lives on one loop
 * and all of its state is touched only there; the loops are numbered so that fan-out can hand each loop its
 * subscribers in one task, and each loop has a Reactor {@link Scheduler} that runs inline when already on it
 * and runs timers on it.
 */
public final class EventLoops implements AutoCloseable {
    private final LoopResources resources;
    private final EventExecutor[] loops;
    private final Scheduler[] schedulers;

    public EventLoops(String prefix, int threads) {
        resources = LoopResources.create(prefix, 1, threads, true);
        EventLoopGroup group = resources.onServer(true);
        List<EventExecutor> list = new ArrayList<>();
        group.iterator().forEachRemaining(list::add);
        loops = list.toArray(EventExecutor[]::new);
        schedulers = new Scheduler[loops.length];
        for (int i = 0; i < loops.length; i++) {
            schedulers[i] = new LoopScheduler(loops[i]);
        }
    }

    public LoopResources resources() {
        return resources;
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
        resources.disposeLater(Duration.ZERO, Duration.ofSeconds(10)).block(Duration.ofSeconds(15));
    }
}
