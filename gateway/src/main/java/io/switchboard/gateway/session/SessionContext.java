package io.switchboard.gateway.session;

import io.switchboard.gateway.auth.Authenticator;
import io.switchboard.gateway.auth.ResumeTokens;
import io.switchboard.gateway.channel.ChannelService;
import io.switchboard.gateway.config.GatewayConfig;
import io.switchboard.gateway.events.EventService;
import io.switchboard.gateway.hooks.Hooks;
import io.switchboard.gateway.id.Ids;
import io.switchboard.gateway.inbox.InboxService;
import io.switchboard.gateway.match.MatchService;
import io.switchboard.gateway.metrics.GatewayMetrics;
import io.switchboard.gateway.presence.PresenceService;
import io.switchboard.protocol.Limits;
import java.util.function.LongSupplier;

/** What every session shares: configuration and the services it calls (the backend's hooks too). Built once by the gateway. */
public record SessionContext(
        GatewayConfig config,
        Authenticator authenticator,
        ResumeTokens resumeTokens,
        SessionRegistry registry,
        ChannelService channels,
        InboxService inbox,
        MatchService matches,
        PresenceService presence,
        GatewayMetrics metrics,
        Ids ids,
        LongSupplier nanoTime,
        KeyedTokenBuckets userConnects,
        Hooks hooks,
        EventService events) {

    /** The limits announced in {@code welcome}. */
    public Limits limits() {
        return new Limits(config.maxFrame(), config.rate(), config.burst(), config.maxSubscriptions());
    }
}
