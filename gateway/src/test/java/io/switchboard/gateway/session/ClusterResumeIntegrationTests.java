package io.switchboard.gateway.session;

import io.switchboard.gateway.support.TestGateway;
import io.switchboard.testing.Await;
import io.switchboard.testing.redis.RedisExtension;
import java.util.HashMap;
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
