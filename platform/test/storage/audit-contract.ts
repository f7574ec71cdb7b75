import { GraphQLError } from 'graphql';
import { expect, it } from 'vitest';
import type {
  AuditEntryInput,
  AuditRecord,
} from '../../src/audit/audit-log.js';
import type {
  PreferenceStore,
  WritePlanner,
} from '../../src/storage/preference-store.js';

/** The store settings the audit contract needs to set. */
interface AuditTestOptions {
  readonly auditRetentionDays?: number;
  readonly clock?: () => Date;
}

/** Opens a fresh store, disposed of when the test ends. */
type OpenStore = (options?: AuditTestOptions) => Promise<PreferenceStore>;

const REALMS = ['sports', 'parks', 'entertainment'];
const START_MS = Date.parse('2030-01-01T00:00:00.000Z');
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

const ADMIN_META = {
  actor: 'ops',
  requestId: 'req-1',
  actorRoles: ['realm-admin'],
  clientAddress: '203.0.113.7',
};

/** A clock the test moves by hand. */
function manualClock(startMs = START_MS) {
  let nowMs = startMs;
  return {
    now: () => new Date(nowMs),
    advance: (ms: number) => {
      nowMs += ms;
    },
    set: (ms: number) => {
      nowMs = ms;
    },
  };
}

function setRealm(values: Record<string, unknown>): WritePlanner {
  return () => ({
    realmPatch: { set: values, unset: [] },
    globalPatch: { set: {}, unset: [] },
  });
}

function refusal(overrides: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    realm: 'sports',
    actor: 'mallory',
    actorRoles: ['user'],
    target: 'sports:alice',
    outcome: 'FORBIDDEN',
    changes: [],
    requestId: 'req-9',
    clientAddress: '198.51.100.1',
    errorCode: 'FORBIDDEN',
    ...overrides,
  };
}

async function all(store: PreferenceStore, realm = 'sports') {
  return (await store.readAudit({ realm, limit: 200 })).entries;
}

/**
 * The behaviour every AuditLog (so every PreferenceStore) must show: the
 * record of an accepted write stored with it, refusals on their own,
 * filters, paging and retention.
 */
export function describeAuditContract(open: OpenStore) {
  it('records an accepted write with before and after of both layers', async () => {
    const store = await open();
    await store.write(
      'sports',
      'alice',
      () => ({
        realmPatch: { set: { team: 'lions', seat: 'A1' }, unset: [] },
        globalPatch: { set: { locale: 'de-DE' }, unset: [] },
      }),
      { actor: 'alice', requestId: 'req-0', actorRoles: ['user'] },
      REALMS,
    );
    const outcome = await store.write(
      'sports',
      'alice',
      () => ({
        realmPatch: { set: { team: 'bears' }, unset: ['seat'] },
        globalPatch: { set: {}, unset: ['locale'] },
      }),
      ADMIN_META,
      REALMS,
    );

    expect(outcome.audit).toEqual({
      id: expect.any(String),
      at: outcome.preference.realmLayer.updatedAt,
      realm: 'sports',
      actor: 'ops',
      actorRoles: ['realm-admin'],
      target: 'sports:alice',
      outcome: 'ACCEPTED',
      changes: [
        { key: 'team', layer: 'REALM', before: 'lions', after: 'bears' },
        { key: 'seat', layer: 'REALM', before: 'A1', after: null },
        { key: 'locale', layer: 'GLOBAL', before: 'de-DE', after: null },
      ],
      requestId: 'req-1',
      clientAddress: '203.0.113.7',
      errorCode: null,
    });
    const entries = await all(store);
    expect(entries).toHaveLength(2);
    expect(entries[0]).toEqual(outcome.audit);
    expect(entries[1]).toMatchObject({
      actor: 'alice',
      actorRoles: ['user'],
      clientAddress: null,
      changes: [
        { key: 'team', layer: 'REALM', before: null, after: 'lions' },
        { key: 'seat', layer: 'REALM', before: null, after: 'A1' },
        { key: 'locale', layer: 'GLOBAL', before: null, after: 'de-DE' },
      ],
    });
    // A global change is recorded once, in the writing realm's log.
    expect(await all(store, 'parks')).toEqual([]);
  });

  it('records a write that changed nothing, and nothing for a refused plan', async () => {
    const store = await open();
    const noop = await store.write('sports', 'alice', () => null, ADMIN_META, [
      'sports',
    ]);
    expect(noop.audit).toMatchObject({ outcome: 'ACCEPTED', changes: [] });

    const planner = () => {
      throw new GraphQLError('refused');
    };
    await expect(
      store.write('sports', 'alice', planner, ADMIN_META, ['sports']),
    ).rejects.toThrow('refused');
    expect(await all(store)).toEqual([noop.audit]);
  });

  it('appends a refusal on its own, storing no preference data', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now });
    const record = await store.appendAudit(
      refusal({
        outcome: 'INVALID',
        errorCode: 'BAD_USER_INPUT',
        changes: [{ key: 'theme', layer: 'GLOBAL', before: null, after: 'x' }],
      }),
    );

    expect(record).toMatchObject({
      at: new Date(START_MS).toISOString(),
      outcome: 'INVALID',
      errorCode: 'BAD_USER_INPUT',
    });
    expect(record.id).toMatch(/^\d+-\d+$/);
    expect(await all(store)).toEqual([record]);
    const stored = await store.read('sports', 'alice');
    expect(stored.realmLayer.version + stored.globalLayer.version).toBe(0);
    expect((await store.readChanges('sports', null, 10)).events).toEqual([]);
  });

  it('keeps one log per realm, and keeps it when the realm is dropped', async () => {
    const store = await open();
    await store.write('sports', 'alice', setRealm({ x: 1 }), ADMIN_META, [
      'sports',
    ]);
    await store.appendAudit(refusal({ realm: 'parks', target: 'parks:bob' }));

    await store.dropRealm('sports');
    expect((await all(store)).map((r) => r.target)).toEqual(['sports:alice']);
    expect((await all(store, 'parks')).map((r) => r.target)).toEqual([
      'parks:bob',
    ]);
  });

  it('filters by actor, target and time', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now });
    const written: AuditRecord[] = [];
    for (const [actor, target] of [
      ['alice', 'sports:alice'],
      ['ops', 'sports:bob'],
      ['ops', 'sports:alice'],
      ['mallory', 'sports:alice'],
    ] as const) {
      written.push(await store.appendAudit(refusal({ actor, target })));
      clock.advance(MINUTE_MS);
    }
    const ids = (records: readonly AuditRecord[]) => records.map((r) => r.id);
    const read = async (filters: object) =>
      ids(
        (await store.readAudit({ realm: 'sports', limit: 50, ...filters }))
          .entries,
      );
    const [w0, w1, w2, w3] = ids(written);

    expect(await read({})).toEqual([w3, w2, w1, w0]);
    expect(await read({ actor: 'ops' })).toEqual([w2, w1]);
    expect(await read({ target: 'sports:alice' })).toEqual([w3, w2, w0]);
    expect(await read({ actor: 'ops', target: 'sports:alice' })).toEqual([w2]);
    expect(
      await read({
        from: new Date(START_MS + MINUTE_MS),
        to: new Date(START_MS + 2 * MINUTE_MS),
      }),
    ).toEqual([w2, w1]);
    expect(await read({ to: new Date(START_MS - 1) })).toEqual([]);
    expect(await read({ to: new Date(-DAY_MS) })).toEqual([]);
    expect(await read({ after: '0-0' })).toEqual([]);
    expect(await read({ after: w2, to: new Date(START_MS) })).toEqual([w0]);
    expect(await read({ actor: 'nobody' })).toEqual([]);
  });

  it('pages newest first with a cursor, also through a filter', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now });
    const written: string[] = [];
    for (let i = 0; i < 7; i++) {
      // Two entries per millisecond: ids must still order them.
      if (i % 2 === 0) clock.advance(1);
      const actor = i % 3 === 0 ? 'ops' : 'alice';
      written.push((await store.appendAudit(refusal({ actor }))).id);
    }
    const newestFirst = [...written].reverse();

    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page = await store.readAudit({ realm: 'sports', limit: 3, after });
      seen.push(...page.entries.map((r) => r.id));
      after = page.nextCursor;
    } while (after !== null);
    expect(seen).toEqual(newestFirst);

    const first = await store.readAudit({
      realm: 'sports',
      actor: 'ops',
      limit: 2,
    });
    const rest = await store.readAudit({
      realm: 'sports',
      actor: 'ops',
      limit: 2,
      after: first.nextCursor,
    });
    expect([...first.entries, ...rest.entries].map((r) => r.id)).toEqual([
      written[6],
      written[3],
      written[0],
    ]);
    expect(rest.nextCursor).toBeNull();

    const bad = store.readAudit({ realm: 'sports', limit: 2, after: 'x-1' });
    await expect(bad).rejects.toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('keeps ids growing when the clock goes back', async () => {
    const clock = manualClock();
    const store = await open({ clock: clock.now });
    const first = await store.appendAudit(refusal());
    clock.advance(-MINUTE_MS);
    const second = await store.appendAudit(refusal());
    expect((await all(store)).map((r) => r.id)).toEqual([second.id, first.id]);
  });

  it('forgets records older than the retention period', async () => {
    const clock = manualClock();
    const store = await open({ auditRetentionDays: 30, clock: clock.now });
    const old = await store.appendAudit(refusal({ actor: 'old' }));
    clock.advance(20 * DAY_MS);
    const kept = await store.write(
      'sports',
      'alice',
      setRealm({ x: 1 }),
      ADMIN_META,
      ['sports'],
    );
    expect((await all(store)).map((r) => r.id)).toEqual([
      kept.audit.id,
      old.id,
    ]);

    // 31 days after the first record, it has expired; the write has not.
    clock.advance(11 * DAY_MS);
    expect((await all(store)).map((r) => r.id)).toEqual([kept.audit.id]);
    const fresh = await store.appendAudit(refusal({ actor: 'fresh' }));
    expect((await all(store)).map((r) => r.id)).toEqual([
      fresh.id,
      kept.audit.id,
    ]);
    const since = await store.readAudit({
      realm: 'sports',
      from: new Date(START_MS),
      limit: 10,
    });
    expect(since.entries.map((r) => r.actor)).toEqual(['fresh', 'ops']);
  });
}
