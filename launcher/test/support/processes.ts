import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
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

/** A service started with an npm script, as docker-compose starts it. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * Runs `npm run <args>` from the repository root in its own process group,
 * so that stopping it stops npm, tsx and node together.
 */
export function runNpm(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): ServiceProcess {
  const child = spawn('npm', ['run', '--silent', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid)
        return;
      process.kill(-child.pid, 'SIGTERM');
      const timer = setTimeout(
        () => child.pid && process.kill(-child.pid, 'SIGKILL'),
        5_000,
      );
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls a URL until it answers 200, for at most `timeoutMs`. */
export async function waitForOk(
  url: string,
  timeoutMs = 30_000,
): Promise<void> {
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
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}

/**
 * The exit code of a service expected to stop by itself, or 'still running'
 * after `timeoutMs`; either way the process is gone afterwards.
 */
export async function exitCodeWithin(
  service: ServiceProcess,
  timeoutMs = 20_000,
): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), timeoutMs);
  });
  const code = await Promise.race([service.exited, timeout]);
  clearTimeout(timer);
  await service.stop();
  return code;
}
