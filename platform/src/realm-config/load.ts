import { readFile, readdir } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildCatalog,
  PreferenceSchemaError,
  type PreferenceCatalog,
} from './catalog.js';
import type { ConfigDocuments } from './config-versions.js';

/** The repository's `schema/` folder. `REALMS_SCHEMA_DIR` overrides it. */
export function defaultSchemaDir(): string {
  return (
    process.env['REALMS_SCHEMA_DIR'] ??
    fileURLToPath(new URL('../../../schema/', import.meta.url))
  );
}

/**
 * Reads `global.schema.json`, `theme.json` and every `realms/*.json` under
 * `dir` (realms keyed by file name). Throws PreferenceSchemaError naming
 * a file that is not JSON.
 */
export async function readSchemaDocuments(
  dir = defaultSchemaDir(),
): Promise<ConfigDocuments> {
  const read = async (file: string) => {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as Record<
        string,
        unknown
      >;
    } catch (error) {
      const name = relative(process.cwd(), file) || file;
      throw new PreferenceSchemaError([
        {
          file: name,
          field: null,
          rule: 'json',
          message: (error as Error).message,
        },
      ]);
    }
  };
  const realmFiles = (await readdir(join(dir, 'realms')))
    .filter((file) => file.endsWith('.json'))
    .sort();
  const realms: Record<string, Record<string, unknown>> = {};
  for (const file of realmFiles) {
    realms[basename(file, '.json')] = await read(join(dir, 'realms', file));
  }
  return {
    global: await read(join(dir, 'global.schema.json')),
    theme: await read(join(dir, 'theme.json')),
    realms,
  };
}

/**
 * Checks and compiles configuration documents, naming problems by the
 * file each document lives in under `schema/`.
 */
export function catalogFromDocuments(
  documents: ConfigDocuments,
): PreferenceCatalog {
  return buildCatalog({
    global: { file: 'schema/global.schema.json', data: documents.global },
    theme: { file: 'schema/theme.json', data: documents.theme },
    realms: Object.entries(documents.realms).map(([id, data]) => ({
      file: `schema/realms/${id}.json`,
      data,
      expectedId: id,
    })),
  });
}

/**
 * Reads and compiles the schema files under `dir`. Throws
 * PreferenceSchemaError naming the file, field and rule of every problem.
 */
export async function loadCatalog(
  dir = defaultSchemaDir(),
): Promise<PreferenceCatalog> {
  return catalogFromDocuments(await readSchemaDocuments(dir));
}
