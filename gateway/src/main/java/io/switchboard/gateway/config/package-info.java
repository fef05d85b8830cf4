/** The gateway's configuration: one immutable record read from the environment and validated as a whole. */
package io.switchboard.gateway.config;
