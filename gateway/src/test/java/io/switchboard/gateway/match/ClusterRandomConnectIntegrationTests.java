package io.switchboard.gateway.match;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisExtension;
import java.util.HashMap;
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

    private TestGateway instance(String node, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(extra);
        env.put("REDIS_URL", redis.server().uri());
        env.put("SWITCHBOARD_NODE_ID", node);
        TestGateway gw = TestGateway.start(env);
        started.add(gw);
        Await.until(node + " to reach Redis", T, () -> gw.get("/health").body().contains("\"status\":\"UP\""));
        return gw;
    }
}
