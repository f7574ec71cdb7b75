import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import { parse, type DocumentNode } from 'graphql';
import { loadCatalog, readSubgraphSdl } from '@realms/platform';

/** The repository root, found from this file's place in it. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The committed supergraph the gateway serves. */
export const supergraphFile = `${repoRoot}schema/supergraph.graphql`;

/**
 * The subgraphs of the supergraph, with their local default URLs. Each
 * URL can be overridden at run time (`CORE_URL`, `SPORTS_URL`, ...).
 */
export const SUBGRAPHS = [
  { name: 'core', port: 4001 },
  { name: 'sports', port: 4002 },
  { name: 'entertainment', port: 4003 },
  { name: 'parks', port: 4004 },
] as const;

export type SubgraphName = (typeof SUBGRAPHS)[number]['name'];

/** A composition that failed, with each problem tied to its subgraph. */
export class CompositionError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Supergraph composition failed:\n  ${problems.join('\n  ')}`);
    this.name = 'CompositionError';
  }
}

/** One subgraph's SDL as composition takes it. */
export interface SubgraphSource {
  readonly name: string;
  readonly url: string;
  readonly sdl: string;
  /** Where the SDL came from, for error messages. */
  readonly file: string;
}

/** Reads the four subgraph SDLs: every `.graphql` file in `subgraphs/<name>/src/`. */
export async function readSubgraphSources(): Promise<SubgraphSource[]> {
  return Promise.all(
    SUBGRAPHS.map(({ name, port }) => {
      const file = `${repoRoot}subgraphs/${name}/src/`;
      return {
        name,
        url: `http://127.0.0.1:${port}/graphql`,
        file,
        sdl: readSubgraphSdl(file),
      };
    }),
  );
}

/**
 * Composes subgraph SDLs into the supergraph SDL. Throws CompositionError
 * with one line per problem, each naming its subgraph (as `[name]`).
 */
export function composeSubgraphs(sources: readonly SubgraphSource[]): string {
  const services: { name: string; url: string; typeDefs: DocumentNode }[] = [];
  const problems: string[] = [];
  for (const { name, url, sdl, file } of sources) {
    try {
      services.push({ name, url, typeDefs: parse(sdl) });
    } catch (error) {
      problems.push(`[${name}] ${file}: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new CompositionError(problems);

  const result = composeServices(services);
  if (result.errors) {
    throw new CompositionError(
      result.errors.map((error) => {
        const code = String(error.extensions['code'] ?? 'COMPOSITION_ERROR');
        const involved = services
          .map((s) => s.name)
          .filter((name) => mentions(error.message, name));
        return `[${involved.join(', ') || 'supergraph'}] ${code}: ${error.message}`;
      }),
    );
  }
  return `${result.supergraphSdl.trimEnd()}\n`;
}

/** Composition messages name subgraphs as `[name]` or `subgraph "name"`. */
function mentions(message: string, name: string): boolean {
  return (
    message.includes(`[${name}]`) ||
    new RegExp(`subgraphs? [^.:]*"${name}"`).test(message)
  );
}

/**
 * Composes the committed subgraph SDLs, after checking the preference
 * schema files: a broken realm file stops composition as it stops start-up.
 */
export async function composeSupergraph(): Promise<string> {
  await loadCatalog();
  return composeSubgraphs(await readSubgraphSources());
}

/** Reads the committed supergraph SDL. */
export function readSupergraph(): Promise<string> {
  return readFile(supergraphFile, 'utf8');
}

/** Composes and writes `schema/supergraph.graphql`. */
export async function writeSupergraph(): Promise<string> {
  const sdl = await composeSupergraph();
  await writeFile(supergraphFile, sdl);
  return supergraphFile;
}
