import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildCatalog,
  PreferenceSchemaError,
  type PreferenceCatalog,
} from './catalog.js';

/** The repository's `schema/` folder. `REALMS_SCHEMA_DIR` overrides it. */
export function defaultSchemaDir(): string {
  return (
    process.env['REALMS_SCHEMA_DIR'] ??
    fileURLToPath(new URL('../../../schema/', import.meta.url))
  );
}

/**
 * Reads `global.schema.json`, `theme.json` and every `realms/*.json` under
 * `dir`, then checks and compiles them. Throws PreferenceSchemaError naming
 * the file, field and rule of every problem.
 */
export async function loadCatalog(
  dir = defaultSchemaDir(),
): Promise<PreferenceCatalog> {
  const name = (file: string) => relative(process.cwd(), file) || file;
  const read = async (file: string) => {
    try {
      return {
        file: name(file),
        data: JSON.parse(await readFile(file, 'utf8')),
      };
    } catch (error) {
      throw new PreferenceSchemaError([
        {
          file: name(file),
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
  return buildCatalog({
    global: await read(join(dir, 'global.schema.json')),
    theme: await read(join(dir, 'theme.json')),
    realms: await Promise.all(
      realmFiles.map((file) => read(join(dir, 'realms', file))),
    ),
  });
}
