/**
 * Durable user data (issue 6): blocks and the match history, in MongoDB when {@code MONGODB_URI} is set and in
 * memory otherwise, written through a bounded buffer so that a slow or absent MongoDB never slows a match.
 */
package io.switchboard.gateway.store;
