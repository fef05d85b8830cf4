package io.switchboard.gateway.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.api.InstanceOfAssertFactories.STRING;

import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/** The backend's settings (docs/protocol.md section 11): read, defaulted, and refused with one line naming each. */
class HookConfigUnitTests {
    private static final String SECRET = "webhook-secret-webhook-secret-0123456789";

    private static HookConfig read(Map<String, String> env) {
        return GatewayConfig.fromEnvironment(env).hooks();
    }

    private static ConfigException refused(Map<String, String> env) {
        return catchThrowableOfType(ConfigException.class, () -> GatewayConfig.fromEnvironment(env));
    }

    @Test
    @DisplayName("nothing set: no hook proxied, no events")
    void offByDefault() {
        HookConfig h = read(Map.of());
        assertThat(h.url()).isNull();
        assertThat(HookConfig.HOOK_NAMES).noneMatch(h::proxies);
        assertThat(h.webhooks()).isFalse();
        assertThat(h.timeoutMs()).isEqualTo(1000);
        assertThat(h.webhookBacklog()).isEqualTo(100_000);
    }

    @Test
    @DisplayName("SWITCHBOARD_HOOK_URL alone proxies all four hooks; SWITCHBOARD_HOOKS picks some; a trailing / goes")
    void urlAndHooks() {
        HookConfig all = read(Map.of("SWITCHBOARD_HOOK_URL", "http://app:3000/sb/"));
        assertThat(all.url()).hasToString("http://app:3000/sb");
        assertThat(HookConfig.HOOK_NAMES).allMatch(all::proxies);
        HookConfig some = read(Map.of("SWITCHBOARD_HOOK_URL", "https://app", "SWITCHBOARD_HOOKS", " RPC, connect "));
        assertThat(some.hooks()).isEqualTo(Set.of("rpc", "connect"));
        assertThat(some.proxies("publish")).isFalse();
    }

    @Test
    @DisplayName("SWITCHBOARD_HOOK_CHANNELS: unset covers every channel but public:; set, exactly its patterns")
    void channels() {
        HookConfig def = read(Map.of("SWITCHBOARD_HOOK_URL", "http://app"));
        assertThat(def.covers("room:1")).isTrue();
        assertThat(def.covers("public:lobby")).isFalse();
        HookConfig set =
                read(Map.of("SWITCHBOARD_HOOK_URL", "http://app", "SWITCHBOARD_HOOK_CHANNELS", "room:*,public:x"));
        assertThat(set.covers("room:1")).isTrue();
        assertThat(set.covers("public:x")).isTrue();
        assertThat(set.covers("public:y")).isFalse();
        assertThat(set.covers("chat:1")).isFalse();
    }

    @Test
    @DisplayName("bad settings are refused, one line each naming the variable and what is expected")
    void refusals() {
        assertThat(refused(Map.of("SWITCHBOARD_HOOK_URL", "ftp://app")).problems())
                .singleElement(STRING)
                .startsWith("SWITCHBOARD_HOOK_URL=ftp://app")
                .contains("http://");
        assertThat(refused(Map.of("SWITCHBOARD_HOOK_URL", "http://app", "SWITCHBOARD_HOOKS", "connect,login"))
                        .problems())
                .singleElement(STRING)
                .contains("'login' is not a hook");
        assertThat(refused(Map.of("SWITCHBOARD_HOOKS", "rpc")).problems())
                .singleElement(STRING)
                .startsWith("SWITCHBOARD_HOOKS is set but SWITCHBOARD_HOOK_URL is not");
        assertThat(refused(Map.of("SWITCHBOARD_WEBHOOK_URL", "http://app/events"))
                        .problems())
                .singleElement(STRING)
                .contains("SWITCHBOARD_WEBHOOK_SECRET is not");
        assertThat(refused(Map.of(
                                "SWITCHBOARD_WEBHOOK_URL", "http://app/events", "SWITCHBOARD_WEBHOOK_SECRET", "short"))
                        .problems())
                .singleElement(STRING)
                .startsWith("SWITCHBOARD_WEBHOOK_SECRET is 5 bytes long");
        assertThat(refused(Map.of("SWITCHBOARD_WEBHOOK_SECRET", SECRET)).problems())
                .singleElement(STRING)
                .startsWith("SWITCHBOARD_WEBHOOK_SECRET is set but SWITCHBOARD_WEBHOOK_URL is not");
        assertThat(refused(Map.of("SWITCHBOARD_HOOK_URL", "http://app", "SWITCHBOARD_HOOK_CHANNELS", "bad channel*"))
                        .problems())
                .singleElement(STRING)
                .contains("not a channel pattern");
    }

    @Test
    @DisplayName("the start-up lines mask the hook key and the webhook secret")
    void secretsMasked() {
        GatewayConfig c = GatewayConfig.fromEnvironment(Map.of(
                "SWITCHBOARD_HOOK_URL", "http://app",
                "SWITCHBOARD_HOOK_KEY", "hook-key-123",
                "SWITCHBOARD_WEBHOOK_URL", "http://app/events",
                "SWITCHBOARD_WEBHOOK_SECRET", SECRET));
        assertThat(c.describe().toString()).doesNotContain("hook-key-123").doesNotContain(SECRET);
        assertThat(c.describe().get("SWITCHBOARD_HOOKS")).isEqualTo("connect,subscribe,publish,rpc");
    }
}
