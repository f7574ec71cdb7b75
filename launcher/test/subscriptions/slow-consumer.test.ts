import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_CODES } from '@realms/platform';
import { startTestSystem, type TestSystem } from '../support/test-system.js';
import {
  bounded,
  MAX_WAIT_MS,
  WsClients,
  wsUrl,
} from '../support/ws-client.js';
import {
  changesOf,
  latestCursor,
  writeTeamsDirectly,
  type Change,
} from './support.js';

/*
 * A subscriber that stops reading must not hold up anyone else: once its
 * results pile up past the bound, its connection is closed with
 * SLOW_CONSUMER, while a subscriber of the very same changes (sharing
 * the same federated execution) keeps receiving every one. The slow
 * client then resumes from its last cursor and misses nothing.
 *
 * The slow client is a raw `ws` socket that pauses reading, so the
 * gateway's writes back up through the kernel's socket buffers. Each
 * change is made large (fourteen aliased copies of every value) so that
 * a bounded number of changes is enough to fill those buffers.
 */

const USER = 'slow-sam';
/** Changes made while the slow client does not read. Bounded. */
const CHANGES = 400;
const LIMITS = { maxQueuedResults: 64, maxBufferedBytes: 256 * 1024 };

const copies = Array.from(
  { length: 14 },
  (_, i) => `v${i}: values { key value source }`,
).join('\n');

const LARGE_CHANGES = /* GraphQL */ `
  subscription Large($after: String) {
    preferenceChanged(after: $after) {
      cursor
      version
      preference {
        id
        sports { favoriteTeams }
        ${copies}
      }
    }
  }
`;

type LargeChange = { preferenceChanged: Change };

/** A graphql-transport-ws client by hand, so it can stop reading. */
async function openRawSubscriber(
  url: string,
  token: string,
  after: string | null,
) {
  const socket = new WebSocket(wsUrl(url), 'graphql-transport-ws', {
    headers: { 'x-client-id': 'sports' },
  });
  const changes: Change[] = [];
  const errors: unknown[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString() }),
    ),
  );
  let acknowledged: () => void = () => undefined;
  const ack = new Promise<void>((resolve) => (acknowledged = resolve));
  socket.on('message', (raw) => {
    const message = JSON.parse(String(raw)) as {
      type: string;
      payload?: { data?: LargeChange; errors?: unknown[] };
    };
    if (message.type === 'connection_ack') acknowledged();
    if (message.type === 'next' && message.payload?.data)
      changes.push(message.payload.data.preferenceChanged);
    if (message.type === 'next' && message.payload?.errors)
      errors.push(...message.payload.errors);
    if (message.type === 'error') errors.push(message.payload);
  });
  await bounded(
    new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    }),
    5_000,
    'the raw socket to open',
  );
  socket.send(
    JSON.stringify({
      type: 'connection_init',
      payload: { authorization: `Bearer ${token}` },
    }),
  );
  await bounded(ack, 5_000, 'connection_ack');
  socket.send(
    JSON.stringify({
      id: '1',
      type: 'subscribe',
      payload: { query: LARGE_CHANGES, variables: { after } },
    }),
  );
  return { socket, changes, errors, closed };
}

describe('a slow subscriber', () => {
  let t: TestSystem;
  const clients = new WsClients(() => t.url);

  beforeAll(async () => {
    t = await startTestSystem('memory', { subscriptionLimits: LIMITS });
  });
  afterEach(() => clients.disposeAll());
  afterAll(async () => {
    await t?.stop();
  });

  it('is closed with SLOW_CONSUMER without stalling others, and resumes without a gap', async () => {
    const token = await t.token('sports', USER);
    const start = await latestCursor(t, 'sports');

    const fast = clients
      .connect({ realm: 'sports', token })
      .subscribe<LargeChange>({
        query: LARGE_CHANGES,
        variables: { after: start },
      });
    const slow = await openRawSubscriber(t.url, token, start);

    // Both are live once a first change reaches both.
    await writeTeamsDirectly(t, USER, ['warm-up']);
    await fast.take(1);
    await bounded(
      (async () => {
        while (slow.changes.length < 1)
          await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      5_000,
      'the slow client to go live',
    );

    slow.socket.pause();
    for (let i = 0; i < CHANGES; i++) {
      await writeTeamsDirectly(t, USER, [`team-${i}`]);
      // The fast subscriber keeps up with every change as it happens.
      if (i % 20 === 19) await fast.take(i + 2, MAX_WAIT_MS);
    }
    const received = changesOf(await fast.take(CHANGES + 1, MAX_WAIT_MS));
    expect(received.map((change) => change.version)).toEqual(
      Array.from({ length: CHANGES + 1 }, (_, i) => i + 1),
    );

    // Reading again, the slow client finds what was sent before the close.
    slow.socket.resume();
    const close = await bounded(slow.closed, 10_000, 'the slow client close');
    expect(close.code).toBe(CLOSE_CODES.SLOW_CONSUMER.code);
    expect(close.reason).toMatch(/resume/i);
    expect(slow.errors).toEqual([]);
    const got = slow.changes.length;
    expect(got).toBeLessThan(CHANGES + 1);
    expect(slow.changes.map((change) => change.version)).toEqual(
      Array.from({ length: got }, (_, i) => i + 1),
    );

    // It resumes from its last cursor: exactly the rest, in order.
    const last = slow.changes.at(-1)?.cursor ?? start;
    const resumed = clients
      .connect({ realm: 'sports', token })
      .subscribe<LargeChange>({
        query: LARGE_CHANGES,
        variables: { after: last },
      });
    const rest = changesOf(await resumed.take(CHANGES + 1 - got, MAX_WAIT_MS));
    expect(rest.map((change) => change.version)).toEqual(
      Array.from({ length: CHANGES + 1 - got }, (_, i) => got + i + 1),
    );
  });
});
