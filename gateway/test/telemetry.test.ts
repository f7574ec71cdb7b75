import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('telemetry', () => {
  it('is off by default before @apollo/gateway loads, and Apollo keys are dropped', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      APOLLO_KEY: 'service:leaked:key',
    };
    delete env['APOLLO_TELEMETRY_DISABLED'];
    const script =
      "await import('./src/gateway-server.ts');" +
      'console.log(JSON.stringify([process.env.APOLLO_TELEMETRY_DISABLED, process.env.APOLLO_KEY ?? null]))';
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: new URL('..', import.meta.url).pathname,
        env,
      },
    );
    expect(JSON.parse(stdout.trim())).toEqual(['true', null]);
  });
});
