/**
 * The random-connect benchmark, {@link io.switchboard.loadtest.match.MatchBenchmark}: guests of the Java client
 * looping through join, match, signal and leave on two gateways through Redis. The runner's {@code match} scenario
 * calls it; its {@code main} runs it alone with options the runner does not pass ({@code --mode next},
 * {@code --no-signal}, {@code --interests}, {@code --max-errors}, {@code --stuck-after}).
 */
package io.switchboard.loadtest.match;
