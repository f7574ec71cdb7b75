import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ensureDevKeys,
  issueDevToken,
  loadCatalog,
  RealmTokenVerifier,
  rotateDevKey,
  type RealmConfig,
} from '@realms/platform';
import { withVerifiedTokenCache } from '../src/read-cache/verified-tokens.js';

// The gateway's verified-token cache over a real verifier and real key set
// files: what it remembers, and that a removed key still stops its tokens
// within the key file check interval although a verification is trusted
// for a minute.

const CHECK_INTERVAL_MS = 100;

describe('the verified-token cache', () => {
  let dir: string;
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function setUp() {
    const catalog = await loadCatalog();
    const sports = catalog.realm('sports') as RealmConfig;
    const parks = catalog.realm('parks') as RealmConfig;
    dir = await mkdtemp(join(tmpdir(), 'verified-tokens-'));
    await ensureDevKeys([sports, parks], dir);
    const verifier = await RealmTokenVerifier.load([sports, parks], dir, {
      keyFileCheckIntervalMs: CHECK_INTERVAL_MS,
    });
    const verify = vi.spyOn(verifier, 'verify');
    const cached = withVerifiedTokenCache(verifier);
    const issue = (realm: RealmConfig, userId = 'alice') =>
      issueDevToken({ realm, userId, roles: ['user'] }, dir);
    return { sports, parks, verify, cached, issue };
  }

  const outcome = (promise: Promise<unknown>) =>
    promise.then(
      () => 'accepted',
      (error: { extensions?: { code?: string } }) => error.extensions?.code,
    );

  it('checks a token once, and again only in another realm', async () => {
    const { sports, verify, cached, issue } = await setUp();
    const token = await issue(sports);
    for (let i = 0; i < 5; i += 1) {
      await expect(cached.verify(token, 'sports')).resolves.toMatchObject({
        userId: 'alice',
      });
    }
    expect(verify).toHaveBeenCalledTimes(1);

    // A sports token proves nothing in parks: asked again, and refused.
    await expect(outcome(cached.verify(token, 'parks'))).resolves.toBe(
      'UNAUTHENTICATED',
    );
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('never remembers a refusal', async () => {
    const { sports, verify, cached, issue } = await setUp();
    const forged = `${(await issue(sports)).slice(0, -4)}AAAA`;
    for (let i = 0; i < 3; i += 1) {
      await expect(outcome(cached.verify(forged, 'sports'))).resolves.toBe(
        'UNAUTHENTICATED',
      );
    }
    expect(verify).toHaveBeenCalledTimes(3);
  });

  it('stops a remembered token within the check interval once its key is removed', async () => {
    const { sports, cached, issue } = await setUp();
    const old = await issue(sports);
    await expect(outcome(cached.verify(old, 'sports'))).resolves.toBe(
      'accepted',
    );

    // Two rotations: the set keeps the newest two keys, so the key `old`
    // was signed with is gone from the file.
    await rotateDevKey(sports, dir);
    await rotateDevKey(sports, dir);
    const fresh = await issue(sports);

    // Bounded: the check interval, then the background check's file read.
    const deadline = Date.now() + 20 * CHECK_INTERVAL_MS;
    let last = await outcome(cached.verify(old, 'sports'));
    while (last === 'accepted' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      last = await outcome(cached.verify(old, 'sports'));
    }
    expect(last).toBe('UNAUTHENTICATED');
    await expect(outcome(cached.verify(fresh, 'sports'))).resolves.toBe(
      'accepted',
    );
  });

  it('verifies remembered tokens again after any change of the key set', async () => {
    const { sports, parks, verify, cached, issue } = await setUp();
    const sportsToken = await issue(sports);
    const parksToken = await issue(parks);
    await cached.verify(sportsToken, 'sports');
    await cached.verify(parksToken, 'parks');
    expect(verify).toHaveBeenCalledTimes(2);

    // One rotation adds a key and keeps the old one: still accepted, but
    // checked again, in that realm only.
    await rotateDevKey(sports, dir);
    await new Promise((resolve) => setTimeout(resolve, CHECK_INTERVAL_MS * 2));
    const deadline = Date.now() + 20 * CHECK_INTERVAL_MS;
    while (verify.mock.calls.length < 3 && Date.now() < deadline) {
      await cached.verify(sportsToken, 'sports');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(verify).toHaveBeenCalledTimes(3);
    await expect(outcome(cached.verify(sportsToken, 'sports'))).resolves.toBe(
      'accepted',
    );
    await cached.verify(parksToken, 'parks');
    expect(verify).toHaveBeenCalledTimes(3);
  });
});
