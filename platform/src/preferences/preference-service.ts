import type { Logger } from 'pino';
import {
  refusalOutcome,
  type AuditChange,
  type AuditEntryInput,
  type AuditPage,
  type AuditQuery,
} from '../audit/audit-log.js';
import type { WriteAttempt } from '../audit/write-attempt.js';
import type { ChangeBus } from '../change-feed/change-bus.js';
import { preferenceId } from '../change-feed/change-event.js';
import {
  badUserInput,
  conflict,
  errorCodeOf,
  forbidden,
  notFound,
  type Violation,
} from '../errors/graphql-errors.js';
import { effectiveValueMap } from '../layering/effective-values.js';
import type {
  PreferenceCatalog,
  PreferenceDefinition,
  RealmConfig,
} from '../realm-config/catalog.js';
import {
  preferenceVersion,
  type LayerPatch,
  type PlannedWrite,
  type PreferenceStore,
  type StoredPreference,
} from '../storage/preference-store.js';
import { withSpan } from '../tracing/spans.js';
import {
  isEmptyPatch,
  migrateStored,
  type MigratedPreference,
  type MigrationState,
} from '../realm-config/migrations.js';
import { RESET, type KeyChange, type WriteRequest } from './write-request.js';

export interface PreferenceServiceOptions {
  /** The current catalog; a function so a reloaded one takes effect. */
  readonly catalog: () => PreferenceCatalog;
  readonly store: PreferenceStore;
  readonly bus: ChangeBus;
  readonly logger: Logger;
  /**
   * The migrations of stored values in force (the live catalog's); reads
   * apply them lazily and writes store their result. @default none
   */
  readonly migrations?: () => MigrationState;
}

/**
 * The one place where preference writes are validated, planned and
 * stored, and their change events published. Core and division subgraphs
 * all write through it, each with its own `writer`, so the rules are the
 * same whichever service a write comes through.
 *
 * Merge policy: without `expectedVersion`, a write is a patch of the named
 * keys applied to the latest stored state (a concurrent write of other
 * keys is kept; of the same key, the later write wins). With
 * `expectedVersion`, the write applies only if nothing in the preference
 * changed since that version, otherwise CONFLICT and nothing is stored.
 *
 * Every write is audited: the store records an accepted one atomically
 * with it; this service records a refused one (invalid input, conflict)
 * with the changes it asked for.
 */
export class PreferenceService {
  /**
   * @param attempt - the write operation this service's writes belong to,
   *   if any: see {@link PreferenceService.forAttempt}
   */
  constructor(
    private readonly options: PreferenceServiceOptions,
    private readonly attempt: WriteAttempt | null = null,
  ) {}

  /**
   * This service, with its writes attributed to one write operation: the
   * caller's roles and address go into their audit records, and the
   * attempt learns that a record was made. The subgraph server gives one
   * to each mutation resolver, so every write path is covered without
   * passing the caller along by hand.
   */
  forAttempt(attempt: WriteAttempt): PreferenceService {
    return new PreferenceService(this.options, attempt);
  }

  get catalog(): PreferenceCatalog {
    return this.options.catalog();
  }

  /** The realm's configuration; NOT_FOUND for an unknown realm. */
  realm(realmId: string): RealmConfig {
    const realm = this.catalog.realm(realmId);
    if (!realm) throw notFound(`Realm "${realmId}"`);
    return realm;
  }

  /** Reads one user's layers, migrated to the configuration in force. */
  async read(realm: string, userId: string): Promise<StoredPreference> {
    return this.migrated(await this.options.store.read(realm, userId))
      .preference;
  }

  /**
   * Brings stored values up to the configuration in force, without
   * storing anything: the lazy half of a migration (see migrations.ts).
   */
  migrated(stored: StoredPreference): MigratedPreference {
    const state = this.options.migrations?.();
    if (!state) {
      const none = { set: {}, unset: [] };
      return { preference: stored, realmPatch: none, globalPatch: none };
    }
    return migrateStored(stored, state);
  }

  /** A page of the users of a realm that have stored values. */
  listUsers(realm: string, page: { after: string | null; limit: number }) {
    return this.options.store.listUsers(realm, page);
  }

  /** Reads several users of a realm, migrated like `read`. */
  async readMany(
    realm: string,
    userIds: readonly string[],
  ): Promise<StoredPreference[]> {
    const stored = await this.options.store.readMany(realm, userIds);
    return stored.map((preference) => this.migrated(preference).preference);
  }

  /**
   * Validates every change, then stores them all or nothing. Throws
   * BAD_USER_INPUT listing every violation, or CONFLICT. Either way the
   * write is in the audit log.
   */
  async write(request: WriteRequest): Promise<StoredPreference> {
    return withSpan(
      'preference.write',
      {
        'realms.realm': request.realm,
        'realms.request_id': request.requestId,
        'realms.changes': request.changes.length,
      },
      async () => {
        try {
          return await this.validateAndStore(request);
        } catch (error) {
          await this.recordRefusedWrite(request, error);
          throw error;
        }
      },
    );
  }

  /**
   * Appends a refused write to the audit log. A failed append is logged,
   * not thrown: the caller still gets the refusal it is reporting.
   */
  async recordRefusal(entry: AuditEntryInput): Promise<void> {
    this.attempt?.markRecorded();
    await this.options.store.appendAudit(entry).catch((error: unknown) => {
      this.options.logger.error(
        { err: error, requestId: entry.requestId, realm: entry.realm },
        'refused write not recorded in the audit log',
      );
    });
  }

  /**
   * Appends an audit record of a write that is no preference write (a
   * configuration change), accepted or refused; like recordRefusal, a
   * failed append is logged, not thrown.
   */
  async recordAudit(entry: AuditEntryInput): Promise<void> {
    await this.recordRefusal(entry);
  }

  /** Reads a realm's audit log, newest first. Access is the caller's part. */
  readAudit(query: AuditQuery): Promise<AuditPage> {
    return this.options.store.readAudit(query);
  }

  private async validateAndStore(
    request: WriteRequest,
  ): Promise<StoredPreference> {
    const realm = this.realm(request.realm);
    if (
      !request.globalLayerWritable &&
      request.changes.some((change) => change.scope === 'GLOBAL')
    ) {
      throw forbidden();
    }
    const violations = validateChanges(realm, request);
    if (violations.length > 0) throw badUserInput(violations);

    const caller = this.attempt?.caller;
    const outcome = await this.options.store.write(
      request.realm,
      request.userId,
      // Plan on migrated values and store the migration with the write:
      // the layer's mark moves forward, so its values must have too.
      (current) => {
        const migrated = this.migrated(current);
        const plan = planWrite(realm, request, migrated.preference);
        return withMigration(plan, migrated);
      },
      {
        actor: request.actor,
        requestId: request.requestId,
        actorRoles: caller?.actorRoles ?? [],
        clientAddress: caller?.clientAddress ?? null,
      },
      this.catalog.realmIds,
    );
    this.attempt?.markRecorded();

    // The write is stored and in the change log; a failed publish only
    // delays live delivery, so it is logged rather than failing the write.
    for (const event of outcome.events) {
      await this.options.bus.publish(event).catch((error: unknown) => {
        this.options.logger.error(
          { err: error, requestId: request.requestId, cursor: event.cursor },
          'change event stored but not published',
        );
      });
    }
    return outcome.preference;
  }

  /**
   * Records a refused write with the changes it asked for, in the
   * target's realm: access to it was granted before the write got here.
   * A target realm that does not exist has no log; the request's realm
   * gets the record then, if known.
   */
  private async recordRefusedWrite(
    request: WriteRequest,
    error: unknown,
  ): Promise<void> {
    const outcome = refusalOutcome(error);
    if (outcome === null) return;
    const realm = this.catalog.realm(request.realm);
    const logRealm = realm ? realm.id : this.attempt?.caller.requestRealm;
    if (logRealm === undefined) return;

    const caller = this.attempt?.caller;
    await this.recordRefusal({
      realm: logRealm,
      actor: request.actor,
      actorRoles: [...(caller?.actorRoles ?? [])],
      target: preferenceId(request.realm, request.userId),
      outcome,
      changes: requestedChanges(realm, request),
      requestId: request.requestId,
      clientAddress: caller?.clientAddress ?? null,
      errorCode: errorCodeOf(error),
    });
  }
}

/**
 * The changes a refused write asked for, as audit changes: the requested
 * value as `after` (null for a reset), `before` null as nothing was read.
 * The layer is the one asked for, else the key's scope (REALM for a key
 * the realm does not know).
 */
function requestedChanges(
  realm: RealmConfig | undefined,
  request: WriteRequest,
): AuditChange[] {
  return request.changes.map((change) => ({
    key: change.key,
    layer: change.scope ?? realm?.definitions.get(change.key)?.scope ?? 'REALM',
    before: null,
    after: change.value === RESET ? null : (change.value ?? null),
  }));
}

/** Checks what does not depend on stored state: keys, owners, rules. */
export function validateChanges(
  realm: RealmConfig,
  request: WriteRequest,
): Violation[] {
  const violations: Violation[] = [];
  const seen = new Set<string>();
  for (const change of request.changes) {
    const definition = realm.definitions.get(change.key);
    const fail = (rule: string, message: string, path = change.path) =>
      violations.push({ path, key: change.key, rule, message });

    if (!definition) {
      fail(
        'unknownKey',
        `"${change.key}" is not a preference of realm "${realm.id}"`,
      );
      continue;
    }
    if (seen.has(change.key)) {
      fail('duplicateKey', `"${change.key}" is named more than once`);
      continue;
    }
    seen.add(change.key);
    if (definition.owner !== request.writer) {
      fail('owner', ownerMessage(definition));
      continue;
    }
    if (definition.scope === 'REALM' && change.scope === 'GLOBAL') {
      fail(
        'scope',
        `"${change.key}" is a realm field; it cannot be set globally`,
      );
      continue;
    }
    if (change.value === RESET) continue;
    if (definition.locked) {
      fail('locked', `"${change.key}" is locked in realm "${realm.id}"`);
      continue;
    }
    for (const problem of definition.check(change.value)) {
      fail(
        problem.rule,
        `"${change.key}"${problem.message.startsWith('/') ? '' : ' '}${problem.message}`,
        [...(change.valuePath ?? [...change.path, 'value']), ...problem.path],
      );
    }
  }
  return violations;
}

function ownerMessage(definition: PreferenceDefinition): string {
  return definition.owner
    ? `"${definition.key}" belongs to the ${definition.owner} division; ` +
        `write it with its own mutation`
    : `"${definition.key}" is written through setPreferences`;
}

/** Turns validated changes into layer patches against the current state. */
export function planWrite(
  realm: RealmConfig,
  request: WriteRequest,
  current: StoredPreference,
): PlannedWrite | null {
  const version = preferenceVersion(current);
  if (request.expectedVersion !== null && request.expectedVersion !== version) {
    throw conflict(
      request.expectedVersion,
      version,
      effectiveValueMap(realm, current),
    );
  }

  const realmPatch = {
    set: {} as Record<string, unknown>,
    unset: [] as string[],
  };
  const globalPatch = {
    set: {} as Record<string, unknown>,
    unset: [] as string[],
  };
  for (const change of request.changes) {
    const definition = realm.definitions.get(change.key);
    if (!definition) continue;
    const layer = request.globalLayerWritable
      ? chooseLayer(definition, change, current)
      : 'REALM';
    const [patch, stored] =
      layer === 'GLOBAL'
        ? [globalPatch, current.globalLayer.values]
        : [realmPatch, current.realmLayer.values];

    if (change.value === RESET) {
      if (Object.hasOwn(stored, change.key)) patch.unset.push(change.key);
    } else if (
      !Object.hasOwn(stored, change.key) ||
      !sameJson(stored[change.key], change.value)
    ) {
      patch.set[change.key] = change.value;
    }
  }

  if (isEmpty(realmPatch) && isEmpty(globalPatch)) return null;
  return { realmPatch, globalPatch };
}

/**
 * A planned write with the migration of what it was planned on: the
 * write's own sets and unsets win over the migration's.
 */
function withMigration(
  plan: PlannedWrite | null,
  migrated: MigratedPreference,
): PlannedWrite | null {
  const merge = (write: LayerPatch | undefined, migration: LayerPatch) => {
    if (isEmptyPatch(migration)) return write ?? { set: {}, unset: [] };
    const own = write ?? { set: {}, unset: [] };
    return {
      set: { ...migration.set, ...own.set },
      unset: [
        ...migration.unset.filter((key) => !Object.hasOwn(own.set, key)),
        ...own.unset,
      ],
      configVersion: migration.configVersion,
    };
  };
  const realmPatch = merge(plan?.realmPatch, migrated.realmPatch);
  const globalPatch = merge(plan?.globalPatch, migrated.globalPatch);
  if (isEmptyPatch(realmPatch) && isEmptyPatch(globalPatch)) return null;
  return { realmPatch, globalPatch };
}

function chooseLayer(
  definition: PreferenceDefinition,
  change: KeyChange,
  current: StoredPreference,
): 'GLOBAL' | 'REALM' {
  if (definition.scope === 'REALM') return 'REALM';
  if (change.scope) return change.scope;
  if (change.value !== RESET) return 'GLOBAL';
  // A reset without scope undoes the layer the user sees: the realm value
  // if there is one, otherwise the user's global value.
  return Object.hasOwn(current.realmLayer.values, definition.key)
    ? 'REALM'
    : 'GLOBAL';
}

function isEmpty(patch: LayerPatch): boolean {
  return Object.keys(patch.set).length === 0 && patch.unset.length === 0;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
