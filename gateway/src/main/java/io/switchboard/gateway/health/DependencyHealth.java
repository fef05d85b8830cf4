package io.switchboard.gateway.health;

/**
 * What one dependency's check found.
 *
 * @param up whether it answers
 * @param latencyMs how long the check took, or -1 when it did not answer
 * @param detail the cause when down, in words a person can act on; null when up
 */
public record DependencyHealth(boolean up, long latencyMs, String detail) {
}
