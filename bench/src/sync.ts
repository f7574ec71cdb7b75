// `npm run bench:sync [-- --tiers 1,100,1000,10000]`: state-sync latency
// and throughput of preferenceChanged subscriptions on one gateway.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ensureDevKeys, issueDevToken, loadCatalog } from '@realms/platform';
import { SubscriberPool } from './clients.js';
import { percentiles, round, table, type Percentiles } from './stats.js';
import {
  deleteKeys,
  repoRoot,
  residentBytes,
  sleep,
  startSystem,
  type SystemProcess,
} from './system.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const REALM = 'sports';
/** The whole run stops measuring after this, and is killed after HARD_STOP_MS. */
const BUDGET_MS = 270_000;
const HARD_STOP_MS = 330_000;
/** More subscribers than this share connections. */
const MAX_CONNECTIONS = 1_000;
/** Sequential changes measured per tier (fewer for more subscribers). */
const LATENCY_CHANGES: Record<number, number> = {
  1: 300,
  100: 200,
  1_000: 100,
  10_000: 40,
};
const DEFAULT_LATENCY_CHANGES = 50;
/** The throughput phase: this long, with this many changes in flight. */
const THROUGHPUT_MS = 5_000;
const IN_FLIGHT = 8;
/** One change not delivered to every subscriber by then counts as missing. */
const DELIVERY_WAIT_MS = 5_000;
const TARGET = { subscribers: 1_000, p99Ms: 50 };
/** USER_HZ of /proc/<pid>/stat: 100 on every Linux this runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

const SUBSCRIPTION = `subscription BenchSync {
  preferenceChanged { version at preference { version sports { favoriteTeams } } }
}`;
const MUTATION = `mutation BenchWrite($teams: [String!]) {
  updateSportsPreferences(input: { favoriteTeams: $teams }) { version }
}`;

const { values: args } = parseArgs({
  options: { tiers: { type: 'string', default: '1,100,1000,10000' } },
});
const tiers = args.tiers
  .split(',')
  .map((t) => Number(t.trim()))
  .filter((t) => Number.isInteger(t) && t > 0);
if (tiers.length === 0) {
  console.error('Usage: npm run bench:sync -- [--tiers 1,100,1000,10000]');
  process.exit(2);
}

/**
 * What the subscribers received, by change (version). Sequential changes
 * are matched to their mutation by version; concurrent ones are not (see
 * the README), so under load only counts and store-to-arrival times are
 * kept.
 */
class Deliveries {
  private readonly events = new Map<
    number,
    { arrivals: number[]; complete: Promise<void>; resolve: () => void }
  >();
  private readonly countWaiters = new Set<() => void>();
  /** Subscribers in the current tier: a change is complete at this many. */
  private expected = 1;
  /** Keep each arrival (sequential phase) or only counts (load phase). */
  private keepArrivals = true;
  /** Results received, and changes received by every subscriber. */
  total = 0;
  completed = 0;
  /** Epoch ms from the change being stored to its arrival, when kept. */
  storeToArrival: number[] | null = null;

  readonly onResult = (
    version: number,
    storedAt: number,
    arrivedAt: number,
    arrivedAtEpoch: number,
  ) => {
    this.total += 1;
    this.storeToArrival?.push(arrivedAtEpoch - storedAt);
    const event = this.event(version);
    event.arrivals.push(this.keepArrivals ? arrivedAt : 0);
    if (event.arrivals.length !== this.expected) return;
    this.completed += 1;
    event.resolve();
    if (!this.keepArrivals) this.events.delete(version);
    for (const waiter of this.countWaiters) waiter();
  };

  private event(version: number) {
    let event = this.events.get(version);
    if (!event) {
      let resolve = () => {};
      const complete = new Promise<void>((r) => (resolve = r));
      event = { arrivals: [], complete, resolve };
      this.events.set(version, event);
    }
    return event;
  }

  /** Waits (bounded) until every subscriber has the change; its arrivals. */
  async arrivals(version: number, timeoutMs: number): Promise<number[]> {
    const event = this.event(version);
    await bounded(event.complete, timeoutMs);
    this.events.delete(version);
    return event.arrivals;
  }

  /** Waits (bounded) until `count` changes reached every subscriber. */
  async completedAtLeast(count: number, timeoutMs: number): Promise<boolean> {
    if (this.completed >= count) return true;
    let waiter = () => {};
    const reached = new Promise<void>((resolve) => {
      waiter = () => {
        if (this.completed >= count) resolve();
      };
      this.countWaiters.add(waiter);
    });
    await bounded(reached, timeoutMs);
    this.countWaiters.delete(waiter);
    return this.completed >= count;
  }

  reset(expected: number, keepArrivals: boolean) {
    this.events.clear();
    this.expected = expected;
    this.keepArrivals = keepArrivals;
  }
}

async function bounded(promise: Promise<unknown>, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
  ]);
  clearTimeout(timer);
}

interface TierResult {
  subscribers: number;
  connections: number;
  subscriptionsPerConnection: number;
  connectMs: number;
  latency: {
    changes: number;
    fromAckMs: Percentiles | null;
    fromSendMs: Percentiles | null;
    /** From the stored time in the event (ms resolution, same clock). */
    fromStoreMs: Percentiles | null;
    /** Per change: until the first subscriber had it, and the last. */
    firstSubscriberFromAckMs: Percentiles | null;
    lastSubscriberFromAckMs: Percentiles | null;
    /** Results that arrived before the mutation's HTTP response. */
    beforeAck: number;
    missing: number;
    /**
     * CPU time per change in this phase, of the server process and of
     * this one (subscribers and writer): less noisy than latency when
     * other work shares the machine. Null where /proc is not readable.
     */
    serverCpuMsPerChange: number | null;
    clientCpuMsPerChange: number;
  };
  throughput: {
    durationMs: number;
    inFlight: number;
    changes: number;
    changesPerSecond: number;
    failedWrites: number;
    lastWriteError: string | null;
    resultsDelivered: number;
    resultsPerSecond: number;
    /** Results the subscribers should have had but did not. */
    missing: number;
    fromStoreMs: Percentiles | null;
  };
  memory: {
    rssBeforeBytes: number;
    rssIdleBytes: number;
    bytesPerIdleSubscription: number;
  };
  closes: Record<string, number>;
  errors: number;
  lastError: string | null;
  /** 1-minute load average before and after the tier (other work shows here). */
  loadAverage: { before: number; after: number };
  partial: boolean;
}

const started = Date.now();
const deadline = started + BUDGET_MS;
const keyPrefix = `realms-bench-${randomUUID()}`;
let keysDir: string | null = null;
let system: SystemProcess | null = null;
let pool: SubscriberPool | null = null;
let cleaning: Promise<void> | null = null;

const cleanup = () =>
  (cleaning ??= (async () => {
    await pool?.close().catch(() => undefined);
    await system?.stop().catch(() => undefined);
    await deleteKeys(REDIS_URL, keyPrefix).catch((error: unknown) =>
      console.error(`could not delete ${keyPrefix}:*: ${String(error)}`),
    );
    if (keysDir) await rm(keysDir, { recursive: true, force: true });
  })());

const hardStop = setTimeout(() => {
  console.error(`\nbench:sync ran past ${HARD_STOP_MS / 1000} s; stopping.`);
  void cleanup().finally(() => process.exit(1));
}, HARD_STOP_MS);
hardStop.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping.`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** One line that says what is running (rewritten in place on a terminal). */
function progress(text: string) {
  const elapsed = `${Math.round((Date.now() - started) / 1000)}s`;
  if (process.stderr.isTTY)
    process.stderr.write(`\r\x1b[K[${elapsed}] ${text}`);
  else process.stderr.write(`[${elapsed}] ${text}\n`);
}

try {
  const catalog = await loadCatalog();
  const realm = catalog.realm(REALM);
  if (!realm) throw new Error(`no realm ${REALM}`);
  keysDir = await mkdtemp(join(tmpdir(), 'realms-bench-keys-'));
  await ensureDevKeys(catalog.realms.values(), keysDir);
  const token = await issueDevToken(
    { realm, userId: `bench-${randomUUID()}`, roles: ['user'] },
    keysDir,
  );

  progress('starting the system (npm start, Redis state) …');
  system = await startSystem({
    REDIS_URL,
    REDIS_KEY_PREFIX: keyPrefix,
    REALMS_KEYS_DIR: keysDir,
    REALMS_INTERNAL_SECRET: randomBytes(32).toString('base64url'),
    LOG_LEVEL: 'warn',
    APOLLO_TELEMETRY_DISABLED: 'true',
    TURBO_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
  });
  const { gatewayUrl, serverPid } = system;
  const rssStart = await residentBytes(serverPid);

  let writes = 0;
  /** One change through the gateway: its version and timings. */
  const write = async () => {
    writes += 1;
    const sentAt = performance.now();
    const response = await fetch(gatewayUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-client-id': REALM,
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        query: MUTATION,
        variables: { teams: [`team-${writes}`] },
      }),
    });
    const body = (await response.json()) as {
      data?: { updateSportsPreferences?: { version: number } };
      errors?: { message: string }[];
    };
    const ackAt = performance.now();
    const version = body.data?.updateSportsPreferences?.version;
    if (version === undefined)
      throw new Error(`write failed: ${JSON.stringify(body.errors)}`);
    return { version, sentAt, ackAt };
  };

  const deliveries = new Deliveries();
  const results: TierResult[] = [];
  for (const subscribers of tiers) {
    if (Date.now() > deadline) {
      progress(`budget spent: skipping ${subscribers} subscribers`);
      continue;
    }
    const label = `${subscribers.toLocaleString('en')} subscribers`;
    const connections = Math.min(subscribers, MAX_CONNECTIONS);
    await sleep(1_000);
    const rssBefore = await residentBytes(serverPid);
    const loadBefore = round(loadavg()[0] ?? 0);

    deliveries.reset(subscribers, true);
    deliveries.storeToArrival = null;
    pool = new SubscriberPool({
      url: gatewayUrl,
      realm: REALM,
      token,
      query: SUBSCRIPTION,
      subscribers,
      connections,
      onResult: deliveries.onResult,
    });
    const connectStart = performance.now();
    await pool.open((opened) =>
      progress(`${label}: subscribed ${opened}/${subscribers} …`),
    );
    // The protocol does not acknowledge a subscribe: change until every
    // subscriber has one result, so all are live.
    let live = false;
    for (let attempt = 0; attempt < 20 && !live; attempt += 1) {
      const { version } = await write();
      live = (await deliveries.arrivals(version, 2_000)).length >= subscribers;
    }
    if (!live) throw new Error(`${label}: not all subscriptions went live`);
    const connectMs = performance.now() - connectStart;
    progress(`${label}: idle, reading memory …`);
    await sleep(1_000);
    const rssIdle = await residentBytes(serverPid);
    let partial = false;

    // Latency: one change at a time, each delivered everywhere first.
    const planned = LATENCY_CHANGES[subscribers] ?? DEFAULT_LATENCY_CHANGES;
    const fromAck: number[] = [];
    const fromSend: number[] = [];
    const firstFromAck: number[] = [];
    const lastFromAck: number[] = [];
    let beforeAck = 0;
    let missing = 0;
    let changes = 0;
    deliveries.storeToArrival = [];
    const serverCpuBefore = await cpuMs(serverPid);
    const clientCpuBefore = process.cpuUsage();
    for (; changes < planned; changes += 1) {
      if (Date.now() > deadline) {
        partial = true;
        break;
      }
      if (changes % 10 === 0)
        progress(`${label}: latency, change ${changes + 1}/${planned} …`);
      const { version, sentAt, ackAt } = await write();
      const arrivals = await deliveries.arrivals(version, DELIVERY_WAIT_MS);
      missing += subscribers - arrivals.length;
      if (arrivals.length > 0) {
        firstFromAck.push(Math.min(...arrivals) - ackAt);
        lastFromAck.push(Math.max(...arrivals) - ackAt);
      }
      for (const at of arrivals) {
        fromAck.push(at - ackAt);
        fromSend.push(at - sentAt);
        if (at < ackAt) beforeAck += 1;
      }
      await sleep(5);
    }
    const serverCpuAfter = await cpuMs(serverPid);
    const clientCpu = process.cpuUsage(clientCpuBefore);

    const fromStore = deliveries.storeToArrival;

    // Throughput: IN_FLIGHT writers; each, after its write, waits until as
    // many changes as were written so far reached every subscriber, so at
    // most IN_FLIGHT changes are on their way at any time.
    progress(`${label}: throughput, ${THROUGHPUT_MS / 1000} s …`);
    const throughputMs = Math.max(
      0,
      Math.min(THROUGHPUT_MS, deadline - Date.now()),
    );
    if (throughputMs < THROUGHPUT_MS) partial = true;
    deliveries.reset(subscribers, false);
    deliveries.storeToArrival = [];
    let loadChanges = 0;
    let failedWrites = 0;
    let lastWriteError: string | null = null;
    const completedBefore = deliveries.completed;
    const totalBefore = deliveries.total;
    const loadStart = performance.now();
    const loadEnd = loadStart + throughputMs;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() < loadEnd) {
          loadChanges += 1;
          const written = loadChanges;
          try {
            await write();
          } catch (error) {
            // Counted and reported, not fatal: the load goes on.
            failedWrites += 1;
            lastWriteError = (error as Error).message;
          }
          await deliveries.completedAtLeast(
            completedBefore + written - failedWrites,
            DELIVERY_WAIT_MS,
          );
        }
      }),
    );
    loadChanges -= failedWrites;
    await deliveries.completedAtLeast(
      completedBefore + loadChanges,
      DELIVERY_WAIT_MS,
    );
    const loadMs = performance.now() - loadStart;
    const delivered = deliveries.total - totalBefore;
    const underLoad = deliveries.storeToArrival;
    deliveries.storeToArrival = null;

    results.push({
      subscribers,
      connections,
      subscriptionsPerConnection: Math.ceil(subscribers / connections),
      connectMs: round(connectMs, 0),
      latency: {
        changes,
        fromAckMs: percentiles(fromAck),
        fromSendMs: percentiles(fromSend),
        fromStoreMs: percentiles(fromStore),
        firstSubscriberFromAckMs: percentiles(firstFromAck),
        lastSubscriberFromAckMs: percentiles(lastFromAck),
        beforeAck,
        missing,
        serverCpuMsPerChange:
          serverCpuAfter === null || serverCpuBefore === null
            ? null
            : round((serverCpuAfter - serverCpuBefore) / Math.max(1, changes)),
        clientCpuMsPerChange: round(
          (clientCpu.user + clientCpu.system) / 1000 / Math.max(1, changes),
        ),
      },
      throughput: {
        durationMs: round(loadMs, 0),
        inFlight: IN_FLIGHT,
        changes: loadChanges,
        failedWrites,
        lastWriteError,
        changesPerSecond: round((loadChanges * 1000) / loadMs, 1),
        resultsDelivered: delivered,
        resultsPerSecond: round((delivered * 1000) / loadMs, 0),
        missing: loadChanges * subscribers - delivered,
        fromStoreMs: percentiles(underLoad),
      },
      memory: {
        rssBeforeBytes: rssBefore,
        rssIdleBytes: rssIdle,
        bytesPerIdleSubscription: round((rssIdle - rssBefore) / subscribers, 0),
      },
      closes: Object.fromEntries(
        [...pool.closes].map(([code, count]) => [String(code), count]),
      ),
      errors: pool.errors,
      lastError: pool.lastError,
      loadAverage: { before: loadBefore, after: round(loadavg()[0] ?? 0) },
      partial,
    });

    progress(`${label}: closing …`);
    await pool.close();
    pool = null;
  }
  if (process.stderr.isTTY) process.stderr.write('\n');

  const notes = [
    'The system runs as `npm start` (gateway and the four subgraphs in one ' +
      'node process, state in Redis) in a child process; RSS is that ' +
      "process's VmRSS.",
    `Clients and the load generator run in this process on the same machine ` +
      `(${cpus().length} CPUs), so they compete with the system for CPU; ` +
      'latencies include the client-side handling of every message.',
    'Every subscriber watches the same user (preferenceChanged): each change ' +
      'fans out to every subscriber, which share one federated execution of ' +
      '`preference` per change.',
    `At most ${MAX_CONNECTIONS.toLocaleString('en')} WebSocket connections: ` +
      'larger tiers multiplex several subscriptions per connection ' +
      '(see subscriptionsPerConnection).',
    'Latency runs from the HTTP mutation response received (the ' +
      "acknowledgement) to the result's arrival at the subscriber; a " +
      'negative value means the result arrived before the acknowledgement.',
    'Memory per idle subscription: (RSS with the tier subscribed and idle ' +
      '− RSS before it) / subscribers, without a forced GC: approximate, ' +
      'and includes the connections.',
    `Throughput: ${IN_FLIGHT} writers for ${THROUGHPUT_MS / 1000} s, each ` +
      'waiting until its change reached every subscriber; results/s counts ' +
      'results received by all subscribers.',
  ];

  const ms = (p: Percentiles | null, key: 'p50' | 'p95' | 'p99') =>
    p ? p[key].toFixed(1) : '-';
  const rows = results.map((r) => [
    r.subscribers.toLocaleString('en'),
    `${r.connections.toLocaleString('en')}×${r.subscriptionsPerConnection}`,
    ms(r.latency.fromAckMs, 'p50'),
    ms(r.latency.fromAckMs, 'p95'),
    ms(r.latency.fromAckMs, 'p99'),
    ms(r.latency.firstSubscriberFromAckMs, 'p50'),
    ms(r.throughput.fromStoreMs, 'p99'),
    r.throughput.resultsPerSecond.toLocaleString('en'),
    r.throughput.changesPerSecond.toFixed(1),
    // Below 100 subscribers the difference is noise (GC, allocator).
    r.subscribers < 100
      ? '-'
      : (r.memory.bytesPerIdleSubscription / 1024).toFixed(1),
    `${(r.memory.rssIdleBytes / 2 ** 20).toFixed(0)}`,
    String(r.latency.missing + r.throughput.missing),
    String(Object.values(r.closes).reduce((a, b) => a + b, 0) + r.errors),
  ]);
  const target = results.find((r) => r.subscribers === TARGET.subscribers);
  const targetP99 = target?.latency.fromAckMs?.p99;
  const targetLine =
    targetP99 === undefined
      ? `Target p99 < ${TARGET.p99Ms} ms at ${TARGET.subscribers.toLocaleString('en')} subscribers: not measured.`
      : `Target p99 < ${TARGET.p99Ms} ms at ${TARGET.subscribers.toLocaleString('en')} subscribers: ` +
        `${targetP99 < TARGET.p99Ms ? 'MET' : 'NOT MET'} (p99 ${targetP99.toFixed(1)} ms).`;

  console.log(
    [
      '',
      'State sync: mutation acknowledged → result at the subscriber (ms)',
      '',
      table(
        [
          'subscribers',
          'conns×subs',
          'p50',
          'p95',
          'p99',
          'first p50†',
          'p99 load*',
          'results/s',
          'changes/s',
          'KiB/idle sub',
          'RSS MiB',
          'missing',
          'closes+errors',
        ],
        rows,
      ),
      '',
      '† first p50: per change, until the first subscriber had it (the ' +
        'rest is fan-out, including this process reading every message).',
      '* p99 load: from the change stored (event `at`) to its arrival, ' +
        `with ${IN_FLIGHT} writers; the other latencies are one change at a time.`,
      targetLine,
      `Server RSS at start ${(rssStart / 2 ** 20).toFixed(0)} MiB. ` +
        `1-minute load average per tier: ${results
          .map((r) => `${r.loadAverage.before}→${r.loadAverage.after}`)
          .join(', ')} on ${cpus().length} CPUs.`,
      `CPU ms per change, one at a time (server / this process): ${results
        .map(
          (r) =>
            `${r.subscribers.toLocaleString('en')}: ` +
            `${r.latency.serverCpuMsPerChange ?? '-'} / ${r.latency.clientCpuMsPerChange}`,
        )
        .join(', ')}.`,
      ...(results.some((r) => r.partial)
        ? ['Some tiers were cut short by the time budget (partial: true).']
        : []),
      '',
      ...notes.map((n) => `- ${n}`),
    ].join('\n'),
  );

  const date = new Date().toISOString();
  const report = {
    benchmark: 'sync',
    date,
    commit: gitCommit(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
    },
    setup: {
      system: 'npm start (child process), Redis state, loopback',
      redis: REDIS_URL.replace(/\/\/[^@]*@/, '//'),
      subscription: SUBSCRIPTION,
      mutation: MUTATION,
      maxConnections: MAX_CONNECTIONS,
      serverRssStartBytes: rssStart,
    },
    target: {
      ...TARGET,
      measuredP99Ms: targetP99 ?? null,
      met: targetP99 === undefined ? null : targetP99 < TARGET.p99Ms,
    },
    tiers: results,
    notes,
  };
  const folder = join(repoRoot, 'bench', 'results');
  await mkdir(folder, { recursive: true });
  const file = join(folder, `sync-${date.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nWrote ${file}`);
  await cleanup();
  process.exit(0);
} catch (error) {
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.error(`bench:sync failed: ${(error as Error).message}`);
  if (system)
    console.error(`System output (tail):\n${system.output().slice(-4_000)}`);
  await cleanup();
  process.exit(1);
}

/**
 * CPU time (user + system) a process has used so far, from
 * /proc/<pid>/stat, in ms; null where that is not readable.
 */
async function cpuMs(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are
    // the 14th and 15th of the whole line, in clock ticks.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks)
      ? (ticks * 1000) / CLOCK_TICKS_PER_SECOND
      : null;
  } catch {
    return null;
  }
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot })
      .toString()
      .trim();
  } catch {
    return null;
  }
}
