package io.switchboard.gateway.session;

import io.switchboard.gateway.auth.Identity;
import io.switchboard.gateway.config.HookConfig;
import io.switchboard.gateway.hooks.Hooks;
import io.switchboard.protocol.ClientFrame;
import io.switchboard.protocol.ErrorCodes;
import io.switchboard.protocol.ServerFrame;
import reactor.core.publisher.Mono;

/**
 * A session's {@code rpc} requests (docs/backend.md): each goes to the backend's {@code rpc} hook, and its
 * {@code result} comes back in the {@code ack}, or its {@code error} as the {@code error} frame. Without the hook,
 * {@code rpc} answers {@code unknown_type}, as a gateway that predates it does: one code tells a client that this
 * gateway does not serve it.
 */
final class RpcRequests {
    private final Session session;
    private final Hooks hooks;
    private final Replies replies;

    RpcRequests(Session session, Hooks hooks, Replies replies) {
        this.session = session;
        this.hooks = hooks;
        this.replies = replies;
    }

    /** Answers {@code frame} if it is an {@code rpc}; null if it is not. */
    Mono<Void> handle(Identity identity, ClientFrame frame) {
        if (!(frame instanceof ClientFrame.Rpc rpc)) {
            return null;
        }
        if (!hooks.proxies(HookConfig.RPC)) {
            replies.error(
                    rpc.id(),
                    ErrorCodes.UNKNOWN_TYPE,
                    "rpc is not served by this gateway: its operator sets SWITCHBOARD_HOOK_URL, with rpc among"
                            + " SWITCHBOARD_HOOKS, to proxy it to the application's backend");
            return Mono.empty();
        }
        return replies.then(
                rpc.id(),
                "rpc " + rpc.method(),
                hooks.rpc(identity.userId(), session.id(), rpc.method(), rpc.data()),
                answer -> {
                    if (!session.isOpen()) {
                        return Mono.empty();
                    }
                    if (answer.error() != null) {
                        replies.refused(rpc.id(), answer.error());
                    } else {
                        replies.answer(rpc.id(), id -> new ServerFrame.RpcAck(id, answer.result()));
                    }
                    return Mono.empty();
                });
    }
}
