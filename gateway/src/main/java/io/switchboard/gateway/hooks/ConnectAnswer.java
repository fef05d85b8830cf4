package io.switchboard.gateway.hooks;

import java.util.List;

/**
 * The {@code connect} hook's answer: a refusal, or what the connection becomes: its user (null: unchanged), its
 * {@code info} (raw JSON; null: unchanged), the channel patterns added to its rights, and the channels the server
 * subscribes it to before the {@code welcome}.
 */
public record ConnectAnswer(
        HookRefusal refusal,
        String user,
        String info,
        List<String> subscribe,
        List<String> publish,
        List<String> channels) {
    public ConnectAnswer {
        subscribe = List.copyOf(subscribe);
        publish = List.copyOf(publish);
        channels = List.copyOf(channels);
    }

    static ConnectAnswer refused(HookRefusal refusal) {
        return new ConnectAnswer(refusal, null, null, List.of(), List.of(), List.of());
    }
}
