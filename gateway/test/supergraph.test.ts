import { describe, expect, it } from 'vitest';
import {
  CompositionError,
  composeSubgraphs,
  composeSupergraph,
  readSubgraphSources,
  readSupergraph,
} from '../src/supergraph/compose.js';

describe('the supergraph', () => {
  it('is up to date with the subgraph SDLs (run `npm run compose`)', async () => {
    expect(await readSupergraph()).toBe(await composeSupergraph());
  });

  it('has every division extend Preference with its own field', async () => {
    const sdl = await readSupergraph();
    for (const division of ['SPORTS', 'ENTERTAINMENT', 'PARKS']) {
      expect(sdl).toMatch(
        new RegExp(`@join__type\\(graph: ${division}, key: "id"\\)`),
      );
    }
  });

  it('names the subgraph and the reason when composition fails', async () => {
    const sources = await readSubgraphSources();
    const broken = sources.map((source) =>
      source.name === 'parks'
        ? {
            ...source,
            sdl: `${source.sdl}\nextend type Preference @key(fields: "id") { userId: Int }\n`,
          }
        : source,
    );
    let failure: unknown;
    try {
      composeSubgraphs(broken);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(CompositionError);
    const problems = (failure as CompositionError).problems.join('\n');
    expect(problems).toContain('[core, parks] FIELD_TYPE_MISMATCH');
    expect(problems).toMatch(/userId/);
  });

  it('names the subgraph of a syntax error', async () => {
    const sources = await readSubgraphSources();
    const broken = sources.map((s) =>
      s.name === 'sports' ? { ...s, sdl: 'type {' } : s,
    );
    expect(() => composeSubgraphs(broken)).toThrow(/\[sports\].*Syntax Error/);
  });
});
