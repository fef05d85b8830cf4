package io.switchboard.matchmaking;

import java.util.List;

/**
 * Two users just matched.
 *
 * @param match the match id ({@code m_...})
 * @param initiator the user that makes the WebRTC offer (the one that waited longer)
 * @param other the other user
 * @param shared the interests both gave (possibly empty)
 * @param initiatorWaitedMs how long the initiator had waited in the queue
 * @param otherWaitedMs how long the other had waited
 */
public record Pairing(
        String match, String initiator, String other, List<String> shared, long initiatorWaitedMs, long otherWaitedMs) {
    public Pairing {
        shared = List.copyOf(shared);
    }
}
