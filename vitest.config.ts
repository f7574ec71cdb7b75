import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// One project per workspace, so `turbo run test` can run them one by one
// and `npx vitest run` runs them all.
const workspaces = [
  ['platform', 'platform'],
  ['gateway', 'gateway'],
  ['core-subgraph', 'subgraphs/core'],
  ['sports-subgraph', 'subgraphs/sports'],
  ['entertainment-subgraph', 'subgraphs/entertainment'],
  ['parks-subgraph', 'subgraphs/parks'],
  ['launcher', 'launcher'],
] as const;

export default defineConfig({
  test: {
    projects: workspaces.map(([name, dir]) => ({
      test: {
        name,
        // Absolute, so a workspace's own `npm test` finds its tests too.
        root: fileURLToPath(new URL(`./${dir}/`, import.meta.url)),
        include: ['test/**/*.test.ts'],
        testTimeout: 30_000,
        hookTimeout: 60_000,
        env: {
          APOLLO_TELEMETRY_DISABLED: 'true',
          LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
        },
      },
    })),
  },
});
