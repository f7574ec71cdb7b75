import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevKeys, issueDevToken, loadCatalog } from '@realms/platform';
import { startSystem, type RunningSystem } from '../../src/system.js';
import { freePort } from '../support/processes.js';
import { graphql } from '../support/test-system.js';

/*
 * A real unexpected failure in production mode: the system runs on a
 * Redis server of this test's own, which the test then kills. Whatever
 * the store throws must reach the client as a bare INTERNAL_SERVER_ERROR
 * with the request id, and the log must hold the details under that id.
 */

/** Text that would tell a client how the server is built. */
const LEAKS = [
  /ECONNREFUSED/i,
  /redis/i,
  /ioredis/i,
  /MaxRetriesPerRequest/i,
  /Connection is closed/i,
  /\bat .+:\d+:\d+/, // a stack frame
  /\/work\/|node_modules|\.ts\b/, // a file path
  /stacktrace/i,
];

describe('an unexpected failure in production mode', () => {
  let redisServer: ChildProcess;
  let system: RunningSystem;
  let keysDir: string;
  let token: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    redisServer = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', ''],
      { stdio: 'ignore' },
    );
    const redisUrl = `redis://127.0.0.1:${port}`;
    const probe = new Redis(redisUrl, { lazyConnect: true });
    probe.on('error', () => undefined); // Refused until the server is up.
    for (let i = 0; i < 100; i++) {
      if (
        await probe.connect().then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    probe.disconnect();

    keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
    const catalog = await loadCatalog();
    await ensureDevKeys(catalog.realms.values(), keysDir);
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    system = await startSystem({
      ports: {
        gateway: 0,
        subgraphs: { core: 0, sports: 0, entertainment: 0, parks: 0 },
      },
      redisUrl,
      keyPrefix: 'realms-unexpected',
      keysDir,
      production: true,
      logger: pino({ level: 'info' }, sink),
    });
    token = await issueDevToken(
      { realm: catalog.realm('sports')!, userId: 'una', roles: ['user'] },
      keysDir,
    );
  });

  afterAll(async () => {
    redisServer.kill('SIGKILL');
    await system?.close().catch(() => undefined);
    await rm(keysDir, { recursive: true, force: true });
  });

  it('answers INTERNAL_SERVER_ERROR with the request id and logs the details under it', async () => {
    const query =
      '{ myPreferences { id version values(keys: ["locale"]) { value source } sports { favoriteTeams } } }';
    const healthy = await graphql(system.gatewayUrl, query, {
      realm: 'sports',
      token,
    });
    expect(healthy.errors).toBeUndefined();

    redisServer.kill('SIGKILL');
    await new Promise((resolve) => redisServer.once('exit', resolve));

    const requests = [
      // Another operation text: the read cache must not answer it.
      query.replace('{ myPreferences', 'query AfterRedisDied { myPreferences'),
      'mutation { setPreferences(values: [{ key: "locale", value: "fr-FR" }]) { version } }',
      'mutation { updateSportsPreferences(input: { favoriteTeams: ["celtics"] }) { version } }',
    ];
    for (const request of requests) {
      const response = await graphql(system.gatewayUrl, request, {
        realm: 'sports',
        token,
      });
      const text = JSON.stringify(response);
      expect(response.status, text).toBeLessThan(500);
      expect(response.errors?.length, text).toBeGreaterThan(0);
      for (const error of response.errors ?? []) {
        expect(error.message, text).toBe('Internal server error.');
        expect(error.extensions?.['code'], text).toBe('INTERNAL_SERVER_ERROR');
        expect(error.extensions?.['requestId'], text).toEqual(
          expect.any(String),
        );
      }
      for (const leak of LEAKS) expect(text).not.toMatch(leak);

      // The details are in the log, under the id the client was given.
      const requestId = response.errors?.[0]?.extensions?.['requestId'];
      const logged = logLines.filter((line) =>
        line.includes(`"requestId":"${String(requestId)}"`),
      );
      expect(logged.join('\n'), text).toMatch(
        /Connection is closed|ECONNREFUSED|MaxRetriesPerRequest|Stream isn't writeable/i,
      );
      for (const line of logged) expect(line).not.toContain(token);
    }

    // Readiness names what is missing, on the gateway and on a subgraph.
    const ready = await fetch(new URL('/health/ready', system.gatewayUrl));
    expect(ready.status).toBe(503);
    const states = (await ready.json()) as {
      dependencies: Record<string, { ok: boolean; detail?: string }>;
    };
    expect(states.dependencies['redis']).toEqual({
      ok: false,
      detail: expect.stringMatching(/^(unreachable: |failed: |no answer)/),
    });
    expect(states.dependencies['subgraph:core']).toEqual({
      ok: false,
      detail: 'not ready: store',
    });
    for (const leak of LEAKS.slice(2)) {
      expect(JSON.stringify(states)).not.toMatch(leak);
    }
  });
});
