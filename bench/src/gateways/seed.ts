// Realistic data for the gateway benchmark: 10,000 users per realm with
// division values (and global values for many), and a distinct valid
// token per user and realm, signed with the realm's dev key.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import {
  createLogger,
  LiveCatalog,
  openState,
  PreferenceService,
  type KeyChange,
  type PreferenceCatalog,
} from '@realms/platform';
import {
  ADMINS_PER_REALM,
  adminId,
  random,
  REALMS,
  userId,
  type RealmId,
} from './workloads.js';

/** Tokens by realm: one per user (by index) and the realm admins'. */
export interface TokenFile {
  readonly users: Record<RealmId, string[]>;
  readonly admins: Record<RealmId, string[]>;
}

const pick = <T>(next: () => number, list: readonly T[]): T =>
  list[Math.floor(next() * list.length)] as T;

function some<T>(next: () => number, list: readonly T[], max: number): T[] {
  const count = 1 + Math.floor(next() * max);
  return [...new Set(Array.from({ length: count }, () => pick(next, list)))];
}

/** One user's division values in a realm, in the realm files' terms. */
function divisionValues(
  realm: RealmId,
  next: () => number,
): Record<string, unknown> {
  switch (realm) {
    case 'sports':
      return {
        'sports.favoriteTeams': some(
          next,
          ['harbor-hawks', 'city-comets', 'river-rams', 'north-stars'],
          3,
        ),
        'sports.alertEvents': some(
          next,
          ['game-start', 'score-change', 'final-score', 'lineup', 'injury'],
          3,
        ),
        'sports.statsUpdateFrequency': pick(next, [
          'realtime',
          'every-minute',
          'hourly',
        ]),
      };
    case 'entertainment':
      return {
        'entertainment.genres': some(
          next,
          ['action', 'comedy', 'drama', 'sci-fi', 'thriller', 'family'],
          3,
        ),
        'entertainment.maturityRating': pick(next, ['G', 'PG', 'PG-13', 'R']),
        'entertainment.languages': some(next, ['en', 'fr', 'de', 'es'], 2),
        'entertainment.autoplay': next() < 0.5,
      };
    case 'parks':
      return {
        'parks.homePark': pick(next, [
          'harbor-kingdom',
          'frontier-lands',
          'wild-reef',
        ]),
        'parks.partySize': 1 + Math.floor(next() * 6),
        'parks.dietaryRestrictions': next() < 0.3 ? ['vegetarian'] : [],
        'parks.thrillLevel': 1 + Math.floor(next() * 5),
      };
  }
}

function changesOf(values: Record<string, unknown>): KeyChange[] {
  return Object.entries(values).map(([key, value], i) => ({
    key,
    value,
    scope: null,
    path: ['seed', i],
  }));
}

/**
 * Writes every user's values through the preference service, as the
 * subgraphs do, `concurrency` writes at a time.
 */
export async function seedPreferences(options: {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly usersPerRealm: number;
  readonly onProgress: (done: number, total: number) => void;
}): Promise<void> {
  const logger = createLogger('bench-seed', 'warn');
  const state = openState({
    redisUrl: options.redisUrl,
    keyPrefix: options.keyPrefix,
    logger,
  });
  const catalog = await LiveCatalog.open({
    store: state.configVersions,
    bus: state.bus,
    logger,
    pollIntervalMs: 0,
  });
  try {
    const preferences = new PreferenceService({
      catalog: () => catalog.get(),
      store: state.store,
      bus: state.bus,
      logger,
    });
    const writes: (() => Promise<unknown>)[] = [];
    const next = random(42);
    for (let i = 0; i < options.usersPerRealm; i += 1) {
      const user = userId(i);
      // Four in ten users have global values of their own.
      if (next() < 0.4) {
        const values = {
          locale: pick(next, ['en-GB', 'fr-FR', 'de-DE', 'es-ES']),
          theme: pick(next, ['light', 'dark']),
          displayName: `User ${i}`,
        };
        writes.push(() => write(preferences, 'sports', user, null, values));
      }
      for (const realm of REALMS) {
        const values = divisionValues(realm, next);
        writes.push(() => write(preferences, realm, user, realm, values));
      }
    }
    let done = 0;
    const worker = async () => {
      for (let job = writes.shift(); job; job = writes.shift()) {
        await job();
        done += 1;
        if (done % 2_000 === 0) options.onProgress(done, done + writes.length);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
  } finally {
    await catalog.close();
    await state.close();
  }
}

function write(
  preferences: PreferenceService,
  realm: string,
  user: string,
  writer: string | null,
  values: Record<string, unknown>,
) {
  return preferences.write({
    realm,
    userId: user,
    changes: changesOf(values),
    expectedVersion: null,
    writer,
    // Seeded as the users themselves, who may write their global layer.
    globalLayerWritable: true,
    actor: 'bench-seed',
    requestId: 'bench-seed',
  });
}

/**
 * Signs a token per user and realm (and the realm admins'), as
 * `issueDevToken` does, with one key import per realm instead of one per
 * token. Written to `file` for the load generator.
 */
export async function writeTokens(options: {
  readonly catalog: PreferenceCatalog;
  readonly keysDir: string;
  readonly usersPerRealm: number;
  readonly file: string;
}): Promise<void> {
  const users = {} as Record<RealmId, string[]>;
  const admins = {} as Record<RealmId, string[]>;
  for (const realmId of REALMS) {
    const realm = options.catalog.realm(realmId);
    if (!realm) throw new Error(`no realm ${realmId}`);
    const jwk = JSON.parse(
      await readFile(
        join(options.keysDir, `${realmId}.private.jwk.json`),
        'utf8',
      ),
    ) as JWK;
    const key = await importJWK(jwk, 'ES256');
    const sign = (sub: string, roles: string[]) =>
      new SignJWT({ realm: realmId, roles })
        .setProtectedHeader({ alg: 'ES256', kid: jwk.kid ?? '' })
        .setSubject(sub)
        .setIssuer(realm.auth.issuer)
        .setAudience(realm.auth.audience)
        .setIssuedAt()
        .setExpirationTime('12h')
        .sign(key);
    users[realmId] = [];
    for (let i = 0; i < options.usersPerRealm; i += 1) {
      users[realmId].push(await sign(userId(i), ['user']));
    }
    admins[realmId] = [];
    for (let i = 0; i < ADMINS_PER_REALM; i += 1) {
      admins[realmId].push(await sign(adminId(i), ['realm-admin']));
    }
  }
  const tokens: TokenFile = { users, admins };
  await writeFile(options.file, JSON.stringify(tokens));
}
