// `npm run bench [-- --quick | --duration 10 --rounds 2 ...]`: our gateway
// side by side with a stock Apollo gateway and Hive Gateway over the same
// subgraphs, data and load. See bench/README.md.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDevKeys, loadCatalog } from '@realms/platform';
import { deleteKeys, repoRoot, sleep } from './system.js';
import { round } from './stats.js';
import type { LoadResult, LoadSpec } from './gateways/load-worker.js';
import {
  cpuMsOf,
  freePort,
  graphqlRequestCount,
  sampleMemory,
  startRedis,
  startService,
  type Service,
} from './gateways/processes.js';
import {
  chartSvg,
  ratios,
  ratioTable,
  summaryTable,
  type Summary,
} from './gateways/report.js';
import {
  seedPreferences,
  writeTokens,
  type TokenFile,
} from './gateways/seed.js';
import {
  ADMIN_PAGE_SIZE,
  adminListQuery,
  readQuery,
  KEY_LISTS,
  REALMS,
  WORKLOADS,
  type TargetName,
  type WorkloadName,
} from './gateways/workloads.js';
import { readFile } from 'node:fs/promises';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    fill: { type: 'string' },
    connections: { type: 'string' },
    users: { type: 'string' },
    workloads: { type: 'string' },
    gateways: { type: 'string' },
    'redis-url': { type: 'string' },
  },
});
const quick = args.quick ?? false;
const numberArg = (value: string | undefined, fallback: number) =>
  value === undefined ? fallback : Number(value);
const settings = {
  durationSeconds: numberArg(args.duration, quick ? 5 : 12),
  warmupSeconds: numberArg(args.warmup, quick ? 2 : 4),
  rounds: numberArg(args.rounds, quick ? 1 : 2),
  fillSeconds: numberArg(args.fill, quick ? 10 : 90),
  connections: numberArg(args.connections, 32),
  usersPerRealm: numberArg(args.users, quick ? 2_000 : 10_000),
  zipfExponent: 1,
  writeShare: 0.05,
  workloads: (args.workloads?.split(',') ?? WORKLOADS) as WorkloadName[],
  gateways: (args.gateways?.split(',') ?? ['ours', 'apollo', 'hive']) as (
    'ours' | 'apollo' | 'hive'
  )[],
};
/** Measuring stops after this; the process kills itself after HARD_STOP_MS. */
const BUDGET_MS = 13 * 60_000;
const HARD_STOP_MS = 14.5 * 60_000;
const KEY_PREFIX = `bench-gateways-${process.pid}`;

const startedAt = Date.now();
const progress = (line: string) =>
  process.stderr.write(
    `\r\x1b[K[${Math.round((Date.now() - startedAt) / 1000)}s] ${line}`,
  );
const note = (line: string) => process.stderr.write(`\r\x1b[K${line}\n`);

interface Run {
  readonly target: TargetName;
  readonly workload: WorkloadName;
  readonly round: number;
  readonly result: LoadResult;
  readonly subgraphRequests: number;
  readonly peakRssBytes: number | null;
  readonly gatewayCpuMs: number | null;
  readonly cacheHits: number | null;
  readonly cacheLookups: number | null;
  readonly loadAverage: readonly [number, number];
}

const cleanups: (() => Promise<void>)[] = [];
async function cleanUp() {
  for (const step of cleanups.reverse()) {
    await step().catch((error: unknown) =>
      note(`clean-up: ${(error as Error).message}`),
    );
  }
  cleanups.length = 0;
}
const killer = setTimeout(() => {
  note('The benchmark overran its time: stopping.');
  void cleanUp().finally(() => process.exit(1));
}, HARD_STOP_MS);
killer.unref();
// Interrupted or terminated (`timeout`, a CI job's end): stop every
// service and Redis this run started, rather than leaving them running.
process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));
process.once('SIGTERM', () => void cleanUp().finally(() => process.exit(143)));

async function main() {
  const scratch = await mkdtemp(join(tmpdir(), 'realms-bench-gw-'));
  cleanups.push(() => rm(scratch, { recursive: true, force: true }));
  const keysDir = join(scratch, 'keys');
  const secret = randomBytes(32).toString('base64url');
  const catalog = await loadCatalog();
  await ensureDevKeys(catalog.realms.values(), keysDir);

  progress('starting redis');
  const redis = args['redis-url']
    ? { url: args['redis-url'], stop: async () => undefined }
    : await startRedis();
  cleanups.push(() => redis.stop());
  cleanups.push(() => deleteKeys(redis.url, KEY_PREFIX));

  const seedStarted = Date.now();
  await seedPreferences({
    redisUrl: redis.url,
    keyPrefix: KEY_PREFIX,
    usersPerRealm: settings.usersPerRealm,
    onProgress: (done, total) => progress(`seeding ${done}/${total} writes`),
  });
  const tokensFile = join(scratch, 'tokens.json');
  progress('signing tokens');
  await writeTokens({
    catalog,
    keysDir,
    usersPerRealm: settings.usersPerRealm,
    file: tokensFile,
  });
  const tokens = JSON.parse(await readFile(tokensFile, 'utf8')) as TokenFile;
  note(
    `seeded ${settings.usersPerRealm} users × ${REALMS.length} realms in ` +
      `${round((Date.now() - seedStarted) / 1000, 1)} s`,
  );

  const env = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: KEY_PREFIX,
    REALMS_KEYS_DIR: keysDir,
    REALMS_INTERNAL_SECRET: secret,
  };
  const subgraphs = await startSubgraphs(env);
  const subgraphUrls = Object.fromEntries(
    subgraphs.map((s) => [s.name, s.url]),
  );
  const gateways = new Map<TargetName, Service>();
  for (const name of settings.gateways) {
    progress(`starting gateway ${name}`);
    const service = await startGateway(name, env, subgraphUrls, tokens);
    gateways.set(name, service);
    cleanups.push(() => service.stop());
  }

  const counts = () =>
    Promise.all(
      subgraphs.map((s) =>
        graphqlRequestCount(new URL('/metrics', s.url).href),
      ),
    ).then((list) => list.reduce((a, b) => a + b, 0));

  // The N+1 shape, counted on a quiet system: a page of 5 and one of 50.
  const adminProbe: Record<string, Record<number, number>> = {};
  for (const [name, service] of gateways) {
    adminProbe[name] = {};
    for (const first of [5, ADMIN_PAGE_SIZE]) {
      const before = await counts();
      await probe(service.url, 'sports', tokens.admins.sports[0] as string, {
        query: adminListQuery('sports'),
        variables: { first, after: null },
      });
      (adminProbe[name] as Record<number, number>)[first] =
        (await counts()) - before;
    }
  }
  note(
    `admin-list subgraph requests for 5 / 50 users: ${JSON.stringify(adminProbe)}`,
  );

  const runs: Run[] = [];
  let runIndex = 0;
  let partial = false;
  let filled = false;
  outer: for (const workload of settings.workloads) {
    // Our caches are filled once, before the first workload that reads
    // through them, so that what is measured is the steady state a
    // long-running gateway is in (bench/README.md, "Steady state"). The
    // fill is recorded as round 0 and left out of the summaries.
    const ours = gateways.get('ours');
    if (
      ours &&
      !filled &&
      settings.fillSeconds > 0 &&
      (workload === 'read' || workload === 'mixed')
    ) {
      filled = true;
      runIndex += 1;
      progress(
        `${workload}: filling ours's caches for ${settings.fillSeconds} s`,
      );
      const fill = await measure({
        target: 'ours',
        workload,
        round: 0,
        runIndex,
        url: ours.url,
        service: ours,
        tokensFile,
        secret,
        counts,
        seconds: { warmup: 0, duration: settings.fillSeconds },
      });
      runs.push(fill);
      note(
        `${workload} fill ours: ${fill.result.responses} requests, ` +
          `${round(fill.result.requestsPerSecond, 0)} req/s, cache hit ` +
          `${fill.cacheLookups ? Math.round((100 * (fill.cacheHits ?? 0)) / fill.cacheLookups) : '-'}%` +
          (workload === 'mixed'
            ? `, ryw ${fill.result.rywViolations}/${fill.result.rywChecked}`
            : ''),
      );
    }
    for (let roundNo = 1; roundNo <= settings.rounds; roundNo += 1) {
      const order: TargetName[] = [...gateways.keys()];
      if (workload === 'read') order.push('core-direct');
      for (const target of order) {
        if (Date.now() - startedAt > BUDGET_MS) {
          partial = true;
          note('time budget spent: skipping the remaining runs');
          break outer;
        }
        runIndex += 1;
        progress(
          `${workload} round ${roundNo}/${settings.rounds}: ${target} ` +
            `(warm-up ${settings.warmupSeconds} s, then ${settings.durationSeconds} s)`,
        );
        const service = gateways.get(target);
        const url =
          target === 'core-direct'
            ? (subgraphUrls['core'] as string)
            : (service as Service).url;
        runs.push(
          await measure({
            target,
            workload,
            round: roundNo,
            runIndex,
            url,
            service: service ?? null,
            tokensFile,
            secret,
            counts,
          }),
        );
        const last = runs.at(-1) as Run;
        note(
          `${workload} r${roundNo} ${target}: ${round(last.result.requestsPerSecond, 0)} req/s, ` +
            `p99 ${last.result.latencyMs?.p99 ?? '-'} ms, errors ${errorsOf(last.result)}` +
            (workload === 'mixed'
              ? `, ryw ${last.result.rywViolations}/${last.result.rywChecked}`
              : ''),
        );
      }
    }
  }

  const summaries = summarize(runs.filter((run) => run.round > 0));
  const ratioList = ratios(summaries);
  const targets = evaluateTargets(summaries, adminProbe);
  const violations = runs.reduce((n, r) => n + r.result.rywViolations, 0);

  console.log(`\n${summaryTable(summaries)}\n\n${ratioTable(ratioList)}\n`);
  for (const t of targets)
    console.log(`${t.met ? 'MET    ' : 'NOT MET'} ${t.target}: ${t.detail}`);

  const date = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(repoRoot, 'bench/results');
  await mkdir(dir, { recursive: true });
  const jsonFile = join(dir, `gateways-${date}.json`);
  const svgFile = join(dir, `gateways-${date}.svg`);
  await writeFile(
    jsonFile,
    JSON.stringify(
      {
        startedAt: new Date(startedAt).toISOString(),
        finishedAt: new Date().toISOString(),
        partial,
        settings,
        machine: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model,
          memoryGiB: round(totalmem() / 2 ** 30, 1),
          node: process.version,
        },
        adminListSubgraphRequests: adminProbe,
        summaries,
        ratios: ratioList,
        targets,
        runs,
      },
      null,
      2,
    ),
  );
  await writeFile(
    svgFile,
    chartSvg(
      summaries,
      `Realms gateways, ${settings.usersPerRealm} users/realm, ` +
        `${settings.connections} connections, ${new Date().toISOString().slice(0, 10)}`,
    ),
  );
  console.log(`\nWrote ${jsonFile}\n  and ${svgFile}`);
  if (violations > 0) {
    note(`FAILED: ${violations} read-your-writes violations`);
    process.exitCode = 1;
  }
}

/**
 * BENCH_PROFILE_DIR: our gateway and the subgraphs run under `node
 * --cpu-prof` and write their profiles there when they stop. node itself
 * runs the script, not tsx's launcher: the launcher relays the group's
 * SIGTERM as a second one, which ends the process before V8 writes the
 * profile.
 */
function profiled(
  script: string,
  args: readonly string[] = [],
): [string, string[]] | null {
  const dir = process.env['BENCH_PROFILE_DIR'];
  if (!dir) return null;
  return [
    process.execPath,
    ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', script, ...args],
  ];
}

async function startSubgraphs(env: Record<string, string>): Promise<Service[]> {
  const services: Service[] = [];
  for (const name of ['core', 'sports', 'entertainment', 'parks']) {
    progress(`starting subgraph ${name}`);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/graphql`;
    const [command, args] = profiled('launcher/src/bin/subgraph.ts', [
      name,
    ]) ?? ['npm', ['run', '--silent', 'start:subgraph', '--', name]];
    const service = await startService({
      name,
      command,
      args,
      env: { ...env, [`${name.toUpperCase()}_PORT`]: String(port) },
      marker: 'launcher/src/bin/subgraph.ts',
      ready: new URL('/health/ready', url).href,
      url,
    });
    services.push(service);
    cleanups.push(() => service.stop());
  }
  return services;
}

async function startGateway(
  name: 'ours' | 'apollo' | 'hive',
  env: Record<string, string>,
  subgraphUrls: Record<string, string>,
  tokens: TokenFile,
): Promise<Service> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  const ready = (timeoutMs: number) =>
    waitForRead(url, tokens.users.sports[0] as string, timeoutMs);
  if (name === 'ours') {
    const urls = Object.fromEntries(
      Object.entries(subgraphUrls).map(([n, u]) => [
        `${n.toUpperCase()}_URL`,
        u,
      ]),
    );
    const [command, commandArgs] = profiled('gateway/src/bin/gateway.ts') ?? [
      'npm',
      ['run', '--silent', 'start:gateway'],
    ];
    return startService({
      name,
      command,
      args: commandArgs,
      env: { ...env, ...urls, PORT: String(port) },
      marker: 'gateway/src/bin/gateway.ts',
      ready,
      url,
    });
  }
  const script =
    name === 'apollo'
      ? 'bench/src/gateways/apollo-stock.ts'
      : 'bench/src/gateways/hive.ts';
  return startService({
    name,
    command: 'npx',
    args: ['tsx', script],
    env: {
      ...env,
      PORT: String(port),
      BENCH_SUBGRAPH_URLS: JSON.stringify(subgraphUrls),
    },
    marker: script,
    ready,
    url,
  });
}

/** Waits until a gateway answers a user's read without errors. */
async function waitForRead(url: string, token: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      await probe(url, 'sports', token, {
        query: readQuery('sports'),
        variables: { keys: KEY_LISTS[0] },
      });
      return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}

/** One request; throws on a non-2xx answer or GraphQL errors. */
async function probe(
  url: string,
  realm: string,
  token: string,
  body: { query: string; variables: Record<string, unknown> },
): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-client-id': realm,
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  if (!response.ok || text.includes('"errors"'))
    throw new Error(`${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Cache hits and lookups on our gateway's /metrics. */
async function cacheCounters(
  url: string,
): Promise<{ hits: number; lookups: number } | null> {
  try {
    const text = await (
      await fetch(new URL('/metrics', url), {
        signal: AbortSignal.timeout(5_000),
      })
    ).text();
    let hits = 0;
    let lookups = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('realms_read_cache_lookups_total')) continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
      lookups += value;
      if (line.includes('result="hit"')) hits += value;
    }
    return { hits, lookups };
  } catch {
    return null;
  }
}

async function measure(options: {
  target: TargetName;
  workload: WorkloadName;
  round: number;
  runIndex: number;
  url: string;
  service: Service | null;
  tokensFile: string;
  secret: string;
  counts: () => Promise<number>;
  /** Other than the settings' warm-up and duration (the cache fill). */
  seconds?: { warmup: number; duration: number };
}): Promise<Run> {
  const warmupSeconds = options.seconds?.warmup ?? settings.warmupSeconds;
  const durationSeconds = options.seconds?.duration ?? settings.durationSeconds;
  const spec: LoadSpec = {
    target: options.target,
    url: options.url,
    workload: options.workload,
    connections: settings.connections,
    warmupSeconds,
    durationSeconds,
    tokensFile: options.tokensFile,
    usersPerRealm: settings.usersPerRealm,
    zipfExponent: settings.zipfExponent,
    writeShare: settings.writeShare,
    runIndex: options.runIndex,
    internalSecret: options.secret,
  };
  const worker = fork(join(repoRoot, 'bench/src/gateways/load-worker.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stopWorker = () => {
    if (worker.exitCode === null && worker.signalCode === null)
      worker.kill('SIGKILL');
  };
  const limitMs = (warmupSeconds + durationSeconds) * 1000 + 60_000;
  const timer = setTimeout(stopWorker, limitMs);
  try {
    worker.send({ type: 'start', spec });
    await nextMessage(worker, 'warm');
    const pid = options.service?.pid ?? null;
    const before = {
      subgraph: await options.counts(),
      cpu: pid ? await cpuMsOf(pid) : null,
      cache:
        options.target === 'ours' ? await cacheCounters(options.url) : null,
    };
    const memory = pid ? sampleMemory(pid) : null;
    const loadBefore = loadavg()[0] ?? 0;
    worker.send({ type: 'go' });
    const { result } = (await nextMessage(worker, 'result')) as {
      result: LoadResult;
    };
    const peakRssBytes = memory ? await memory.stop() : null;
    const after = {
      subgraph: await options.counts(),
      cpu: pid ? await cpuMsOf(pid) : null,
      cache:
        options.target === 'ours' ? await cacheCounters(options.url) : null,
    };
    return {
      target: options.target,
      workload: options.workload,
      round: options.round,
      result,
      subgraphRequests: after.subgraph - before.subgraph,
      peakRssBytes,
      gatewayCpuMs:
        after.cpu !== null && before.cpu !== null
          ? after.cpu - before.cpu
          : null,
      cacheHits:
        after.cache && before.cache
          ? after.cache.hits - before.cache.hits
          : null,
      cacheLookups:
        after.cache && before.cache
          ? after.cache.lookups - before.cache.lookups
          : null,
      loadAverage: [round(loadBefore), round(loadavg()[0] ?? 0)],
    };
  } finally {
    clearTimeout(timer);
    stopWorker();
  }
}

function nextMessage(worker: ChildProcess, type: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string; error?: string }) => {
      if (message.type === type) {
        cleanup();
        resolve(message);
      } else if (message.type === 'failed') {
        cleanup();
        reject(new Error(`load generator: ${message.error}`));
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`load generator exited (${code}) before "${type}"`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}

const errorsOf = (r: LoadResult) =>
  r.non2xx + r.graphqlErrors + r.transportErrors;

function summarize(runs: readonly Run[]): Summary[] {
  const groups = new Map<string, Run[]>();
  for (const run of runs) {
    const key = `${run.workload}|${run.target}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const mean = (values: number[]) =>
    values.length === 0
      ? Number.NaN
      : values.reduce((a, b) => a + b, 0) / values.length;
  return [...groups.values()].map((list) => {
    const first = list[0] as Run;
    const responses = list.reduce((n, r) => n + r.result.responses, 0);
    const sub = list.reduce((n, r) => n + r.subgraphRequests, 0);
    const cpu = list.every((r) => r.gatewayCpuMs !== null)
      ? list.reduce((n, r) => n + (r.gatewayCpuMs ?? 0), 0)
      : null;
    const hits = list.reduce((n, r) => n + (r.cacheHits ?? 0), 0);
    const lookups = list.reduce((n, r) => n + (r.cacheLookups ?? 0), 0);
    const rss = list
      .map((r) => r.peakRssBytes)
      .filter((v): v is number => v !== null);
    return {
      target: first.target,
      workload: first.workload,
      rounds: list.length,
      requestsPerSecond: round(
        mean(list.map((r) => r.result.requestsPerSecond)),
        1,
      ),
      requestsPerSecondByRound: list.map((r) =>
        round(r.result.requestsPerSecond, 1),
      ),
      p50Ms: round(
        mean(list.map((r) => r.result.latencyMs?.p50 ?? Number.NaN)),
      ),
      p95Ms: round(
        mean(list.map((r) => r.result.latencyMs?.p95 ?? Number.NaN)),
      ),
      p99Ms: round(
        mean(list.map((r) => r.result.latencyMs?.p99 ?? Number.NaN)),
      ),
      errors: list.reduce((n, r) => n + errorsOf(r.result), 0),
      responses,
      subgraphRequestsPerRequest:
        first.target === 'core-direct'
          ? 1
          : responses > 0
            ? round(sub / responses, 3)
            : null,
      peakRssMiB: rss.length > 0 ? round(Math.max(...rss) / 2 ** 20, 1) : null,
      gatewayCpuMsPerRequest:
        cpu !== null && responses > 0 ? round(cpu / responses, 3) : null,
      readCacheHitRatio: lookups > 0 ? round(hits / lookups, 3) : null,
      rywChecked: list.reduce((n, r) => n + r.result.rywChecked, 0),
      rywViolations: list.reduce((n, r) => n + r.result.rywViolations, 0),
      writes: list.reduce((n, r) => n + r.result.writes, 0),
    };
  });
}

interface TargetCheck {
  readonly target: string;
  readonly met: boolean;
  readonly detail: string;
}

/** The targets, checked against this run. */
function evaluateTargets(
  summaries: readonly Summary[],
  adminProbe: Record<string, Record<number, number>>,
): TargetCheck[] {
  const get = (target: TargetName, workload: WorkloadName) =>
    summaries.find((s) => s.target === target && s.workload === workload);
  const checks: TargetCheck[] = [];
  const read = {
    ours: get('ours', 'read'),
    apollo: get('apollo', 'read'),
    hive: get('hive', 'read'),
    core: get('core-direct', 'read'),
  };
  if (read.ours && read.apollo && read.hive) {
    const vsApollo =
      read.ours.requestsPerSecond / read.apollo.requestsPerSecond;
    const vsHive = read.ours.requestsPerSecond / read.hive.requestsPerSecond;
    const p99 = read.ours.p99Ms / read.apollo.p99Ms;
    checks.push({
      target: 'read: ≥10× req/s of Apollo and Hive, p99 ≤ 1/10 of Apollo',
      met: vsApollo >= 10 && vsHive >= 10 && p99 <= 0.1,
      detail:
        `${round(vsApollo, 2)}× Apollo, ${round(vsHive, 2)}× Hive, p99 ${round(p99, 3)}× Apollo` +
        (read.core
          ? `; ${round(read.ours.requestsPerSecond / read.core.requestsPerSecond, 2)}× core-direct`
          : ''),
    });
  }
  const mixed = { ours: get('ours', 'mixed'), apollo: get('apollo', 'mixed') };
  if (mixed.ours && mixed.apollo) {
    const ratio = mixed.ours.requestsPerSecond / mixed.apollo.requestsPerSecond;
    checks.push({
      target: 'mixed: ≥5× Apollo, 0 read-your-writes violations, 0 errors',
      met:
        ratio >= 5 && mixed.ours.rywViolations === 0 && mixed.ours.errors === 0,
      detail: `${round(ratio, 2)}× Apollo, ${mixed.ours.rywViolations} violations of ${mixed.ours.rywChecked} checked, ${mixed.ours.errors} errors`,
    });
  }
  const probeOurs = adminProbe['ours'];
  if (probeOurs) {
    checks.push({
      target: 'admin-list: subgraph requests constant in users listed',
      met: probeOurs[5] === probeOurs[ADMIN_PAGE_SIZE],
      detail: `5 users: ${probeOurs[5]}, ${ADMIN_PAGE_SIZE} users: ${probeOurs[ADMIN_PAGE_SIZE]} subgraph requests`,
    });
  }
  const rssOurs = Math.max(
    ...summaries
      .filter((s) => s.target === 'ours')
      .map((s) => s.peakRssMiB ?? 0),
  );
  const rssApollo = Math.max(
    ...summaries
      .filter((s) => s.target === 'apollo')
      .map((s) => s.peakRssMiB ?? 0),
  );
  if (rssOurs > 0 && rssApollo > 0) {
    checks.push({
      target: 'memory: our peak RSS ≤ 1.5× stock Apollo',
      met: rssOurs <= 1.5 * rssApollo,
      detail: `${rssOurs} MiB vs ${rssApollo} MiB (${round(rssOurs / rssApollo, 2)}×)`,
    });
  }
  return checks;
}

// Last, so every declaration above is initialised before it runs.
try {
  await main();
} catch (error) {
  note(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
  clearTimeout(killer);
}
