/**
 * What a dependency (Redis, MongoDB) provides to the health report, the probe that keeps its state, and how it
 * says it is out: no more.
 */
package io.switchboard.gateway.health.spi;
