// The processes of a gateway benchmark: a Redis of its own, the four
// subgraphs as `npm run start:subgraph` runs them, and the gateways.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import {
  findDescendant,
  repoRoot,
  sleep,
  stopGroup,
  waitForOk,
} from '../system.js';

/** A service in its own process group, stopped by its group id. */
export interface Service {
  readonly name: string;
  readonly url: string;
  /** The node process that serves (npm, npx and tsx are its parents). */
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** A free loopback TCP port (the OS picks; a race is unlikely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface SpawnSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  /** A string in the serving process's command line. */
  readonly marker: string;
  /** Polled until it answers 2xx, or a check of its own. */
  readonly ready: string | ((timeoutMs: number) => Promise<void>);
  readonly url: string;
  readonly timeoutMs?: number;
}

/** Spawns a service and waits until it is ready. */
export async function startService(spec: SpawnSpec): Promise<Service> {
  const child = spawn(spec.command, [...spec.args], {
    cwd: repoRoot,
    env: { ...cleanEnv(), ...spec.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-32_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const stop = () => stopGroup(child);
  try {
    const deadline = Date.now() + (spec.timeoutMs ?? 60_000);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`${spec.name} exited (${code}):\n${output}`)),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([
      typeof spec.ready === 'string'
        ? waitForOk(spec.ready, deadline - Date.now())
        : spec.ready(deadline - Date.now()),
      exited,
    ]);
    const pid = await findDescendant(child.pid as number, spec.marker);
    return { name: spec.name, url: spec.url, pid, output: () => output, stop };
  } catch (error) {
    await stop();
    throw new Error(`${spec.name} did not start: ${(error as Error).message}`);
  }
}

/**
 * The environment every benchmark process gets: nothing that could turn
 * on reporting to Apollo or Hive, and every telemetry switch off.
 */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^(APOLLO_KEY|APOLLO_GRAPH_REF|HIVE_|OTEL_)/.test(key)) continue;
    env[key] = value;
  }
  return {
    ...env,
    APOLLO_TELEMETRY_DISABLED: 'true',
    TURBO_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
  };
}

/** VmRSS and VmHWM of a process, in bytes. */
export async function memoryOf(
  pid: number,
): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** User+system CPU time of a process so far, in milliseconds. */
export async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100/s).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Samples a process's VmRSS every `everyMs` until stopped; keeps the peak. */
export function sampleMemory(pid: number, everyMs = 250) {
  let peak = 0;
  const sample = () =>
    memoryOf(pid)
      .then(({ rss }) => {
        peak = Math.max(peak, rss);
      })
      .catch(() => undefined);
  void sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await sample();
      return peak;
    },
  };
}

/** The sum of `realms_graphql_requests_total` on a service's /metrics. */
export async function graphqlRequestCount(metricsUrl: string): Promise<number> {
  const response = await fetch(metricsUrl, {
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('realms_graphql_requests_total')) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

/** A redis-server of the benchmark's own on a free port, no persistence. */
export async function startRedis(): Promise<{
  url: string;
  stop: () => Promise<void>;
}> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory',
      '1gb',
    ],
    { stdio: 'ignore', detached: true },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const probe = spawn('redis-cli', ['-p', String(port), 'ping'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      probe.stdout.on('data', (c: Buffer) => (out += c.toString()));
      probe.once('exit', () => resolve(out.includes('PONG')));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await sleep(100);
  }
  return { url, stop: () => stopGroup(child) };
}
