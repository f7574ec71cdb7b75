import { createAjv, type ValidateFunction } from '../validation/ajv.js';
import type {
  LayerPatch,
  StoredLayer,
  StoredPreference,
} from '../storage/preference-store.js';

/*
 * How stored values follow a configuration change. A change that renames
 * a field, changes its type or makes stored values invalid declares one
 * migration per field; the migrations are kept with the configuration
 * version that introduced them. A stored layer remembers the version its
 * values were last brought up to (`StoredLayer.configVersion`), and
 * `migrateStored` applies the migrations newer than that, in order. The
 * read path (lazily, without writing) and the batch command (writing the
 * result back) both call it, so both give the same values.
 */

/** The built-in ways a stored value moves. */
export type MigrationTransform =
  | 'RENAME'
  | 'DEFAULT'
  | 'TO_STRING'
  | 'TO_NUMBER'
  | 'TO_BOOLEAN'
  | 'MAP_VALUES'
  | 'DROP';

/** One migration as an admin declares it. */
export interface MigrationDeclaration {
  /** The preference key after the change, e.g. `theme`, `sports.x`. */
  readonly key: string;
  readonly transform: MigrationTransform;
  /** RENAME: the key the values are stored under before the change. */
  readonly from?: string | null;
  /** DEFAULT: what a value the new rules refuse becomes. */
  readonly value?: unknown;
  /** MAP_VALUES: old value → new value, for strings and string items. */
  readonly mapping?: Readonly<Record<string, unknown>> | null;
}

/** A migration as stored with the version that introduced it. */
export interface MigrationRecord extends MigrationDeclaration {
  /** The configuration version that introduced it. */
  readonly version: number;
  /**
   * The realm whose layers it moves; null for a global schema migration,
   * which moves the user-global layer and every realm layer.
   */
  readonly realm: string | null;
  /**
   * DEFAULT: the key's rules at that version, so the migration decides
   * which values are refused the same way whenever it runs.
   */
  readonly rules?: Readonly<Record<string, unknown>>;
  /** DEFAULT: whether null counted as refused (the key was required). */
  readonly required?: boolean;
}

/** The migrations in force, and the version they bring values up to. */
export interface MigrationState {
  readonly version: number;
  /** Every migration ever declared, oldest first. */
  readonly log: readonly MigrationRecord[];
}

/** What migrating one stored preference did. */
export interface MigratedPreference {
  /** The stored preference with its values brought up to date. */
  readonly preference: StoredPreference;
  /** What to store to make the migration permanent (empty: nothing). */
  readonly realmPatch: LayerPatch;
  readonly globalPatch: LayerPatch;
}

/** The transforms that turn one value into another. */
export const MIGRATION_TRANSFORMS: readonly MigrationTransform[] = [
  'RENAME',
  'DEFAULT',
  'TO_STRING',
  'TO_NUMBER',
  'TO_BOOLEAN',
  'MAP_VALUES',
  'DROP',
];

/**
 * Brings both layers of a stored preference up to `state.version`: every
 * migration newer than a layer's `configVersion` that concerns the layer
 * is applied, oldest first. Pure and deterministic: the lazy read and the
 * batch command share it and so agree.
 */
export function migrateStored(
  stored: StoredPreference,
  state: MigrationState,
): MigratedPreference {
  const realm = migrateLayer(stored.realmLayer, state, (m) =>
    m.realm === null || m.realm === stored.realm ? m : null,
  );
  const global = migrateLayer(stored.globalLayer, state, (m) =>
    m.realm === null ? m : null,
  );
  return {
    preference: {
      ...stored,
      realmLayer: realm.layer,
      globalLayer: global.layer,
    },
    realmPatch: realm.patch,
    globalPatch: global.patch,
  };
}

/** True when a layer has values older than some migration that concerns it. */
export function needsMigration(
  stored: StoredPreference,
  state: MigrationState,
): boolean {
  const { realmPatch, globalPatch } = migrateStored(stored, state);
  return !isEmptyPatch(realmPatch) || !isEmptyPatch(globalPatch);
}

export function isEmptyPatch(patch: LayerPatch): boolean {
  return Object.keys(patch.set).length === 0 && patch.unset.length === 0;
}

const EMPTY_PATCH: LayerPatch = Object.freeze({
  set: Object.freeze({}),
  unset: Object.freeze([]) as readonly string[],
});

function migrateLayer(
  layer: StoredLayer,
  state: MigrationState,
  concerns: (m: MigrationRecord) => MigrationRecord | null,
): { layer: StoredLayer; patch: LayerPatch } {
  // A layer without a mark was stored before any migration existed.
  const from = layer.configVersion ?? 0;
  const pending = state.log.filter(
    (m) => m.version > from && m.version <= state.version && concerns(m),
  );
  if (pending.length === 0 || Object.keys(layer.values).length === 0) {
    return { layer, patch: EMPTY_PATCH };
  }

  const values: Record<string, unknown> = structuredClone({ ...layer.values });
  for (const migration of pending) applyMigration(values, migration);

  const set: Record<string, unknown> = {};
  const unset: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (
      !Object.hasOwn(layer.values, key) ||
      JSON.stringify(layer.values[key]) !== JSON.stringify(value)
    )
      set[key] = value;
  }
  for (const key of Object.keys(layer.values)) {
    if (!Object.hasOwn(values, key)) unset.push(key);
  }
  const patch = { set, unset };
  if (isEmptyPatch(patch)) return { layer, patch: EMPTY_PATCH };
  return {
    layer: { ...layer, values, configVersion: state.version },
    patch: { ...patch, configVersion: state.version },
  };
}

/** Applies one migration to a layer's values, in place. */
function applyMigration(
  values: Record<string, unknown>,
  migration: MigrationRecord,
): void {
  const { key } = migration;
  if (migration.transform === 'RENAME') {
    const from = migration.from ?? '';
    if (!Object.hasOwn(values, from)) return;
    // A value already stored under the new name was written later: it wins.
    if (!Object.hasOwn(values, key)) values[key] = values[from];
    delete values[from];
    return;
  }
  if (!Object.hasOwn(values, key)) return;

  const next = transformValue(values[key], migration);
  if (next === undefined) delete values[key];
  else values[key] = next;
}

/**
 * One value through one transform; undefined removes the value, so the
 * key's default applies again (a value that cannot be converted).
 */
export function transformValue(
  value: unknown,
  migration: MigrationDeclaration & Pick<MigrationRecord, 'rules' | 'required'>,
): unknown {
  switch (migration.transform) {
    case 'RENAME':
      return value;
    case 'DROP':
      return undefined;
    case 'DEFAULT':
      return refusedBy(migration, value) ? (migration.value ?? null) : value;
    case 'TO_STRING':
      if (value === null || typeof value === 'string') return value;
      return typeof value === 'object' ? JSON.stringify(value) : String(value);
    case 'TO_NUMBER':
      return toNumber(value);
    case 'TO_BOOLEAN':
      return toBoolean(value);
    case 'MAP_VALUES': {
      const mapping = migration.mapping ?? {};
      const map = (v: unknown) =>
        typeof v === 'string' && Object.hasOwn(mapping, v) ? mapping[v] : v;
      return Array.isArray(value) ? value.map(map) : map(value);
    }
  }
}

function toNumber(value: unknown): unknown {
  if (value === null || typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0', '']);

function toBoolean(value: unknown): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  return undefined;
}

/** Compiled DEFAULT rules, by their JSON: records never change. */
const compiledRules = new Map<string, ValidateFunction>();
let rulesAjv: ReturnType<typeof createAjv> | null = null;

function refusedBy(
  migration: Pick<MigrationRecord, 'rules' | 'required'>,
  value: unknown,
): boolean {
  if (value === null) return migration.required === true;
  if (!migration.rules) return false;
  const source = JSON.stringify(migration.rules);
  let validate = compiledRules.get(source);
  if (!validate) {
    rulesAjv ??= createAjv();
    validate = rulesAjv.compile(migration.rules);
    compiledRules.set(source, validate);
  }
  return !validate(value);
}
