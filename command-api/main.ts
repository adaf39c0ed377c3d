import { createEventPublisher } from '../shared/events/publisher.ts';
import { EventCodec } from '../shared/events/codec.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { createMetrics } from '../shared/metrics.ts';
import { runService } from '../shared/service.ts';
import { buildCommandApp } from './app.ts';
import { loadCommandApiConfig } from './config.ts';

await runService('command-api', loadCommandApiConfig, async (config, logger) => {
  const kafka = createKafka('command-api', config.kafkaBrokers, logger);
  const registry = EventCodec.connect(config.registryUrl);
  const codec = await EventCodec.forWriting(registry, config.topics);
  const publisher = createEventPublisher(kafka, codec, logger, { ackTimeoutMs: config.ackTimeoutMs, lingerMs: config.lingerMs, maxBatchEvents: config.maxBatchEvents });
  await publisher.connect();
  const admin = kafka.admin();
  await admin.connect();

  const app = await buildCommandApp({
    config,
    logger,
    metrics: createMetrics('command-api'),
    publisher,
    readiness: {
      kafka: async () => {
        await admin.fetchTopicMetadata({ topics: [config.topics.movieMetadata, config.topics.movieRatings] });
      },
    },
  });
  app.addHook('onClose', async () => {
    await publisher.disconnect();
    await admin.disconnect();
  });
  return app;
});
