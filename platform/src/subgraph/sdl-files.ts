import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A subgraph's SDL: every `*.graphql` file of its source folder, in name
 * order, joined. A subgraph with several concerns (the core's preferences,
 * configuration administration, user administration) keeps each in its
 * own file; composition and the running service read the same text.
 */
export function readSubgraphSdl(folder: URL | string): string {
  const path = typeof folder === 'string' ? folder : fileURLToPath(folder);
  return readdirSync(path)
    .filter((name) => name.endsWith('.graphql'))
    .sort()
    .map((name) => readFileSync(join(path, name), 'utf8'))
    .join('\n');
}
