package io.switchboard.protocol.client;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import reactor.netty.resources.LoopResources;

/**
 * The I/O threads every {@link SwitchboardClient} of a process runs on (daemon threads named
 * {@code switchboard-client-*}): epoll where Netty's native epoll is available, else NIO.
 *
 * <p>Not reactor-netty's global loops, which choose io_uring whenever its native library is on the class path: on
 * io_uring a client sometimes missed the reset of its connection (a proxy resetting it, as a lost mobile network
 * looks) and learned of it only from its heartbeat watchdog, 35 s later, after the resume grace had run out (the
 * session and what was sent to it lost): 2 of 3,300 resets went unnoticed on io_uring, 0 of 7,100 on epoll, in a
 * test that resets connections through a proxy while messages flow to them.
 */
final class ClientLoops {
    static final EventLoopGroup GROUP = create();

    private ClientLoops() {}

    private static EventLoopGroup create() {
        IoHandlerFactory io = Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        return new MultiThreadIoEventLoopGroup(
                LoopResources.DEFAULT_IO_WORKER_COUNT, new DefaultThreadFactory("switchboard-client", true), io);
    }
}
