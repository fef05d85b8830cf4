package io.switchboard.gateway.store;

import com.mongodb.ConnectionString;
import com.mongodb.reactivestreams.client.MongoClient;
import com.mongodb.reactivestreams.client.MongoClients;
import java.time.Duration;
import java.util.List;
import org.bson.Document;
import reactor.core.publisher.Flux;

/** The names of a collection's indexes in the database a MongoDB URI names, as the driver lists them. */
final class MongoIndexes {
    private static final Duration T = Duration.ofSeconds(10);

    private MongoIndexes() {}

    static List<String> names(String uri, String collection) {
        try (MongoClient client = MongoClients.create(uri)) {
            return Flux.from(client.getDatabase(new ConnectionString(uri).getDatabase())
                            .getCollection(collection)
                            .listIndexes())
                    .map(d -> ((Document) d).getString("name"))
                    .collectList()
                    .block(T);
        }
    }
}
