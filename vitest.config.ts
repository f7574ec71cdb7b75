import { createRequire } from 'node:module';
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

// graphql ships a CommonJS and an ES build. Node (and so production) loads
// the CommonJS one for everybody; Vite would hand our ESM sources the ES
// one while @apollo/* keeps the CommonJS one, and two copies of graphql
// refuse each other's schemas. Point every import at the one Node uses.
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

export default defineConfig({
  test: {
    projects: workspaces.map(([name, dir]) => ({
      resolve: { alias: [{ find: /^graphql$/, replacement: graphqlEntry }] },
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
