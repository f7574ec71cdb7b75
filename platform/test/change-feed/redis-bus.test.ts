import { describe, expect, it, onTestFinished } from 'vitest';
import { createRedisChangeBus } from '../../src/change-feed/change-bus.js';
import { connectTestRedis } from '../redis-helpers.js';
import { describeBusContract, Received, sampleEvent } from './bus-contract.js';

/** A bus on two fresh connections, as one replica would open it. */
function openRedisBus() {
  const publisher = connectTestRedis();
  const subscriber = connectTestRedis();
  const bus = createRedisChangeBus({ publisher, subscriber });
  const cleanup = async () => {
    // Closing the bus quits both connections; close() is idempotent.
    await bus.close();
    for (const client of [publisher, subscriber]) {
      if (client.status !== 'end') client.disconnect();
    }
  };
  return { bus, cleanup };
}

describeBusContract('redis', async () => openRedisBus());

describe('redis change bus across replicas', () => {
  it('delivers an event from one replica to two others', async () => {
    const replicas = [openRedisBus(), openRedisBus(), openRedisBus()];
    for (const { cleanup } of replicas) onTestFinished(cleanup);
    const [a, b, publisher] = replicas.map((r) => r.bus);
    const onA = new Received();
    const onB = new Received();
    await a?.subscribe('sports', onA.listener);
    await b?.subscribe('sports', onB.listener);

    const event = sampleEvent('sports', 7);
    await publisher?.publish(event);
    await Promise.all([onA.waitFor(1), onB.waitFor(1)]);
    expect(onA.events).toEqual([event]);
    expect(onB.events).toEqual([event]);
  });

  it('refuses one connection as both publisher and subscriber', async () => {
    const client = connectTestRedis();
    onTestFinished(() => client.quit().then(() => undefined));
    expect(() =>
      createRedisChangeBus({ publisher: client, subscriber: client }),
    ).toThrow();
  });
});
