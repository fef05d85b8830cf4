/** Liveness, readiness and the health report of this instance and its dependencies. */
package io.switchboard.gateway.health;
