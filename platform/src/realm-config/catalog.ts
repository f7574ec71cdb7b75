import type { ErrorObject } from 'ajv';
import { createAjv } from '../validation/ajv.js';
import { checkTightening, mergeOverride } from '../validation/tightening.js';
import realmExtensionMeta from '../../../schema/meta/realm-extension.schema.json' with { type: 'json' };
import themeMeta from '../../../schema/meta/theme.schema.json' with { type: 'json' };

type Schema = Record<string, unknown>;

/** Where an effective value came from, lowest layer first. */
export type PreferenceSource =
  'GLOBAL_DEFAULT' | 'REALM_DEFAULT' | 'USER_GLOBAL' | 'USER_REALM';

/** GLOBAL keys exist in every realm; REALM keys in one realm only. */
export type PreferenceScope = 'GLOBAL' | 'REALM';

/** One broken rule of one value, relative to the value itself. */
export interface ValueProblem {
  /** Path inside the value (`[]` for the value itself, `[2]` for an item). */
  readonly path: readonly (string | number)[];
  readonly rule: string;
  readonly message: string;
}

/** A preference key as it exists in one realm (or globally). */
export interface PreferenceDefinition {
  readonly key: string;
  readonly scope: PreferenceScope;
  /**
   * The realm whose division subgraph owns the key and alone may write it
   * (its typed field, e.g. `Preference.sports`); null for keys written
   * through the generic `setPreferences`.
   */
  readonly owner: string | null;
  readonly title: string | null;
  readonly description: string | null;
  /** The effective JSON Schema rules, realm tightening included. */
  readonly rules: Schema;
  readonly defaultValue: unknown;
  /** Which layer the default comes from. */
  readonly defaultSource: 'GLOBAL_DEFAULT' | 'REALM_DEFAULT';
  /** Required keys always have a value: null is refused. */
  readonly required: boolean;
  /** Locked keys keep their default in this realm; users cannot set them. */
  readonly locked: boolean;
  /** Checks a value against the effective rules; empty when valid. */
  readonly check: (value: unknown) => ValueProblem[];
}

export interface RealmTheme {
  readonly colors: Readonly<Record<string, string>>;
  readonly logo: { readonly url: string; readonly alt: string };
  readonly typography: Readonly<Record<string, string | number>>;
}

export interface RealmConfig {
  readonly id: string;
  readonly name: string;
  readonly domains: readonly string[];
  readonly auth: { readonly issuer: string; readonly audience: string };
  /** The base theme deep-merged with the realm's overrides. */
  readonly theme: RealmTheme;
  /** Global keys (tightened), then realm fields, then division fields. */
  readonly definitions: ReadonlyMap<string, PreferenceDefinition>;
}

/** One problem in a schema file, naming the file, field and rule. */
export interface SchemaFileProblem {
  readonly file: string;
  readonly field: string | null;
  readonly rule: string;
  readonly message: string;
}

/**
 * Raised when the files in `schema/` break a rule. Start-up and `npm run
 * compose` stop on it; its message lists every problem found.
 */
export class PreferenceSchemaError extends Error {
  constructor(readonly problems: readonly SchemaFileProblem[]) {
    super(
      'Invalid preference schema:\n' +
        problems
          .map(
            (p) =>
              `  ${p.file}: ${p.field ? `field "${p.field}": ` : ''}` +
              `rule "${p.rule}": ${p.message}`,
          )
          .join('\n'),
    );
    this.name = 'PreferenceSchemaError';
  }
}

/** The parsed contents of `schema/`, before any checks. */
export interface SchemaSources {
  readonly global: { readonly file: string; readonly data: unknown };
  readonly theme: { readonly file: string; readonly data: unknown };
  readonly realms: readonly {
    readonly file: string;
    readonly data: unknown;
    /** The id the realm must have (its file name), when known. */
    readonly expectedId?: string;
  }[];
}

/**
 * The global preference definitions and every realm's effective view of
 * them, validated and compiled once. Immutable: a configuration change
 * builds a new catalog.
 */
export class PreferenceCatalog {
  private readonly byDomain = new Map<string, RealmConfig>();

  constructor(
    readonly globalDefinitions: ReadonlyMap<string, PreferenceDefinition>,
    readonly realms: ReadonlyMap<string, RealmConfig>,
  ) {
    for (const realm of realms.values()) {
      for (const domain of realm.domains) this.byDomain.set(domain, realm);
    }
  }

  realm(id: string): RealmConfig | undefined {
    return this.realms.get(id);
  }

  /** The realm serving a host name (without port), if any. */
  realmForHost(host: string): RealmConfig | undefined {
    return this.byDomain.get(host.toLowerCase());
  }

  get realmIds(): string[] {
    return [...this.realms.keys()];
  }
}

/** Checks and compiles the schema files; throws PreferenceSchemaError. */
export function buildCatalog(sources: SchemaSources): PreferenceCatalog {
  const builder = new CatalogBuilder();
  const catalog = builder.build(sources);
  if (builder.problems.length > 0) {
    throw new PreferenceSchemaError(builder.problems);
  }
  return catalog;
}

class CatalogBuilder {
  readonly problems: SchemaFileProblem[] = [];
  private readonly ajv = createAjv();
  private readonly checkRealmFile;
  private readonly checkTheme;

  constructor() {
    this.ajv.addSchema(themeMeta);
    this.checkRealmFile = this.ajv.compile(realmExtensionMeta);
    this.checkTheme = this.ajv.compile({
      $ref: 'theme.schema.json#/$defs/theme',
    });
  }

  build(sources: SchemaSources): PreferenceCatalog {
    const global = this.buildGlobal(sources.global.file, sources.global.data);
    const theme = this.buildTheme(sources.theme.file, sources.theme.data);
    const realms = new Map<string, RealmConfig>();
    const domainOwners = new Map<string, string>();

    for (const { file, data, expectedId } of sources.realms) {
      const realm = this.buildRealm(file, data, global, theme);
      if (!realm) continue;
      if (expectedId !== undefined && realm.id !== expectedId) {
        this.problem(
          file,
          null,
          'id',
          `id "${realm.id}" must match the file name "${expectedId}"`,
        );
      }
      if (realms.has(realm.id)) {
        this.problem(file, null, 'id', `realm "${realm.id}" is defined twice`);
      }
      for (const domain of realm.domains) {
        const owner = domainOwners.get(domain);
        if (owner && owner !== realm.id) {
          this.problem(
            file,
            null,
            'domains',
            `domain "${domain}" already belongs to realm "${owner}"`,
          );
        }
        domainOwners.set(domain, realm.id);
      }
      realms.set(realm.id, realm);
    }
    return new PreferenceCatalog(global, realms);
  }

  private problem(
    file: string,
    field: string | null,
    rule: string,
    message: string,
  ): void {
    this.problems.push({ file, field, rule, message });
  }

  private buildGlobal(
    file: string,
    data: unknown,
  ): Map<string, PreferenceDefinition> {
    const definitions = new Map<string, PreferenceDefinition>();
    if (!isObject(data) || !isObject(data['properties'])) {
      this.problem(file, null, 'properties', 'must be an object of fields');
      return definitions;
    }
    const required = new Set(stringArray(data['required']));
    for (const key of required) {
      if (!(key in data['properties'])) {
        this.problem(
          file,
          key,
          'required',
          'names a field that is not defined',
        );
      }
    }
    for (const [key, rules] of Object.entries(data['properties'])) {
      const definition = this.define(file, key, rules, {
        scope: 'GLOBAL',
        owner: null,
        required: required.has(key),
        locked: false,
        defaultSource: 'GLOBAL_DEFAULT',
      });
      if (definition) definitions.set(key, definition);
    }
    return definitions;
  }

  private buildTheme(file: string, data: unknown): RealmTheme {
    if (!this.checkTheme(data)) {
      for (const error of this.checkTheme.errors ?? []) {
        this.problem(
          file,
          error.instancePath || null,
          error.keyword,
          error.message ?? '',
        );
      }
    }
    return data as RealmTheme;
  }

  private buildRealm(
    file: string,
    data: unknown,
    global: ReadonlyMap<string, PreferenceDefinition>,
    baseTheme: RealmTheme,
  ): RealmConfig | null {
    if (!this.checkRealmFile(data)) {
      for (const error of this.checkRealmFile.errors ?? []) {
        this.problem(
          file,
          error.instancePath || null,
          error.keyword,
          describe(error),
        );
      }
      return null;
    }
    const realm = data as unknown as RealmFile;
    const locked = new Set(realm.locked);
    const required = new Set(realm.required ?? []);
    const definitions = new Map<string, PreferenceDefinition>();

    for (const key of Object.keys(realm.overrides)) {
      if (!global.has(key)) {
        this.problem(file, key, 'overrides', 'is not a global field');
      }
    }
    for (const [key, globalDefinition] of global) {
      const definition = this.overrideGlobal(
        file,
        globalDefinition,
        realm.overrides[key],
        locked.has(key),
      );
      if (definition) definitions.set(key, definition);
    }

    const localFields: [Record<string, unknown>, string | null][] = [
      [realm.fields, null],
      [realm.divisionFields, realm.id],
    ];
    for (const [fields, owner] of localFields) {
      for (const [name, rules] of Object.entries(fields)) {
        if (global.has(name)) {
          this.problem(file, name, 'fields', 'has the name of a global field');
          continue;
        }
        const key = `${realm.id}.${name}`;
        if (definitions.has(key)) {
          this.problem(file, name, 'fields', 'is defined twice');
          continue;
        }
        const definition = this.define(file, key, rules, {
          scope: 'REALM',
          owner,
          required: required.has(name),
          locked: locked.has(name),
          defaultSource: 'REALM_DEFAULT',
        });
        if (definition) definitions.set(key, definition);
      }
    }

    for (const name of locked) {
      if (!global.has(name) && !definitions.has(`${realm.id}.${name}`)) {
        this.problem(file, name, 'locked', 'names a field that is not defined');
      }
    }
    for (const name of required) {
      if (!definitions.has(`${realm.id}.${name}`)) {
        this.problem(
          file,
          name,
          'required',
          'names a realm field that is not defined',
        );
      }
    }

    return {
      id: realm.id,
      name: realm.name,
      domains: realm.domains.map((d) => d.toLowerCase()),
      auth: realm.auth,
      theme: deepMerge(baseTheme, realm.theme) as unknown as RealmTheme,
      definitions,
    };
  }

  private overrideGlobal(
    file: string,
    global: PreferenceDefinition,
    override: Record<string, unknown> | undefined,
    locked: boolean,
  ): PreferenceDefinition | null {
    if (!override && !locked) return global;
    const tighter = override ?? {};
    const problems = checkTightening(global.rules, tighter);
    for (const p of problems) this.problem(file, global.key, p.rule, p.message);
    if (problems.length > 0) return null;

    const rules = mergeOverride(global.rules, tighter);
    return this.define(file, global.key, rules, {
      scope: 'GLOBAL',
      owner: null,
      required: global.required,
      locked,
      defaultSource: 'default' in tighter ? 'REALM_DEFAULT' : 'GLOBAL_DEFAULT',
    });
  }

  /** Compiles one field's rules and checks its default against them. */
  private define(
    file: string,
    key: string,
    rules: unknown,
    traits: Pick<
      PreferenceDefinition,
      'scope' | 'owner' | 'required' | 'locked' | 'defaultSource'
    >,
  ): PreferenceDefinition | null {
    if (!isObject(rules)) {
      this.problem(file, key, 'type', 'a field must be a JSON Schema object');
      return null;
    }
    if (!('default' in rules)) {
      this.problem(
        file,
        key,
        'default',
        'every field needs a default (null for none)',
      );
      return null;
    }
    let validate;
    try {
      validate = this.ajv.compile(rules);
    } catch (error) {
      this.problem(file, key, 'schema', (error as Error).message);
      return null;
    }

    const required = traits.required;
    const check = (value: unknown): ValueProblem[] => {
      if (value === null) {
        return required
          ? [{ path: [], rule: 'required', message: 'must not be null' }]
          : [];
      }
      if (validate(value)) return [];
      return (validate.errors ?? []).map(toValueProblem);
    };

    const defaultValue = rules['default'];
    if (required && defaultValue === null) {
      this.problem(
        file,
        key,
        'default',
        'a required field needs a non-null default',
      );
    }
    for (const p of check(defaultValue)) {
      this.problem(file, key, `default.${p.rule}`, `the default ${p.message}`);
    }

    return {
      key,
      ...traits,
      title: typeof rules['title'] === 'string' ? rules['title'] : null,
      description:
        typeof rules['description'] === 'string' ? rules['description'] : null,
      rules,
      defaultValue,
      check,
    };
  }
}

interface RealmFile {
  id: string;
  name: string;
  domains: string[];
  auth: { issuer: string; audience: string };
  theme: Record<string, unknown>;
  overrides: Record<string, Record<string, unknown>>;
  locked: string[];
  required?: string[];
  fields: Record<string, unknown>;
  divisionFields: Record<string, unknown>;
}

function toValueProblem(error: ErrorObject): ValueProblem {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
  return { path, rule: error.keyword, message: describe(error) };
}

function describe(error: ErrorObject): string {
  const where = error.instancePath ? `${error.instancePath} ` : '';
  const allowed =
    error.keyword === 'enum'
      ? `: ${(error.params as { allowedValues: unknown[] }).allowedValues
          .map((v) => JSON.stringify(v))
          .join(', ')}`
      : '';
  return `${where}${error.message ?? 'is invalid'}${allowed}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string')
    : [];
}

function deepMerge(base: unknown, override: unknown): unknown {
  if (!isObject(base) || !isObject(override)) return override ?? base;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    merged[key] = key in base ? deepMerge(base[key], value) : value;
  }
  return merged;
}
