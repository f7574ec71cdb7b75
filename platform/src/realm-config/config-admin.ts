import type { GraphQLError } from 'graphql';
import type { ConfigChangeEvent } from '../change-feed/change-event.js';
import { notFound, realmsError } from '../errors/graphql-errors.js';
import type {
  PreferenceStore,
  StoredLayer,
  StoredPreference,
} from '../storage/preference-store.js';
import {
  PreferenceSchemaError,
  type PreferenceCatalog,
  type PreferenceDefinition,
  type SchemaFileProblem,
} from './catalog.js';
import {
  changedRealms,
  diffConfig,
  type ConfigDifference,
} from './config-diff.js';
import type {
  ConfigDocuments,
  ConfigVersion,
  ConfigVersionStore,
  ConfigVersionSummary,
} from './config-versions.js';
import type { LiveCatalog } from './live-catalog.js';
import { catalogFromDocuments } from './load.js';
import {
  MIGRATION_TRANSFORMS,
  migrateStored,
  type MigrationDeclaration,
  type MigrationRecord,
  type MigrationState,
} from './migrations.js';

/**
 * What of a realm's document may be edited at run time. Each part given
 * replaces that part whole; a part left out stays as it is. The division
 * fields are not here: they are typed fields of a division subgraph's
 * SDL, which changes with a deploy, not at run time.
 */
export interface RealmConfigEdit {
  /** Realm custom fields by name: JSON Schema rules with a default. */
  readonly fields?: Record<string, unknown> | null;
  /** Tighter rules and realm defaults of global fields, by key. */
  readonly overrides?: Record<string, unknown> | null;
  /** Field names users cannot set in this realm. */
  readonly locked?: readonly string[] | null;
  /** Realm fields that always have a value. */
  readonly required?: readonly string[] | null;
  /** Design tokens overriding the base theme. */
  readonly theme?: Record<string, unknown> | null;
}

/** A realm's editable configuration, as the admin API shows it. */
export interface EditableRealmConfig {
  readonly realm: string;
  readonly version: number;
  readonly fields: unknown;
  readonly overrides: unknown;
  readonly locked: readonly string[];
  readonly required: readonly string[];
  readonly theme: unknown;
}

/** Who changes the configuration, and under which conditions. */
export interface ConfigChangeRequest {
  readonly actor: string;
  readonly comment: string | null;
  /** Refuse with CONFLICT unless this is still the newest version. */
  readonly expectedVersion: number | null;
  readonly migrations: readonly MigrationDeclaration[];
}

/** A published change: the new version and its announcement. */
export interface ConfigChangeResult {
  readonly version: ConfigVersionSummary;
  readonly event: ConfigChangeEvent;
  readonly differences: readonly ConfigDifference[];
}

/** One reason a configuration change is refused. */
export interface ConfigViolation {
  /** The document, as its file under `schema/` would be named. */
  readonly file: string;
  /** Where in the input (`input.overrides`, `migrations.0`). */
  readonly path: readonly (string | number)[];
  /** The field (preference key or document field) concerned, if any. */
  readonly key: string | null;
  readonly rule: string;
  readonly message: string;
}

export interface ConfigAdminOptions {
  readonly catalog: LiveCatalog;
  readonly versions: ConfigVersionStore;
  readonly store: PreferenceStore;
  /**
   * How many users of a realm a change's stored-value check reads at
   * most; a realm with more is refused rather than half checked.
   * @default 100_000
   */
  readonly maxCheckedUsersPerRealm?: number;
}

/** Users read per step of the stored-value check. */
const CHECK_PAGE_SIZE = 500;

/** The most differences an admin write lists (audit, answer). */
export const MAX_LISTED_DIFFERENCES = 100;

/**
 * Configuration changes at run time. Every change goes through the same
 * loader as the files in `schema/` (so the same rules, "tighten, never
 * loosen" included), then through a check of the values users have
 * stored, and is published as a new version that every process follows.
 * Access control is the caller's part.
 */
export class ConfigAdmin {
  /** Realms each version changed, by version; versions never change. */
  private readonly changedRealmsCache = new Map<number, string[]>();

  constructor(private readonly options: ConfigAdminOptions) {}

  /** The configuration in force. */
  get catalog(): PreferenceCatalog {
    return this.options.catalog.get();
  }

  /** The realm's editable parts, at the version in force here. */
  realmConfig(realm: string): EditableRealmConfig {
    const live = this.options.catalog;
    const document = live.documents.realms[realm];
    if (!document) throw notFound(`Realm "${realm}"`);
    return {
      realm,
      version: live.version,
      fields: document['fields'] ?? {},
      overrides: document['overrides'] ?? {},
      locked: stringList(document['locked']),
      required: stringList(document['required']),
      theme: document['theme'] ?? {},
    };
  }

  /**
   * Versions newest first, below `before`. With `realm`, only versions
   * that changed that realm's effective configuration: each is compared
   * with its predecessor (once; the answer is kept).
   */
  async versions(
    limit: number,
    before: number | null,
    realm: string | null,
  ): Promise<(ConfigVersionSummary & { realms: readonly string[] })[]> {
    const found: (ConfigVersionSummary & { realms: readonly string[] })[] = [];
    let cursor = before ?? undefined;
    // Bounded: a realm admin's page reads at most ten pages of history.
    for (let step = 0; step < 10 && found.length < limit; step++) {
      const page = await this.options.versions.list(limit, cursor);
      if (page.length === 0) break;
      for (const summary of page) {
        const realms = await this.realmsChangedBy(summary.version);
        if (realm === null || realms.includes(realm))
          found.push({ ...summary, realms });
        if (found.length === limit) break;
      }
      cursor = page.at(-1)?.version;
      if (realm === null) break;
    }
    return found;
  }

  /**
   * What differs between two versions. With `realm`, only the global
   * schema, the base theme and that realm's document.
   */
  async diff(
    from: number,
    to: number,
    realm: string | null,
  ): Promise<ConfigDifference[]> {
    const [before, after] = await Promise.all([
      this.version(from),
      this.version(to),
    ]);
    const differences = diffConfig(before.documents, after.documents);
    if (realm === null) return differences;
    return differences.filter(
      (d) =>
        d.path.startsWith('global') ||
        d.path.startsWith('theme') ||
        d.path.startsWith(`realms/${realm}:`),
    );
  }

  /** Replaces the given parts of a realm's document. */
  async updateRealm(
    realm: string,
    edit: RealmConfigEdit,
    request: ConfigChangeRequest,
  ): Promise<ConfigChangeResult> {
    return this.change(request, realm, (documents) => {
      const current = documents.realms[realm];
      if (!current) throw notFound(`Realm "${realm}"`);
      const next: Record<string, unknown> = { ...current };
      for (const part of [
        'fields',
        'overrides',
        'locked',
        'required',
        'theme',
      ] as const) {
        const value = edit[part];
        if (value !== undefined && value !== null) next[part] = value;
      }
      return { ...documents, realms: { ...documents.realms, [realm]: next } };
    });
  }

  /** Replaces the global schema document. */
  async updateGlobal(
    global: Record<string, unknown>,
    request: ConfigChangeRequest,
  ): Promise<ConfigChangeResult> {
    return this.change(request, null, (documents) => ({
      ...documents,
      global,
    }));
  }

  /**
   * Publishes an old version's documents as a new version, checked like
   * any other change. Migrations stay as they are: values already moved
   * are not moved back (see docs/configuration-admin.md).
   */
  async rollback(
    version: number,
    request: Omit<ConfigChangeRequest, 'migrations' | 'expectedVersion'>,
  ): Promise<ConfigChangeResult> {
    const target = await this.version(version);
    return this.change(
      {
        ...request,
        expectedVersion: null,
        migrations: [],
        comment: request.comment ?? `rollback to version ${version}`,
      },
      null,
      () => structuredClone(target.documents),
    );
  }

  private async version(version: number): Promise<ConfigVersion> {
    const found = await this.options.versions.get(version);
    if (!found) throw notFound(`Configuration version ${version}`);
    return found;
  }

  private async realmsChangedBy(version: number): Promise<string[]> {
    const known = this.changedRealmsCache.get(version);
    if (known) return known;
    const [previous, current] = await Promise.all([
      version > 1 ? this.options.versions.get(version - 1) : null,
      this.options.versions.get(version),
    ]);
    if (!current) return [];
    const realmIds = Object.keys(current.documents.realms);
    const realms = previous
      ? changedRealms(
          diffConfig(previous.documents, current.documents),
          realmIds,
        )
      : realmIds;
    this.changedRealmsCache.set(version, realms);
    return realms;
  }

  /**
   * The one path of every change: build the new documents from the newest
   * version, check them like the files, check the declared migrations and
   * the stored values, then publish (compare-and-set on the version).
   */
  private async change(
    request: ConfigChangeRequest,
    realm: string | null,
    edit: (documents: ConfigDocuments) => ConfigDocuments,
  ): Promise<ConfigChangeResult> {
    const base = await this.options.versions.latest();
    if (!base) throw new Error('No configuration version to change');
    if (
      request.expectedVersion !== null &&
      request.expectedVersion !== base.version
    ) {
      throw staleVersion(request.expectedVersion, base.version);
    }

    const documents = edit(base.documents);
    const next = compile(documents);
    const records = declaredMigrations(request.migrations, next, realm);
    const before = catalogFromDocuments(base.documents);
    const oldState: MigrationState = {
      version: base.version,
      log: base.migrations ?? [],
    };
    const newState: MigrationState = {
      version: base.version + 1,
      log: [
        ...oldState.log,
        ...records.map((r) => ({ ...r, version: base.version + 1 })),
      ],
    };
    const realms = realm === null ? next.realmIds : [realm];
    const stored = await this.checkStoredValues(realms, realm === null, {
      before,
      after: next,
      oldState,
      newState,
    });
    if (stored.length > 0) throw configInvalid(stored);

    const event = await this.options.catalog.publish(documents, base.version, {
      actor: request.actor,
      comment: request.comment,
      migrations: records,
    });
    if (!event) throw staleVersion(base.version, base.version + 1);
    const published = await this.version(event.version);
    return {
      version: published,
      event,
      differences: diffConfig(base.documents, documents),
    };
  }

  /**
   * Reads every stored user of the given realms (in pages) and lists the
   * values that are valid now but would not be after the change, once the
   * declared migrations ran: the change would silently lose them.
   */
  private async checkStoredValues(
    realms: readonly string[],
    includeGlobalLayer: boolean,
    change: StoredValueChange,
  ): Promise<ConfigViolation[]> {
    const limit = this.options.maxCheckedUsersPerRealm ?? 100_000;
    const counts = new Map<string, { violation: ConfigViolation; n: number }>();
    for (const realm of realms) {
      let after: string | null = null;
      let checked = 0;
      do {
        const page = await this.options.store.listUsers(realm, {
          after,
          limit: CHECK_PAGE_SIZE,
        });
        checked += page.userIds.length;
        if (checked > limit) {
          return [
            {
              file: realmFile(realm),
              path: [],
              key: null,
              rule: 'storedValues.limit',
              message:
                `realm "${realm}" has more than ${limit} users with stored ` +
                'values; the stored-value check reads at most that many',
            },
          ];
        }
        const stored = await this.options.store.readMany(realm, page.userIds);
        for (const preference of stored) {
          for (const violation of brokenValues(
            preference,
            includeGlobalLayer,
            change,
          )) {
            const id = `${violation.file}|${violation.key}|${violation.rule}`;
            const entry = counts.get(id) ?? { violation, n: 0 };
            entry.n += 1;
            counts.set(id, entry);
          }
        }
        after = page.nextCursor;
      } while (after !== null);
    }
    return [...counts.values()].map(({ violation, n }) => ({
      ...violation,
      message:
        `${n} stored value${n === 1 ? '' : 's'} of "${violation.key}" ` +
        `${violation.message}; declare a migration for "${violation.key}"`,
    }));
  }
}

interface StoredValueChange {
  readonly before: PreferenceCatalog;
  readonly after: PreferenceCatalog;
  readonly oldState: MigrationState;
  readonly newState: MigrationState;
}

/** The values of one user that the change would make invalid. */
function brokenValues(
  stored: StoredPreference,
  includeGlobalLayer: boolean,
  change: StoredValueChange,
): ConfigViolation[] {
  const old = migrateStored(stored, change.oldState).preference;
  const now = migrateStored(stored, change.newState).preference;
  const oldRealm = change.before.realm(stored.realm)?.definitions;
  const newRealm = change.after.realm(stored.realm)?.definitions;
  if (!oldRealm || !newRealm) return [];
  const file = realmFile(stored.realm);
  const broken = compareLayer(
    old.realmLayer,
    now.realmLayer,
    oldRealm,
    newRealm,
  ).map((v) => ({ ...v, file }));
  if (includeGlobalLayer) {
    broken.push(
      ...compareLayer(
        old.globalLayer,
        now.globalLayer,
        change.before.globalDefinitions,
        change.after.globalDefinitions,
      ).map((v) => ({ ...v, file: 'schema/global.schema.json' })),
    );
  }
  return broken;
}

function compareLayer(
  before: StoredLayer,
  after: StoredLayer,
  oldDefinitions: ReadonlyMap<string, PreferenceDefinition>,
  newDefinitions: ReadonlyMap<string, PreferenceDefinition>,
): Omit<ConfigViolation, 'file'>[] {
  const broken: Omit<ConfigViolation, 'file'>[] = [];
  const wasValid = (key: string) => {
    const definition = oldDefinitions.get(key);
    return (
      Object.hasOwn(before.values, key) &&
      definition !== undefined &&
      definition.check(before.values[key]).length === 0
    );
  };
  for (const [key, value] of Object.entries(after.values)) {
    const definition = newDefinitions.get(key);
    // A key a migration just moved here counts as valid before.
    const moved = !Object.hasOwn(before.values, key);
    if (!moved && !wasValid(key)) continue;
    if (!definition) {
      broken.push({
        path: [],
        key,
        rule: 'storedValues.removed',
        message: 'would be lost: the field no longer exists (RENAME or DROP)',
      });
      continue;
    }
    const [problem] = definition.check(value);
    if (problem) {
      broken.push({
        path: [],
        key,
        rule: `storedValues.${problem.rule}`,
        message: `would break rule "${problem.rule}" (${problem.message})`,
      });
    }
  }
  return broken;
}

/** Compiles documents like the files; refuses with every problem. */
function compile(documents: ConfigDocuments): PreferenceCatalog {
  try {
    return catalogFromDocuments(documents);
  } catch (error) {
    if (!(error instanceof PreferenceSchemaError)) throw error;
    throw configInvalid(error.problems.map(schemaViolation));
  }
}

function schemaViolation(problem: SchemaFileProblem): ConfigViolation {
  return {
    file: problem.file,
    path: [],
    key: problem.field,
    rule: problem.rule,
    message:
      `${problem.file}: ${problem.field ? `field "${problem.field}": ` : ''}` +
      `rule "${problem.rule}": ${problem.message}`,
  };
}

/**
 * Checks declared migrations against the new configuration and completes
 * them into records: the key must exist after the change in the changed
 * document's scope, and what a transform needs must be there.
 */
function declaredMigrations(
  declared: readonly MigrationDeclaration[],
  next: PreferenceCatalog,
  realm: string | null,
): Omit<MigrationRecord, 'version'>[] {
  const violations: ConfigViolation[] = [];
  const records: Omit<MigrationRecord, 'version'>[] = [];
  const file = realm === null ? 'schema/global.schema.json' : realmFile(realm);
  declared.forEach((migration, i) => {
    const fail = (rule: string, message: string) =>
      violations.push({
        file,
        path: ['migrations', i],
        key: migration.key,
        rule,
        message: `migration ${i} ("${migration.key}"): ${message}`,
      });
    const definitions =
      realm === null ? next.globalDefinitions : next.realm(realm)?.definitions;
    const definition = definitions?.get(migration.key);
    if (!MIGRATION_TRANSFORMS.includes(migration.transform)) {
      fail('migration.transform', `unknown transform "${migration.transform}"`);
      return;
    }
    if (!definition && migration.transform !== 'DROP') {
      fail('migration.key', 'names no field of the changed configuration');
      return;
    }
    const record: Omit<MigrationRecord, 'version'> = {
      realm,
      key: migration.key,
      transform: migration.transform,
    };
    switch (migration.transform) {
      case 'RENAME':
        if (!migration.from || migration.from === migration.key) {
          fail('migration.from', 'RENAME needs the old key in "from"');
          return;
        }
        records.push({ ...record, from: migration.from });
        return;
      case 'DEFAULT': {
        const value = migration.value ?? null;
        const [problem] = definition?.check(value) ?? [];
        if (problem) {
          fail('migration.value', `the value ${problem.message}`);
          return;
        }
        records.push({
          ...record,
          value,
          rules: definition?.rules ?? {},
          required: definition?.required ?? false,
        });
        return;
      }
      case 'MAP_VALUES': {
        const mapping = migration.mapping;
        if (!mapping || typeof mapping !== 'object' || Array.isArray(mapping)) {
          fail('migration.mapping', 'MAP_VALUES needs a "mapping" object');
          return;
        }
        records.push({ ...record, mapping });
        return;
      }
      default:
        records.push(record);
    }
  });
  if (violations.length > 0) throw configInvalid(violations);
  return records;
}

function realmFile(realm: string): string {
  return `schema/realms/${realm}.json`;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string')
    : [];
}

/** BAD_USER_INPUT listing every reason a change is refused. */
export function configInvalid(
  violations: readonly ConfigViolation[],
): GraphQLError {
  const summary = violations
    .slice(0, 10)
    .map((v) => v.message)
    .join('; ');
  return realmsError(
    'BAD_USER_INPUT',
    `Configuration refused (${violations.length} problem` +
      `${violations.length === 1 ? '' : 's'}): ${summary}`,
    {
      violations: violations.slice(0, MAX_LISTED_DIFFERENCES),
      violationCount: violations.length,
    },
  );
}

function staleVersion(expected: number, current: number): GraphQLError {
  return realmsError(
    'CONFLICT',
    `Configuration version ${expected} is not the newest (${current} is): ` +
      'read it again and re-apply the change.',
    { currentVersion: current },
  );
}
