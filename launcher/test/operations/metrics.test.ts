import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBGRAPHS } from '@realms/gateway';
import { ERROR_CODES, loadCatalog, OTHER_LABEL } from '@realms/platform';
import { graphql } from '../support/test-system.js';
import { WsClients } from '../support/ws-client.js';
import {
  familyServing,
  loadAlertRules,
  metricNamesIn,
  PROMETHEUS_SERIES,
} from './support/alert-rules.js';
import type { MetricFamily, Scrape } from './support/prometheus-text.js';
import {
  startRealmsProcesses,
  type RealmsProcesses,
  type RunningService,
} from './support/realms-processes.js';

/*
 * A scrape of /metrics on every service after known traffic, with the
 * services run as docker-compose runs them (one process each, on real
 * Redis). Each step sends its requests, scrapes, and compares with the
 * scrape taken before any traffic: the test is the only client of these
 * processes, so what it sent is a lower bound of what they counted.
 */

/** The labels of every realms_* family (besides `service` and `le`). */
const FAMILY_LABELS: Record<string, readonly string[]> = {
  realms_graphql_requests_total: ['realm', 'operation', 'outcome'],
  realms_graphql_request_duration_seconds: ['realm', 'operation', 'outcome'],
  realms_graphql_errors_total: ['code'],
  realms_redis_command_duration_seconds: ['role', 'command', 'outcome'],
  realms_redis_reconnects_total: ['role'],
  realms_redis_connected: ['role'],
  realms_subgraph_fetch_duration_seconds: ['subgraph', 'outcome'],
  realms_subscriptions_active: ['realm', 'kind'],
  realms_subscription_events_delivered_total: ['realm', 'kind'],
  realms_state_sync_latency_seconds: ['realm'],
  realms_read_cache_lookups_total: ['result'],
  realms_entity_cache_lookups_total: ['subgraph', 'result'],
};

/** What only the gateway exports. */
const GATEWAY_ONLY = [
  'realms_subgraph_fetch_duration_seconds',
  'realms_subscriptions_active',
  'realms_subscription_events_delivered_total',
  'realms_state_sync_latency_seconds',
  'realms_read_cache_lookups_total',
  'realms_entity_cache_lookups_total',
];

/** Distinct series one family may have here; far above what runs make. */
const MAX_SERIES_PER_FAMILY = 300;

const SPORTS_READ = /* GraphQL */ `
  query MetricsSportsRead {
    myPreferences {
      version
      sports {
        favoriteTeams
      }
    }
  }
`;
const PARKS_READ = /* GraphQL */ `
  query MetricsParksRead {
    myPreferences {
      parks {
        trip {
          partySize
        }
      }
    }
  }
`;
const ENTERTAINMENT_READ = /* GraphQL */ `
  query MetricsEntertainmentRead {
    myPreferences {
      entertainment {
        genres
      }
    }
  }
`;
const TEAMS_WRITE = /* GraphQL */ `
  mutation MetricsTeamsWrite($teams: [String!]!) {
    updateSportsPreferences(input: { favoriteTeams: $teams }) {
      version
    }
  }
`;
const OWN_CHANGES = /* GraphQL */ `
  subscription MetricsOwnChanges {
    preferenceChanged {
      version
      changedKeys
    }
  }
`;

/** The `{realm, operation, outcome}` labels of a gateway request series. */
const request = (realm: string, operation: string, outcome = 'success') => ({
  service: 'gateway',
  realm,
  operation,
  outcome,
});

describe('metrics of every service after known traffic', () => {
  let realms: RealmsProcesses;
  let baseline: Map<string, Scrape>;
  const clients = new WsClients(() => realms.gatewayUrl);
  // Users no label may ever name.
  const users = {
    sports: `metrics-sports-${randomBytes(6).toString('hex')}`,
    parks: `metrics-parks-${randomBytes(6).toString('hex')}`,
    entertainment: `metrics-ent-${randomBytes(6).toString('hex')}`,
  };

  beforeAll(async () => {
    realms = await startRealmsProcesses();
    baseline = await realms.scrapeAll();
  }, 60_000);

  afterAll(async () => {
    await clients.disposeAll();
    await realms?.stop();
  });

  const service = (name: string): RunningService => {
    const found = realms.services.find((s) => s.name === name);
    if (!found) throw new Error(`no service ${name}`);
    return found;
  };
  const gateway = () => realms.scrape(service('gateway'));
  /** How much a sample sum grew since the baseline scrape. */
  const grown = (
    now: Scrape,
    sampleName: string,
    labels: Record<string, string>,
  ) => {
    const before = baseline.get(now.service)?.sum(sampleName, labels) ?? 0;
    return now.sum(sampleName, labels) - before;
  };

  /** Scrapes the gateway until `done` holds: at most 50 times, ~10 s. */
  async function untilGateway(
    done: (scrape: Scrape) => boolean,
    what: string,
  ): Promise<Scrape> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const scrape = await gateway();
      if (done(scrape)) return scrape;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the gateway's metrics never showed ${what}`);
  }

  it('serves Prometheus text on every service, each series labelled with its service', async () => {
    expect(realms.services.map((s) => s.name).sort()).toEqual(
      ['gateway', ...SUBGRAPHS.map((s) => s.name)].sort(),
    );
    for (const running of realms.services) {
      const response = await fetch(new URL('/metrics', running.url));
      expect(response.status, running.name).toBe(200);
      expect(response.headers.get('content-type'), running.name).toMatch(
        /^text\/plain; version=0\.0\.4/,
      );
      const scrape = baseline.get(running.name) as Scrape;
      for (const family of scrape.families.values()) {
        for (const sample of family.samples) {
          expect(sample.labels['service'], family.name).toBe(
            running.metricsService,
          );
        }
      }
      // prom-client's default process metrics, per service.
      for (const name of [
        'process_cpu_user_seconds_total',
        'process_resident_memory_bytes',
      ]) {
        expect(scrape.sum(name), `${running.name} ${name}`).toBeGreaterThan(0);
      }
      expect(scrape.families.has('nodejs_eventloop_lag_seconds')).toBe(true);
      // What every service measures, and what only the gateway does.
      for (const name of [
        'realms_graphql_requests_total',
        'realms_graphql_request_duration_seconds',
        'realms_graphql_errors_total',
        'realms_redis_command_duration_seconds',
        'realms_redis_reconnects_total',
        'realms_redis_connected',
      ]) {
        expect(scrape.families.has(name), `${running.name} ${name}`).toBe(true);
      }
      for (const name of GATEWAY_ONLY) {
        expect(scrape.families.has(name), `${running.name} ${name}`).toBe(
          running.name === 'gateway',
        );
      }
    }
  });

  it('counts and times queries in two realms and a refused request, by realm, operation and outcome', async () => {
    const sports = await realms.token('sports', users.sports);
    const parks = await realms.token('parks', users.parks);
    const entertainment = await realms.token(
      'entertainment',
      users.entertainment,
    );
    for (let i = 0; i < 2; i++) {
      const read = await graphql(realms.gatewayUrl, SPORTS_READ, {
        realm: 'sports',
        token: sports,
      });
      expect(read.errors).toBeUndefined();
    }
    const parksRead = await graphql(realms.gatewayUrl, PARKS_READ, {
      realm: 'parks',
      token: parks,
    });
    expect(parksRead.errors).toBeUndefined();
    const entertainmentRead = await graphql(
      realms.gatewayUrl,
      ENTERTAINMENT_READ,
      { realm: 'entertainment', token: entertainment },
    );
    expect(entertainmentRead.errors).toBeUndefined();
    // A sports token does not verify in parks: refused before any
    // operation starts.
    const refused = await graphql(realms.gatewayUrl, PARKS_READ, {
      realm: 'parks',
      token: sports,
    });
    expect(refused.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');

    const now = await gateway();
    const total = 'realms_graphql_requests_total';
    const count = 'realms_graphql_request_duration_seconds_count';
    expect(
      grown(now, total, request('sports', 'MetricsSportsRead')),
    ).toBeGreaterThanOrEqual(2);
    expect(
      grown(now, total, request('parks', 'MetricsParksRead')),
    ).toBeGreaterThanOrEqual(1);
    expect(
      grown(now, total, request('entertainment', 'MetricsEntertainmentRead')),
    ).toBeGreaterThanOrEqual(1);
    // Every operation that started is timed: the histogram counts it.
    for (const [realm, operation] of [
      ['sports', 'MetricsSportsRead'],
      ['parks', 'MetricsParksRead'],
      ['entertainment', 'MetricsEntertainmentRead'],
    ] as const) {
      const labels = request(realm, operation);
      expect(now.sum(count, labels), operation).toBe(now.sum(total, labels));
      expect(
        now.sum('realms_graphql_request_duration_seconds_sum', labels),
        operation,
      ).toBeGreaterThan(0);
    }

    // The refusal: no realm or operation was read, and its code is counted.
    expect(
      grown(now, total, request('unknown', 'unknown', 'error')),
    ).toBeGreaterThanOrEqual(1);
    expect(
      grown(now, 'realms_graphql_errors_total', { code: 'UNAUTHENTICATED' }),
    ).toBeGreaterThanOrEqual(1);

    // The second sports read came from the read cache; the others missed.
    const lookups = 'realms_read_cache_lookups_total';
    expect(grown(now, lookups, { result: 'hit' })).toBeGreaterThanOrEqual(1);
    expect(grown(now, lookups, { result: 'miss' })).toBeGreaterThanOrEqual(3);
    // Their division fetches (one preference each) were entity lookups.
    const entities = 'realms_entity_cache_lookups_total';
    for (const subgraph of ['sports', 'parks']) {
      expect(
        grown(now, entities, { subgraph, result: 'miss' }),
        subgraph,
      ).toBeGreaterThanOrEqual(1);
    }

    // The misses reached every subgraph: one fetch histogram per subgraph.
    for (const { name } of SUBGRAPHS) {
      expect(
        grown(now, 'realms_subgraph_fetch_duration_seconds_count', {
          subgraph: name,
          outcome: 'success',
        }),
        name,
      ).toBeGreaterThanOrEqual(1);
    }
  });

  it('counts a refused write by its error code at the gateway and at the subgraph that refused it', async () => {
    const token = await realms.token('sports', users.sports);
    const refused = await graphql(realms.gatewayUrl, TEAMS_WRITE, {
      realm: 'sports',
      token,
      variables: { teams: ['x'.repeat(500)] },
    });
    const code = String(refused.errors?.[0]?.extensions?.['code']);
    expect(Object.keys(ERROR_CODES)).toContain(code);

    const errors = 'realms_graphql_errors_total';
    expect(grown(await gateway(), errors, { code })).toBeGreaterThanOrEqual(1);
    const sports = await realms.scrape(service('sports'));
    expect(grown(sports, errors, { code })).toBeGreaterThanOrEqual(1);
    expect(
      grown(sports, 'realms_graphql_requests_total', {
        realm: 'sports',
        outcome: 'error',
      }) +
        grown(sports, 'realms_graphql_requests_total', {
          realm: 'sports',
          outcome: 'partial',
        }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('shows an open subscription, the event it got and its sync latency, and its end', async () => {
    const token = await realms.token('sports', users.sports);
    const live = { service: 'gateway', realm: 'sports', kind: 'own' };
    const active = 'realms_subscriptions_active';
    const ws = clients.connect({ realm: 'sports', token });
    const changes = ws.subscribe<{
      preferenceChanged: { version: number; changedKeys: string[] };
    }>({ query: OWN_CHANGES });
    // The gauge rises once the subscription is listening: a write made
    // after that is a live change, not one the subscribe could race.
    await untilGateway((s) => s.sum(active, live) === 1, 'one subscription');

    const write = await graphql(realms.gatewayUrl, TEAMS_WRITE, {
      realm: 'sports',
      token,
      variables: { teams: ['harbor-hawks'] },
    });
    expect(write.errors).toBeUndefined();
    const [change] = await changes.take(1);
    expect(change?.errors).toBeUndefined();
    expect(change?.data?.preferenceChanged.changedKeys).toEqual([
      'sports.favoriteTeams',
    ]);

    const open = await untilGateway(
      (s) =>
        s.sum('realms_subscription_events_delivered_total', live) >= 1 &&
        s.sum('realms_state_sync_latency_seconds_count', {
          realm: 'sports',
        }) >= 1,
      'the delivered event and its sync latency',
    );
    expect(open.sum(active, live)).toBe(1);
    expect(
      grown(
        open,
        'realms_graphql_requests_total',
        request('sports', 'MetricsTeamsWrite'),
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(
      open.sum('realms_state_sync_latency_seconds_sum', { realm: 'sports' }),
    ).toBeGreaterThanOrEqual(0);

    await ws.dispose();
    await untilGateway((s) => s.sum(active, live) === 0, 'no subscription');
  });

  it("reports each subgraph's own requests and every service's Redis connections", async () => {
    const scrapes = await realms.scrapeAll();
    const ownRealms: Record<string, string[]> = {
      core: ['sports', 'parks', 'entertainment'],
      sports: ['sports'],
      parks: ['parks'],
      entertainment: ['entertainment'],
    };
    for (const [name, realmIds] of Object.entries(ownRealms)) {
      const scrape = scrapes.get(name) as Scrape;
      for (const realm of realmIds) {
        expect(
          grown(scrape, 'realms_graphql_requests_total', {
            realm,
            outcome: 'success',
          }),
          `${name} in ${realm}`,
        ).toBeGreaterThanOrEqual(1);
      }
    }

    for (const [name, scrape] of scrapes) {
      // Every Redis connection of the process is ready.
      const connected = scrape.samples('realms_redis_connected');
      expect(
        connected.map((s) => s.labels['role']).sort(),
        `${name}: Redis connections`,
      ).toEqual(['publisher', 'store', 'subscriber']);
      for (const sample of connected) expect(sample.value, name).toBe(1);
      expect(
        grown(scrape, 'realms_redis_command_duration_seconds_count', {
          role: 'store',
          outcome: 'success',
        }),
        `${name}: timed Redis commands`,
      ).toBeGreaterThanOrEqual(1);

      // Every started operation is timed, so the histogram's count equals
      // the counter; only refusals before the operation (`unknown`) are not.
      for (const sample of scrape.samples('realms_graphql_requests_total')) {
        if (sample.labels['operation'] === 'unknown') continue;
        expect(
          scrape.sum(
            'realms_graphql_request_duration_seconds_count',
            sample.labels,
          ),
          `${name} ${JSON.stringify(sample.labels)}`,
        ).toBe(sample.value);
      }
    }
  });

  it('exports well-formed histograms: cumulative buckets ending in +Inf = _count', async () => {
    for (const [name, scrape] of await realms.scrapeAll()) {
      for (const family of scrape.families.values()) {
        if (family.type === 'histogram') checkHistogram(name, family);
      }
    }
  });

  it('keeps labels bounded: known values only, no user id or token, few series', async () => {
    const realmIds = [...(await loadCatalog()).realmIds, 'unknown'];
    const secrets = [
      ...Object.values(users),
      ...realms.tokens,
      ...realms.tokens.flatMap((t) => t.split('.')),
    ];
    expect(realms.tokens.length).toBeGreaterThan(0);

    for (const [name, scrape] of await realms.scrapeAll()) {
      for (const family of scrape.families.values()) {
        const series = new Set<string>();
        for (const sample of family.samples) {
          series.add(`${sample.name}${JSON.stringify(sample.labels)}`);
          for (const value of Object.values(sample.labels)) {
            for (const secret of secrets)
              expect(value.includes(secret), `${name} ${family.name}`).toBe(
                false,
              );
          }
        }
        expect(series.size, `${name} ${family.name}`).toBeLessThanOrEqual(
          MAX_SERIES_PER_FAMILY,
        );
        if (!family.name.startsWith('realms_')) continue;

        // Exactly the documented labels (docs/operations.md).
        const expected = FAMILY_LABELS[family.name];
        expect(expected, `${family.name} is documented`).toBeDefined();
        for (const sample of family.samples) {
          const names = Object.keys(sample.labels).filter((l) => l !== 'le');
          expect(names.sort(), family.name).toEqual(
            ['service', ...(expected ?? [])].sort(),
          );
          const { realm, code, operation } = sample.labels;
          if (realm !== undefined) expect(realmIds).toContain(realm);
          if (code !== undefined)
            expect([...Object.keys(ERROR_CODES), OTHER_LABEL]).toContain(code);
          if (operation !== undefined)
            expect(operation).toMatch(/^[_A-Za-z][_0-9A-Za-z.-]{0,63}$/);
        }
      }
    }
  });

  it('has alert rules that read only series the services export', async () => {
    const scrapes = [...(await realms.scrapeAll()).values()];
    const rules = await loadAlertRules();
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      const names = metricNamesIn(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names) {
        if (PROMETHEUS_SERIES.has(name)) continue;
        const exported = scrapes.some((s) => familyServing(name, s.families));
        expect(exported, `${rule.alert} reads ${name}`).toBe(true);
      }
    }
  });
});

/** Buckets of each series rise with `le`, and +Inf holds the count. */
function checkHistogram(service: string, family: MetricFamily): void {
  const series = new Map<string, { le: number; value: number }[]>();
  for (const sample of family.samples) {
    if (sample.name !== `${family.name}_bucket`) continue;
    const { le, ...rest } = sample.labels;
    const key = canonical(rest);
    const buckets = series.get(key) ?? [];
    buckets.push({
      le: le === '+Inf' ? Infinity : Number(le),
      value: sample.value,
    });
    series.set(key, buckets);
  }
  for (const [key, buckets] of series) {
    const where = `${service} ${family.name} ${key}`;
    buckets.sort((a, b) => a.le - b.le);
    for (let i = 1; i < buckets.length; i++) {
      expect(buckets[i]?.value, where).toBeGreaterThanOrEqual(
        buckets[i - 1]?.value ?? 0,
      );
    }
    const last = buckets.at(-1);
    expect(last?.le, where).toBe(Infinity);
    const count = family.samples.find(
      (s) => s.name === `${family.name}_count` && canonical(s.labels) === key,
    );
    expect(count?.value, where).toBe(last?.value);
  }
}

/** A label set as a string that does not depend on the labels' order. */
function canonical(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}
