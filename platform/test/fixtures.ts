import {
  buildCatalog,
  type SchemaSources,
} from '../src/realm-config/catalog.js';
import type {
  StoredLayer,
  StoredPreference,
} from '../src/storage/preference-store.js';
import globalSchema from '../../schema/global.schema.json' with { type: 'json' };
import theme from '../../schema/theme.json' with { type: 'json' };
import sports from '../../schema/realms/sports.json' with { type: 'json' };
import entertainment from '../../schema/realms/entertainment.json' with { type: 'json' };
import parks from '../../schema/realms/parks.json' with { type: 'json' };

type Json = Record<string, unknown>;

/** The real schema files, as sources a test may alter. */
export function realSources(): { global: Json; theme: Json; realms: Json[] } {
  const copy = <T>(value: T): T => structuredClone(value);
  return {
    global: copy(globalSchema) as Json,
    theme: copy(theme) as Json,
    realms: [copy(sports), copy(entertainment), copy(parks)] as Json[],
  };
}

export function sourcesOf(parts: {
  global: Json;
  theme: Json;
  realms: Json[];
}): SchemaSources {
  return {
    global: { file: 'schema/global.schema.json', data: parts.global },
    theme: { file: 'schema/theme.json', data: parts.theme },
    realms: parts.realms.map((data) => ({
      file: `schema/realms/${String(data['id'])}.json`,
      data,
    })),
  };
}

/** A catalog of the real schema files. */
export function realCatalog() {
  return buildCatalog(sourcesOf(realSources()));
}

function layer(
  values: Json,
  version = Object.keys(values).length > 0 ? 1 : 0,
): StoredLayer {
  return {
    version,
    updatedAt: version > 0 ? '2026-12-01T00:00:00.000Z' : null,
    values,
  };
}

/** A stored preference with the given user values. */
export function stored(
  realm: string,
  realmValues: Json = {},
  globalValues: Json = {},
): StoredPreference {
  return {
    realm,
    userId: 'alice',
    realmLayer: layer(realmValues),
    globalLayer: layer(globalValues),
  };
}
