import { describe, expect, it, onTestFinished } from 'vitest';
import type { ChangeBus } from '../../src/change-feed/change-bus.js';
import type { PreferenceChangeEvent } from '../../src/change-feed/change-event.js';

/** Builds one fresh bus and the function that disposes of it. */
export type MakeBus = () => Promise<{
  bus: ChangeBus;
  cleanup: () => Promise<void>;
}>;

/** A change event of `realm`, numbered so order can be checked. */
export function sampleEvent(realm: string, n: number): PreferenceChangeEvent {
  return {
    type: 'preference.changed',
    cursor: `${realm}/${n}`,
    realm,
    userId: `user-${n}`,
    preferenceId: `${realm}:user-${n}`,
    changedKeys: ['locale', 'theme'],
    version: n,
    actor: 'admin-1',
    originRealm: 'sports',
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    requestId: `req-${n}`,
  };
}

/** Records what a listener receives and waits for a number of events. */
export class Received {
  readonly events: PreferenceChangeEvent[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];

  readonly listener = (event: PreferenceChangeEvent): void => {
    this.events.push(event);
    this.waiters = this.waiters.filter((w) => {
      if (this.events.length < w.count) return true;
      w.resolve();
      return false;
    });
  };

  /** Resolves once `count` events arrived; fails after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 2_000): Promise<void> {
    if (this.events.length >= count) return;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve) => {
      this.waiters.push({ count, resolve });
    });
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`got ${this.events.length}/${count} events`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([arrived, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The behaviour every ChangeBus transport must show. */
export function describeBusContract(name: string, makeBus: MakeBus) {
  async function open(): Promise<ChangeBus> {
    const { bus, cleanup } = await makeBus();
    onTestFinished(cleanup);
    return bus;
  }

  describe(`${name}: ChangeBus contract`, () => {
    it('delivers a published event as the same JSON', async () => {
      const bus = await open();
      const received = new Received();
      await bus.subscribe('sports', received.listener);

      const event = sampleEvent('sports', 1);
      await bus.publish(event);
      await received.waitFor(1);
      expect(received.events).toEqual([event]);
      expect(received.events[0]).not.toBe(event);
    });

    it('keeps realms apart', async () => {
      const bus = await open();
      const sports = new Received();
      const parks = new Received();
      await bus.subscribe('sports', sports.listener);
      await bus.subscribe('parks', parks.listener);

      await bus.publish(sampleEvent('parks', 1));
      await bus.publish(sampleEvent('sports', 2));
      await bus.publish(sampleEvent('parks', 3));
      await sports.waitFor(1);
      await parks.waitFor(2);
      expect(sports.events.map((e) => e.realm)).toEqual(['sports']);
      expect(parks.events.map((e) => e.version)).toEqual([1, 3]);
    });

    it('stops delivery after unsubscribe', async () => {
      const bus = await open();
      const leaving = new Received();
      const staying = new Received();
      const unsubscribe = await bus.subscribe('sports', leaving.listener);
      await bus.subscribe('sports', staying.listener);

      await bus.publish(sampleEvent('sports', 1));
      await staying.waitFor(1);
      await unsubscribe();
      await bus.publish(sampleEvent('sports', 2));
      await staying.waitFor(2);
      expect(leaving.events.map((e) => e.version)).toEqual([1]);
    });

    it('stops delivery to the last listener of a realm', async () => {
      const bus = await open();
      const leaving = new Received();
      const witness = new Received();
      const unsubscribe = await bus.subscribe('sports', leaving.listener);
      await bus.subscribe('parks', witness.listener);
      await unsubscribe();

      // Both channels share one transport, so once the later parks event
      // arrived, a sports event published before it would have too.
      await bus.publish(sampleEvent('sports', 1));
      await bus.publish(sampleEvent('parks', 2));
      await witness.waitFor(1);
      expect(leaving.events).toEqual([]);
    });

    it('preserves the order of events', async () => {
      const bus = await open();
      const received = new Received();
      await bus.subscribe('sports', received.listener);

      const events = Array.from({ length: 25 }, (_, i) =>
        sampleEvent('sports', i),
      );
      for (const event of events) await bus.publish(event);
      await received.waitFor(events.length);
      expect(received.events).toEqual(events);
    });

    it('keeps delivering when a listener throws', async () => {
      const bus = await open();
      const received = new Received();
      await bus.subscribe('sports', () => {
        throw new Error('faulty listener');
      });
      await bus.subscribe('sports', received.listener);

      await bus.publish(sampleEvent('sports', 1));
      await bus.publish(sampleEvent('sports', 2));
      await received.waitFor(2);
    });

    it('ends every subscription on close', async () => {
      const { bus, cleanup } = await makeBus();
      onTestFinished(cleanup);
      const received = new Received();
      await bus.subscribe('sports', received.listener);
      await bus.close();
      await expect(
        bus.subscribe('sports', received.listener),
      ).rejects.toThrow();
    });
  });
}
