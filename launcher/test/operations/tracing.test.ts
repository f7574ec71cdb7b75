import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { randomBytes, randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureDevKeys,
  issueDevToken,
  loadCatalog,
  startTracing,
  tracesEndpoint,
  tracingEnabled,
  type Role,
} from '@realms/platform';
import {
  freePort,
  runNpm,
  waitForOk,
  type ServiceProcess,
} from '../support/processes.js';
import { graphql, REDIS_URL } from '../support/test-system.js';

/*
 * Tracing and request ids across real processes, as docker-compose runs
 * them: the gateway and two subgraphs, each its own process (a tracer
 * provider is global to a process), exporting to a small OTLP/HTTP
 * receiver in this test. The same processes log at debug level, so their
 * output shows where request ids went and that no token ever did.
 */

/** One span as the receiver got it, flattened from OTLP JSON. */
interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly attributes: Record<string, unknown>;
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

/** Accepts OTLP/HTTP JSON trace exports on `/v1/traces`, keeping spans. */
async function startOtlpReceiver(): Promise<{
  server: Server;
  endpoint: string;
  spans: ReceivedSpan[];
}> {
  const spans: ReceivedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const body = JSON.parse(
          Buffer.concat(chunks).toString('utf8'),
        ) as OtlpExport;
        spans.push(...flatten(body));
      }
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve()),
  );
  const { port } = server.address() as AddressInfo;
  return { server, endpoint: `http://127.0.0.1:${port}`, spans };
}

function flatten(body: OtlpExport): ReceivedSpan[] {
  const attributes = (list: OtlpAttribute[] = []) =>
    Object.fromEntries(
      list.map(({ key, value }) => [key, Object.values(value)[0]]),
    );
  return (body.resourceSpans ?? []).flatMap((resource) => {
    const service = String(
      attributes(resource.resource?.attributes)['service.name'],
    );
    return (resource.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        service,
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ?? '',
        name: span.name,
        attributes: attributes(span.attributes),
      })),
    );
  });
}

/** Waits (boundedly) until `found` holds, then returns what it found. */
async function eventually<T>(
  found: () => T | undefined | false,
  what: string,
): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const value = found();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never saw ${what}`);
}

/** The JSON log lines a process wrote. */
function logLines(service: ServiceProcess): Record<string, unknown>[] {
  return service
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const UPDATE_SPORTS = /* GraphQL */ `
  mutation TracedWrite($input: SportsPreferencesInput!) {
    updateSportsPreferences(input: $input) {
      version
    }
  }
`;

describe('tracing and request ids across the gateway and subgraphs', () => {
  const processes = new Map<string, ServiceProcess>();
  const keyPrefix = `realms-test-${randomUUID()}`;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let keysDir: string;
  let gatewayUrl: string;
  const tokens: string[] = [];

  async function token(userId: string, roles: Role[] = ['user']) {
    const sports = (await loadCatalog()).realm('sports');
    if (!sports) throw new Error('no sports realm');
    const issued = await issueDevToken(
      { realm: sports, userId, roles },
      keysDir,
    );
    tokens.push(issued);
    return issued;
  }

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    keysDir = await mkdtemp(join(tmpdir(), 'realms-keys-'));
    await ensureDevKeys((await loadCatalog()).realms.values(), keysDir);
    const env = {
      REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
      REALMS_KEYS_DIR: keysDir,
      REALMS_INTERNAL_SECRET: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'debug',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      // Send spans soon after they end, not every five seconds.
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };

    // Only the subgraphs these operations reach; the others' addresses
    // stay closed, which costs only their fields.
    const urls: Record<string, string> = {};
    for (const name of ['core', 'sports', 'entertainment', 'parks']) {
      const port = await freePort();
      urls[`${name.toUpperCase()}_URL`] = `http://127.0.0.1:${port}/graphql`;
      if (name !== 'core' && name !== 'sports') continue;
      processes.set(
        name,
        runNpm(['start:subgraph', '--', name], {
          ...env,
          [`${name.toUpperCase()}_PORT`]: String(port),
        }),
      );
    }
    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}/graphql`;
    processes.set(
      'gateway',
      runNpm(['start:gateway'], { ...env, ...urls, PORT: String(port) }),
    );

    try {
      for (const name of ['CORE_URL', 'SPORTS_URL'])
        await waitForOk(new URL('/health/ready', urls[name]).href, 45_000);
      await waitForOk(new URL('/health/live', gatewayUrl).href, 45_000);
    } catch (error) {
      const output = [...processes.values()].map((p) => p.output());
      throw new Error(`${(error as Error).message}\n${output.join('\n')}`);
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...processes.values()].map((p) => p.stop()));
    await new Promise((resolve) => receiver.server.close(resolve));
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await redis.unlink(...keys);
    redis.disconnect();
    await rm(keysDir, { recursive: true, force: true });
  });

  it('follows a write from the edge through a division subgraph into Redis, in one trace', async () => {
    // The edge started the trace; everything after continues it.
    const traceId = randomBytes(16).toString('hex');
    const write = await graphql(gatewayUrl, UPDATE_SPORTS, {
      realm: 'sports',
      token: await token('alice'),
      variables: { input: { favoriteTeams: ['harbor-hawks'] } },
      headers: {
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      },
    });
    expect(write.errors).toBeUndefined();

    const inTrace = (name: string, service: string) =>
      receiver.spans.find(
        (s) =>
          s.traceId === traceId && s.name === name && s.service === service,
      );
    const fetch = await eventually(
      () =>
        receiver.spans.find(
          (s) =>
            s.traceId === traceId &&
            s.name === 'gateway.fetch' &&
            s.attributes['service'] === 'sports',
        ),
      'the gateway fetch from sports',
    );
    expect(inTrace('gateway.request', 'gateway')).toBeDefined();
    expect(inTrace('gateway.plan', 'gateway')).toBeDefined();
    expect(fetch.service).toBe('gateway');

    // The subgraph's server span is a child of the gateway's fetch span,
    // in another process: the traceparent header carried it.
    const served = await eventually(
      () => inTrace('POST /graphql', 'sports-subgraph'),
      'the sports subgraph request',
    );
    expect(served.parentSpanId).toBe(fetch.spanId);
    await eventually(
      () => inTrace('preference.write', 'sports-subgraph'),
      'the preference write',
    );
    const redisCommand = await eventually(
      () =>
        receiver.spans.find(
          (s) =>
            s.traceId === traceId &&
            s.service === 'sports-subgraph' &&
            s.attributes['db.system.name'] === 'redis',
        ),
      'a Redis command',
    );
    // Keys name realms and users: a span names the command only.
    expect(redisCommand.attributes['db.query.text']).toMatch(/^\w+$/);
  });

  it('starts a trace at the gateway when nobody else did', async () => {
    const read = await graphql(
      gatewayUrl,
      'query TracedRead { myPreferences { id sports { favoriteTeams } } }',
      { realm: 'sports', token: await token('bob') },
    );
    expect(read.errors).toBeUndefined();

    const request = await eventually(
      () =>
        receiver.spans.find(
          (s) =>
            s.name === 'gateway.request' &&
            s.attributes['graphql.operation.name'] === 'TracedRead',
        ),
      'the read request',
    );
    const services = () =>
      new Set(
        receiver.spans
          .filter((s) => s.traceId === request.traceId)
          .map((s) => s.service),
      );
    await eventually(
      () =>
        services().has('core-subgraph') && services().has('sports-subgraph'),
      'both subgraphs in the read trace',
    );
  });

  it('carries a request id from the edge, or the gateway, to subgraph logs and the audit log', async () => {
    const alice = await token('alice');
    const refuse = (headers: Record<string, string>) =>
      graphql(gatewayUrl, UPDATE_SPORTS, {
        realm: 'sports',
        token: alice,
        // A stat update frequency that does not exist: refused in sports.
        variables: { input: { favoriteTeams: ['x'.repeat(500)] } },
        headers,
      });

    // From the edge (NGINX sets X-Request-Id on every request it passes).
    const edgeId = `edge-${randomUUID()}`;
    const fromEdge = await refuse({ 'x-request-id': edgeId });
    expect(fromEdge.errors?.[0]?.extensions?.['requestId']).toBe(edgeId);

    // Without one, the gateway makes one up and tells the client.
    const generated = await refuse({});
    const generatedId = generated.errors?.[0]?.extensions?.['requestId'];
    expect(typeof generatedId).toBe('string');
    expect(generatedId).not.toBe(edgeId);

    const sports = processes.get('sports') as ServiceProcess;
    for (const id of [edgeId, generatedId]) {
      await eventually(
        () => logLines(sports).some((line) => line['requestId'] === id),
        `request id ${String(id)} in the sports subgraph's log`,
      );
    }

    const log = await graphql<{
      auditLog: { entries: { requestId: string; outcome: string }[] };
    }>(
      gatewayUrl,
      'query { auditLog(realm: "sports", first: 50) { entries { requestId outcome } } }',
      { realm: 'sports', token: await token('root', ['platform-admin']) },
    );
    expect(log.errors).toBeUndefined();
    const entry = log.data?.auditLog.entries.find(
      (e) => e.requestId === generatedId,
    );
    expect(entry?.outcome).not.toBe('ACCEPTED');
  });

  it('never writes a token into any log, even at debug level', () => {
    expect(tokens.length).toBeGreaterThan(0);
    for (const [name, service] of processes) {
      // The processes did log (at debug), so silence proves nothing here.
      expect(logLines(service).length, name).toBeGreaterThan(0);
      for (const issued of tokens) {
        expect(service.output().includes(issued), name).toBe(false);
        // Not even the signature, the part that makes a token usable.
        const signature = issued.split('.')[2] as string;
        expect(service.output().includes(signature), name).toBe(false);
      }
    }
  });
});

describe('without an OTLP endpoint', () => {
  it('registers no tracer provider and loads no SDK', async () => {
    expect(tracesEndpoint({})).toBeNull();
    expect(
      tracesEndpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
        OTEL_SDK_DISABLED: 'true',
      }),
    ).toBeNull();

    const tracing = await startTracing({
      serviceName: 'test',
      endpoint: tracesEndpoint({}) ?? undefined,
      logger: pino({ level: 'silent' }),
    });
    expect(tracing).toBeNull();
    expect(tracingEnabled()).toBe(false);

    // The global provider is still the API's proxy with no delegate: every
    // span anyone starts is the non-recording no-op.
    const provider = trace.getTracerProvider() as {
      getDelegate?: () => unknown;
    };
    expect(provider.getDelegate?.()?.constructor.name).toBe(
      'NoopTracerProvider',
    );
    expect(trace.getTracer('x').startSpan('y').isRecording()).toBe(false);

    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.filter((path) => path.includes('sdk-trace'))).toEqual([]);
  });
});

describe('the traces endpoint from the environment', () => {
  it('appends the signal path to the base endpoint, not to the traces one', () => {
    expect(
      tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }),
    ).toBe('http://collector:4318/v1/traces');
    expect(
      tracesEndpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom',
      }),
    ).toBe('http://traces:9999/custom');
  });
});
