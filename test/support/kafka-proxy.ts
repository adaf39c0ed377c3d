import net from 'node:net';
import { Kafka, logLevel, type ISocketFactory } from 'kafkajs';
import { services } from '../../harness/services.ts';
import { startTcpProxy } from './tcp-proxy.ts';

const PRODUCE_API_KEY = 0;

/** Splits a Kafka protocol byte stream into whole frames (a 4-byte size, then that many bytes). */
function frames(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      const size = 4 + pending.readInt32BE(0);
      onFrame(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
  };
}

/**
 * A TCP proxy in front of the test broker that can lose the broker's answer to a produce
 * request (the broker still writes the records) or cut Kafka off entirely. Clients reach it
 * through `kafka()`, whose every connection, to the bootstrap or to the broker it advertises,
 * goes through the proxy.
 */
export async function startKafkaProxy() {
  const [host, port] = services.brokers[0]!.split(':') as [string, string];
  let produceAnswersToLose = 0;
  let lost = 0;

  const proxy = await startTcpProxy(host, Number(port), (client, broker) => {
    const produces = new Set<number>();
    client.on(
      'data',
      frames((frame) => {
        // Request header: size, api key (int16), api version (int16), correlation id (int32).
        if (frame.readInt16BE(4) === PRODUCE_API_KEY) produces.add(frame.readInt32BE(8));
        broker.write(frame);
      }),
    );
    broker.on(
      'data',
      frames((frame) => {
        // Response header: size, correlation id (int32).
        if (produces.delete(frame.readInt32BE(4)) && produceAnswersToLose > 0) {
          produceAnswersToLose -= 1;
          lost += 1;
          return;
        }
        client.write(frame);
      }),
    );
  });
  const socketFactory: ISocketFactory = ({ onConnect }) => net.connect(proxy.port, '127.0.0.1', onConnect);

  return {
    kafka: (clientId = 'proxied') =>
      new Kafka({ clientId, brokers: services.brokers, socketFactory, logLevel: logLevel.NOTHING }),
    /** The broker's answer to the next produce request never reaches the client. */
    loseNextProduceAnswer() {
      produceAnswersToLose += 1;
    },
    get lostAnswers() {
      return lost;
    },
    /** Kafka becomes unreachable: open connections drop, new ones are reset. */
    cutOff: () => proxy.cutOff(),
    restore: () => proxy.restore(),
    close: () => proxy.close(),
  };
}
