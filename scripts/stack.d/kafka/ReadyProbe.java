// Readiness probe for the local Kafka: a transactional produce followed by a read_committed consume.
// Run as a single-file source program (java ReadyProbe.java BOOTSTRAP) with the broker's jars on the classpath.
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.*;

public class ReadyProbe {
    static final String TOPIC = "__paystream_readiness";

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        common.put("request.timeout.ms", "5000");
        common.put("default.api.timeout.ms", "10000");
        try (Admin admin = Admin.create(common)) {
            try {
                admin.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1))).all().get();
            } catch (java.util.concurrent.ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
        }
        String token = UUID.randomUUID().toString();
        Properties p = new Properties();
        p.putAll(common);
        p.put("transactional.id", "paystream-readiness-probe");
        p.put("max.block.ms", "15000");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(TOPIC, "probe", token)).get();
            producer.commitTransaction();
        }
        Properties c = new Properties();
        c.putAll(common);
        c.put("isolation.level", "read_committed");
        c.put("enable.auto.commit", "false");
        TopicPartition tp = new TopicPartition(TOPIC, 0);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + 20000;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    if (token.equals(r.value())) {
                        System.out.println("kafka ready: transactional round trip ok at offset " + r.offset());
                        return;
                    }
                }
            }
        }
        System.err.println("kafka not ready: committed record not visible to a read_committed consumer within 20 s");
        System.exit(1);
    }
}
