package io.switchboard.matchmaking;

import java.util.List;
import reactor.core.publisher.Mono;

/**
 * Random connect's state and rules (docs/protocol.md section 6), shared by every instance: who waits, who is matched
 * with whom, recent partners and blocks. Pairing is fair (the longest-waiting compatible user first), prefers a
 * shared interest until {@code interestWait} has passed for both, and never pairs a user with itself, with two
 * partners at once, with one of its last {@code avoidRecent} partners left by {@code next} or {@code leave}, or
 * with a user it blocked or that blocked it. Every operation is atomic; its {@link Outcome} says what happened so
 * that the caller can tell the users.
 *
 * <p>{@code session} identifies one connection of a user: a drop of an older connection never touches the state
 * of a newer one. {@code node} is the instance that holds the connection; entries of an instance whose lease ran
 * out are released.
 *
 * <p>What a user makes the matchmaker hold is bounded and freed: interests by the caller, recent partners by
 * {@code avoidRecent}, blocks by {@link MatchmakerSettings#maxBlocks}. A user whose connection dropped (or whose
 * instance died) and who has not come back within {@code resumeGrace} is <em>gone</em>: the next {@link #sweep}
 * after that forgets it, its recent partners and the blocks it made or had loaded included. Blocks are durable in
 * the caller's store, which loads them again ({@link #restoreBlock}) when the user connects again.
 *
 * <p>The pairings and endings an operation makes reach the users only through its {@link Outcome}, and a caller
 * may never get it although the change was made (a reply lost to a timeout, a caller that died): so each stays
 * pending until the caller confirms that its events are in the users' inboxes ({@link #announced}), and
 * {@link #unannounced} hands out again those not confirmed in time. The users may get such an event twice.
 */
public interface Matchmaker extends AutoCloseable {

    /** Queues {@code user}, or matches it at once; {@link Outcome#CONFLICT} when already queued or matched. */
    Mono<Outcome> join(String user, String session, String node, List<String> interests);

    /** Ends the user's match (reason {@code next}) and queues it again; just queues it when it had none. */
    Mono<Outcome> next(String user, String session, String node);

    /** Leaves the queue, or ends the match (reason {@code left}); {@link Outcome#IDLE} afterwards either way. */
    Mono<Outcome> leave(String user);

    /** The partner in match {@code match} if it is the user's current match, else {@link Outcome#NOTHING}. */
    Mono<Outcome> partnerOf(String user, String match);

    /**
     * {@code user} and {@code other} are never matched again (while {@code user} is not gone); a current match
     * between them ends (left). {@link Outcome#TOO_MANY} (and nothing changes) when {@code user} already blocked
     * {@link MatchmakerSettings#maxBlocks} others; blocking one of them again is not a new block.
     */
    Mono<Outcome> block(String user, String other);

    /**
     * A block the store holds between {@code user} and {@code other}, in either direction, loaded when
     * {@code user} connects: it takes effect like {@link #block} until {@code user} is gone, but does not count
     * toward the limit and ends no match.
     */
    Mono<Outcome> restoreBlock(String user, String other);

    /**
     * The user's connection {@code session} dropped: a queued user leaves the queue at once; a matched user
     * keeps its match for the grace period ({@link Outcome#partner} is to be told {@code reconnecting}). Unless it
     * returns within the grace, the user is gone and forgotten by a later sweep.
     */
    Mono<Outcome> dropped(String user, String session);

    /**
     * The user connected (again) as {@code session} on {@code node}: from now on a drop of an older session is
     * ignored; a match kept through a drop goes on ({@link Outcome#partner} is to be told {@code back}).
     */
    Mono<Outcome> returned(String user, String session, String node);

    /** The grace after a drop of {@code session} ran out: if the user did not return, its match ends. */
    Mono<Outcome> expire(String user, String session);

    /**
     * Periodic work: pairs users whose interest wait has passed, releases queue entries of dead instances, ends
     * matches of users on dead instances whose grace ran out, and forgets users who are gone.
     */
    Mono<Outcome> sweep();

    /**
     * The events of {@code outcome}'s pairings ({@code match.found} to both users) and endings ({@code match.ended}
     * to the partner) are in the users' inboxes: they are not handed out again by {@link #unannounced}.
     */
    Mono<Void> announced(Outcome outcome);

    /**
     * Pairings and endings whose events were not confirmed ({@link #announced}) within
     * {@link MatchmakerSettings#announceTimeoutMs} of being made or last handed out, to be announced again; each is
     * handed out to one caller at a time, at most {@link MatchmakerSettings#ANNOUNCE_ATTEMPTS} times. A pairing
     * whose match has ended is not handed out any more, nor an ending whose partner is gone.
     */
    Mono<Outcome> unannounced();

    /** This instance ({@code node}) is alive; called every second or so. */
    Mono<Void> renewLease(String node);

    /** Users waiting now. */
    Mono<Long> queueLength();
}
