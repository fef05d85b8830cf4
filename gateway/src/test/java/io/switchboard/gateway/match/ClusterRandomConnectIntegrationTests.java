package io.switchboard.gateway.match;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.testing.redis.RedisExtension;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The random-connect tests with the two users on two instances sharing one redis-server (issue 4). */
class ClusterRandomConnectIntegrationTests extends RandomConnectIntegrationTests {
    @RegisterExtension
    static final RedisExtension redis = RedisExtension.plain();

    @Override
    protected List<TestGateway> gateways(Map<String, String> env) {
        TestGateway a = instance("gw-a", env);
        TestGateway b = instance("gw-b", env);
        return List.of(a, b);
    }

    private TestGateway instance(String node, Map<String, String> env) {
        TestGateway gw = TestGateway.startClustered(redis.server().uri(), node, env);
        started.add(gw);
        return gw;
    }
}
