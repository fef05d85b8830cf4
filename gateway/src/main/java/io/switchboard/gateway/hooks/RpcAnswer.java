package io.switchboard.gateway.hooks;

/** The {@code rpc} hook's answer: its {@code result} (raw JSON), or the {@code error} the client gets. */
public record RpcAnswer(HookRefusal error, String result) {}
