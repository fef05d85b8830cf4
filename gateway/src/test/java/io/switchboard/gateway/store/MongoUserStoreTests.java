package io.switchboard.gateway.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.switchboard.gateway.config.MongoConfig;
import io.switchboard.testing.Await;
import io.switchboard.testing.mongo.MongoFixture;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract against MongoDB (mongo-java-server in process, or TEST_MONGODB_URI), and the indexes. */
class MongoUserStoreTests extends UserStoreContract {
    @RegisterExtension
    static final MongoFixture.Extension mongoDb = MongoFixture.perClass();

    String database;

    @Override
    UserStore create() {
        database = MongoFixture.freshDatabase("store");
        MongoUserStore s = new MongoUserStore(new MongoConfig(mongoDb.get().uri(database), 2000, 4, 100));
        Await.until("MongoDB up", T, s::available);
        // mongo-java-server's in-memory collections are not safe against an index created while documents are
        // written (a ConcurrentModificationException in its addDocument, answered "Unknown error"); MongoDB is, so
        // the contract's writes wait for the store's start-up indexes here rather than in the store.
        Await.until("MongoDB indexes in place", T, s::indexed);
        return s;
    }

    @Test
    @DisplayName("the indexes the queries need are created at start-up")
    void indexes() {
        String uri = mongoDb.get().uri(database);
        Await.until("the indexes", T, () -> MongoIndexes.names(uri, "matches").contains("users_1_started_-1"));
        assertThat(MongoIndexes.names(uri, "blocks")).contains("user_1", "other_1");
    }
}
