package io.switchboard.gateway.session;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.testing.redis.RedisExtension;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The resume tests with the resumed connection landing on another instance (through Redis). */
class ClusterResumeIntegrationTests extends ResumeIntegrationTests {
    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    @Override
    protected List<TestGateway> gateways(Map<String, String> env) {
        return List.of(instance("gw-a", env), instance("gw-b", env));
    }

    private TestGateway instance(String node, Map<String, String> env) {
        TestGateway gw = TestGateway.startClustered(redis.server().uri(), node, env);
        started.add(gw);
        return gw;
    }
}
