package io.switchboard.gateway.hooks;

/**
 * The {@code subscribe} or {@code publish} hook's answer: a refusal, or allowed; a publish's {@code data} is the
 * replacement of what the client published (raw JSON), null to publish it as it is.
 */
public record Verdict(HookRefusal refusal, String data) {
    /** Allowed, unchanged: what a request the hooks do not cover gets. */
    public static final Verdict ALLOW = new Verdict(null, null);

    public boolean allowed() {
        return refusal == null;
    }
}
