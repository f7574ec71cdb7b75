// The load generator of `npm run bench`, in a process of its own so it
// never shares an event loop with a gateway: autocannon with a request
// built per send (different user, token and variables every time), and
// the read-your-writes check of the mixed workload. Driven over IPC by
// gateways.ts: `start` → warm-up → `warm` → `go` → measure → `result`.
import { readFile } from 'node:fs/promises';
import autocannon, { type RequestData } from 'autocannon';
import { SignJWT } from 'jose';
import { percentiles, type Percentiles } from '../stats.js';
import type { TokenFile } from './seed.js';
import {
  ADMIN_PAGE_SIZE,
  adminListQuery,
  CORE_READ_QUERY,
  KEY_LISTS,
  random,
  rankToUser,
  readQuery,
  REALMS,
  userId,
  WRITE_MUTATION,
  zipf,
  type RealmId,
  type TargetName,
  type WorkloadName,
} from './workloads.js';

/** What gateways.ts asks for. */
export interface LoadSpec {
  readonly target: TargetName;
  readonly url: string;
  readonly workload: WorkloadName;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly tokensFile: string;
  readonly usersPerRealm: number;
  /** Zipf exponent of user popularity. */
  readonly zipfExponent: number;
  /** Share of mixed requests that write. */
  readonly writeShare: number;
  /** Distinguishes this run's written values from earlier runs'. */
  readonly runIndex: number;
  /** For core-direct: signs the identity a gateway would forward. */
  readonly internalSecret: string;
}

/** What one measured run reports back. */
export interface LoadResult {
  readonly responses: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: Percentiles | null;
  readonly non2xx: number;
  readonly graphqlErrors: number;
  readonly transportErrors: number;
  readonly writes: number;
  readonly writeLatencyMs: Percentiles | null;
  /** Reads that followed an acknowledged write of the same user. */
  readonly rywChecked: number;
  readonly rywViolations: number;
  readonly sampleErrors: readonly string[];
}

type Message = { type: 'start'; spec: LoadSpec } | { type: 'go' };

/** A written value: which run and which write of it, in order. */
interface Written {
  readonly run: number;
  readonly seq: number;
}

const later = (a: Written, b: Written) =>
  a.run > b.run || (a.run === b.run && a.seq >= b.seq);

class Load {
  private readonly next = random(7);
  private readonly ranks: (() => number)[] = [];
  private readonly rankUsers: Int32Array[] = [];
  private readonly readBodies: string[][];
  private readonly adminQueries: string[];
  private readonly coreIdentities = new Map<string, string>();
  private writeSeq = 0;
  private readonly acked = new Map<number, Written>();
  private readonly writing = new Set<number>();
  measuring = false;
  stats = Load.emptyStats();

  constructor(
    private readonly spec: LoadSpec,
    private readonly tokens: TokenFile,
  ) {
    REALMS.forEach((_, r) => {
      this.ranks.push(zipf(spec.usersPerRealm, spec.zipfExponent, this.next));
      this.rankUsers.push(rankToUser(r, spec.usersPerRealm));
    });
    const query = (realm: RealmId) =>
      spec.target === 'core-direct' ? CORE_READ_QUERY : readQuery(realm);
    this.readBodies = REALMS.map((realm) =>
      KEY_LISTS.map((keys) =>
        JSON.stringify({
          query: query(realm),
          operationName: 'MyPreferences',
          variables: { keys },
        }),
      ),
    );
    this.adminQueries = REALMS.map(adminListQuery);
  }

  static emptyStats() {
    return {
      latencies: [] as number[],
      writeLatencies: [] as number[],
      non2xx: 0,
      graphqlErrors: 0,
      writes: 0,
      rywChecked: 0,
      rywViolations: 0,
      sampleErrors: [] as string[],
    };
  }

  /** Signs the forwarded identity of every user up front (60 s lifetime). */
  async signCoreIdentities(): Promise<void> {
    const key = new TextEncoder().encode(this.spec.internalSecret);
    for (const realm of REALMS) {
      for (let i = 0; i < this.spec.usersPerRealm; i += 1) {
        const token = await new SignJWT({
          realm,
          rid: `bench-${realm}-${i}`,
          roles: ['user'],
        })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(userId(i))
          .setIssuer('realms-gateway')
          .setAudience('realms-subgraphs')
          .setIssuedAt()
          .setExpirationTime('60s')
          .sign(key);
        this.coreIdentities.set(`${realm}:${i}`, token);
      }
    }
  }

  private pickUser(realmIndex: number): number {
    const rank = (this.ranks[realmIndex] as () => number)();
    return (this.rankUsers[realmIndex] as Int32Array)[rank] as number;
  }

  /** Builds the next request; notes in `context` what it was. */
  setup(request: RequestData, context: Record<string, unknown>): RequestData {
    const r = Math.floor(this.next() * REALMS.length);
    const realm = REALMS[r] as RealmId;
    context['sentAt'] = performance.now();
    if (this.spec.workload === 'admin-list') {
      const admins = this.tokens.admins[realm];
      const after = Math.floor(
        this.next() * (this.spec.usersPerRealm - ADMIN_PAGE_SIZE),
      );
      return {
        ...request,
        headers: this.headers(realm, admins[after % admins.length] as string),
        body: JSON.stringify({
          query: this.adminQueries[r],
          operationName: 'RealmPreferences',
          variables: { first: ADMIN_PAGE_SIZE, after: userId(after) },
        }),
      };
    }
    const user = this.pickUser(r);
    if (this.spec.target === 'core-direct') {
      return {
        ...request,
        headers: {
          'content-type': 'application/json',
          'x-realms-identity': this.coreIdentities.get(
            `${realm}:${user}`,
          ) as string,
        },
        body: this.readBody(r),
      };
    }
    const token = this.tokens.users[realm][user] as string;
    if (
      this.spec.workload === 'mixed' &&
      this.next() < this.spec.writeShare &&
      !this.writing.has(user)
    ) {
      // One write per user in flight at a time, so acknowledgements come
      // in the order the writes were stored.
      const written: Written = {
        run: this.spec.runIndex,
        seq: (this.writeSeq += 1),
      };
      this.writing.add(user);
      context['write'] = written;
      context['user'] = user;
      return {
        ...request,
        headers: this.headers(realm, token),
        body: JSON.stringify({
          query: WRITE_MUTATION,
          operationName: 'SetDisplayName',
          variables: {
            values: [
              {
                key: 'displayName',
                value: `rw ${written.run}.${written.seq}`,
                scope: 'GLOBAL',
              },
            ],
          },
        }),
      };
    }
    context['user'] = user;
    context['expect'] = this.acked.get(user);
    return {
      ...request,
      headers: this.headers(realm, token),
      body: this.readBody(r),
    };
  }

  private readBody(realmIndex: number): string {
    const bodies = this.readBodies[realmIndex] as string[];
    return bodies[Math.floor(this.next() * bodies.length)] as string;
  }

  private headers(realm: string, token: string): Record<string, string> {
    return {
      'content-type': 'application/json',
      'x-client-id': realm,
      authorization: `Bearer ${token}`,
    };
  }

  /** Counts errors and checks read-your-writes. */
  response(status: number, body: string, context: Record<string, unknown>) {
    const ok = status >= 200 && status < 300;
    const failed = !ok || body.includes('"errors"');
    const stats = this.stats;
    if (!ok) stats.non2xx += this.measuring ? 1 : 0;
    else if (failed) stats.graphqlErrors += this.measuring ? 1 : 0;
    if (failed && stats.sampleErrors.length < 5) {
      stats.sampleErrors.push(`${status} ${body.slice(0, 300)}`);
    }

    const user = context['user'] as number | undefined;
    const write = context['write'] as Written | undefined;
    if (write && user !== undefined) {
      this.writing.delete(user);
      if (this.measuring) {
        stats.writes += 1;
        stats.writeLatencies.push(
          performance.now() - (context['sentAt'] as number),
        );
      }
      if (failed) return;
      const previous = this.acked.get(user);
      if (!previous || later(write, previous)) this.acked.set(user, write);
      return;
    }
    const expect = context['expect'] as Written | undefined;
    if (!expect || failed) return;
    stats.rywChecked += 1;
    const seen = writtenValue(body);
    if (!seen || !later(seen, expect)) {
      stats.rywViolations += 1;
      if (stats.sampleErrors.length < 5)
        stats.sampleErrors.push(
          `read-your-writes: user ${userId(user ?? -1)} expected ` +
            `rw ${expect.run}.${expect.seq}, got ${body.slice(0, 200)}`,
        );
    }
  }

  /** One autocannon run; resolves with its wall time in seconds. */
  run(seconds: number): Promise<number> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const instance = autocannon(
        {
          url: this.spec.url,
          connections: this.spec.connections,
          pipelining: 1,
          duration: seconds,
          timeout: 10,
          method: 'POST',
          requests: [
            {
              setupRequest: (request, context) => this.setup(request, context),
              onResponse: (status, body, context) =>
                this.response(status, body, context),
            },
          ],
        },
        (error, result) => {
          if (error) reject(error);
          else {
            this.transportErrors += result.errors + result.timeouts;
            resolve((performance.now() - started) / 1000);
          }
        },
      );
      instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
        if (this.measuring) this.stats.latencies.push(responseTimeMs);
      });
    });
  }

  transportErrors = 0;
}

/** The `rw <run>.<seq>` displayName in a read's answer, if any. */
function writtenValue(body: string): Written | null {
  const match = /"key":"displayName","value":"rw (\d+)\.(\d+)"/.exec(body);
  if (!match) return null;
  return { run: Number(match[1]), seq: Number(match[2]) };
}

async function main(spec: LoadSpec) {
  const tokens = JSON.parse(
    await readFile(spec.tokensFile, 'utf8'),
  ) as TokenFile;
  const load = new Load(spec, tokens);
  if (spec.target === 'core-direct') await load.signCoreIdentities();

  if (spec.warmupSeconds > 0) await load.run(spec.warmupSeconds);
  const go = new Promise<void>((resolve) =>
    process.on('message', (message: Message) => {
      if (message.type === 'go') resolve();
    }),
  );
  process.send?.({ type: 'warm' });
  await go;

  // Read-your-writes holds in the warm-up too: its violations count.
  const warm = load.stats;
  load.stats = {
    ...Load.emptyStats(),
    rywChecked: warm.rywChecked,
    rywViolations: warm.rywViolations,
    sampleErrors: warm.rywViolations > 0 ? warm.sampleErrors : [],
  };
  load.transportErrors = 0;
  load.measuring = true;
  const seconds = await load.run(spec.durationSeconds);
  load.measuring = false;
  const s = load.stats;
  const result: LoadResult = {
    responses: s.latencies.length,
    seconds,
    requestsPerSecond: s.latencies.length / seconds,
    latencyMs: percentiles(s.latencies),
    non2xx: s.non2xx,
    graphqlErrors: s.graphqlErrors,
    transportErrors: load.transportErrors,
    writes: s.writes,
    writeLatencyMs: percentiles(s.writeLatencies),
    rywChecked: s.rywChecked,
    rywViolations: s.rywViolations,
    sampleErrors: s.sampleErrors,
  };
  process.send?.({ type: 'result', result }, () => process.exit(0));
}

process.once('message', (message: Message) => {
  if (message.type !== 'start') return;
  main(message.spec).catch((error: unknown) => {
    process.send?.({ type: 'failed', error: String(error) }, () =>
      process.exit(1),
    );
  });
});
// Never outlive the benchmark that started this process.
process.on('disconnect', () => process.exit(0));
