package io.switchboard.gateway.support;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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
import io.switchboard.gateway.presence.MemoryPresence;
import io.switchboard.gateway.presence.PresenceService;
import io.switchboard.gateway.session.KeyedTokenBuckets;
import io.switchboard.gateway.session.LocalSessionRegistry;
import io.switchboard.gateway.session.SessionContext;
import io.switchboard.gateway.store.MemoryUserStore;
import io.switchboard.gateway.store.StoreWriter;
import io.switchboard.matchmaking.MatchmakerSettings;
import io.switchboard.matchmaking.MemoryMatchmaker;
import java.time.Clock;
import java.util.function.LongSupplier;
import reactor.core.scheduler.Scheduler;

/**
 * What a {@code Session} needs, made as the embedded gateway makes it (memory registry, matchmaker and stores), for
 * the unit tests of a session and of its connection; the caller gives the channels, so that it can choose the broker.
 *
 * @param context the session's context
 * @param matches the random-connect service in it, for the caller to close
 */
public record MemorySessions(SessionContext context, MatchService matches) {

    /**
     * @param nanoTime the clock of the registry, the history and the rate limits (a virtual one in unit tests)
     * @param matchScheduler where random connect runs its work
     */
    public static MemorySessions create(
            GatewayConfig config,
            ChannelService channels,
            GatewayMetrics metrics,
            Ids ids,
            LongSupplier nanoTime,
            Scheduler matchScheduler) {
        LocalSessionRegistry registry = new LocalSessionRegistry(30_000, nanoTime);
        MemoryUserStore store = new MemoryUserStore(100);
        MatchService matches = new MatchService(
                new MemoryMatchmaker(
                        new MatchmakerSettings(5_000, 3, 30_000, 10_000, 1_000, 10), System::currentTimeMillis),
                channels,
                "gw-test",
                30_000,
                matchScheduler,
                new SimpleMeterRegistry(),
                store,
                new StoreWriter(store, 100, new SimpleMeterRegistry()),
                EventService.disabled());
        PresenceService presence = new PresenceService(
                new MemoryPresence(config.presenceEventsMax()),
                registry::size,
                matches::waiting,
                30_000,
                matchScheduler,
                nanoTime,
                new SimpleMeterRegistry());
        SessionContext context = new SessionContext(
                config,
                new Authenticator(config.jwtSecret()),
                new ResumeTokens(config.effectiveResumeSecret(), Clock.systemUTC()),
                registry,
                channels,
                new InboxService(channels, registry::isConnected),
                matches,
                presence,
                metrics,
                ids,
                nanoTime,
                new KeyedTokenBuckets(100, 100, 100, nanoTime),
                Hooks.none(),
                EventService.disabled());
        return new MemorySessions(context, matches);
    }
}
