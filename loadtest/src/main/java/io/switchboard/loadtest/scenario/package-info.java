/**
 * The scenarios of the benchmark runner, entered through {@link io.switchboard.loadtest.scenario.Scenarios}: idle
 * and connect ({@code Connections}), fan-out ({@code FanOut}), reconnect storm ({@code Storm}), Gatling
 * ({@code GatlingScenarios}) and random connect (the {@code match} package). Each starts what it measures with
 * {@code cluster} and drives it with {@code wire} (or the Java client, or Gatling). No {@code main}.
 */
package io.switchboard.loadtest.scenario;
