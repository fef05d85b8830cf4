package io.switchboard.gateway.config;

import java.util.List;

/** Configuration that cannot be used; {@link #problems()} holds one line per bad setting. */
public final class ConfigException extends RuntimeException {
    private final List<String> problems;

    public ConfigException(List<String> problems) {
        super(String.join("; ", problems));
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
