import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The system as `npm start` runs it, in its own process group. */
export interface SystemProcess {
  readonly gatewayUrl: string;
  /** The node process that serves (npm and tsx are its parents). */
  readonly serverPid: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Spawns `npm start` (gateway and four subgraphs in one process) on free
 * loopback ports (port 0) and waits until the gateway is ready.
 */
export async function startSystem(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<SystemProcess> {
  // BENCH_PROFILE_DIR: the same start, with a V8 CPU profile of the
  // server written there when it stops (open it in Chrome DevTools).
  const profileDir = process.env['BENCH_PROFILE_DIR'];
  const [command, args] = profileDir
    ? [
        'npx',
        [
          'tsx',
          '--cpu-prof',
          `--cpu-prof-dir=${profileDir}`,
          'launcher/src/bin/embedded.ts',
        ],
      ]
    : ['npm', ['start', '--silent']];
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...env,
      APOLLO_TELEMETRY_DISABLED: 'true',
      TURBO_TELEMETRY_DISABLED: '1',
      DO_NOT_TRACK: '1',
      HOST: '127.0.0.1',
      PORT: '0',
      CORE_PORT: '0',
      SPORTS_PORT: '0',
      ENTERTAINMENT_PORT: '0',
      PARKS_PORT: '0',
    },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    // Only the tail is kept: warnings under load can be many.
    output = (output + chunk.toString()).slice(-64_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const stop = () => stopGroup(child);

  try {
    const deadline = Date.now() + timeoutMs;
    let gatewayUrl: string | undefined;
    while (!gatewayUrl) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`npm start did not come up:\n${output}`);
      gatewayUrl = /Gateway and Apollo Sandbox: (\S+)/.exec(output)?.[1];
      await sleep(100);
    }
    await waitForOk(
      new URL('/health/ready', gatewayUrl).href,
      deadline - Date.now(),
    );
    const serverPid = await findDescendant(child.pid as number, 'embedded.ts');
    return { gatewayUrl, serverPid, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** VmRSS of a process, in bytes (Linux /proc). */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

/**
 * The deepest process from `root` down whose command line holds
 * `marker`: npm starts tsx, which starts node with its loader, so the
 * deepest match is the server itself (`root` when node was started
 * directly).
 */
export async function findDescendant(
  root: number,
  marker: string,
): Promise<number> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: skip past it.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // The process ended meanwhile.
    }
  }
  let found: number | null = null;
  const visit = async (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(
        () => '',
      );
      if (cmdline.includes(marker)) found = child;
      await visit(child);
    }
  };
  await visit(root);
  if (found === null) {
    const own = await readFile(`/proc/${root}/cmdline`, 'utf8').catch(() => '');
    if (own.includes(marker)) found = root;
  }
  if (found === null)
    throw new Error(`no process under ${root} runs ${marker}`);
  return found;
}

export async function waitForOk(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}

/** Removes every key under the prefix. */
export async function deleteKeys(redisUrl: string, prefix: string) {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        `${prefix}:*`,
        'COUNT',
        500,
      );
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Stops a child started in its own process group: SIGTERM to the group,
 * SIGKILL after 5 s, then waits until no process of the group is left.
 */
export async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid)
    return;
  const exited = new Promise<void>((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, 5_000);
  await exited;
  clearTimeout(timer);
  // npm may exit before its children: wait for the group to be empty.
  for (let i = 0; i < 50 && groupAlive(child.pid); i += 1) await sleep(100);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is empty.
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
