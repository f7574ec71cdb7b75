// Test support: one subgraph in process over a real PreferenceService.
// Exported as `@realms/platform/testing`, for the tests of every subgraph.
import { randomUUID } from 'node:crypto';
import {
  createLogger,
  createMemoryChangeBus,
  createSubgraphApollo,
  loadCatalog,
  MemoryPreferenceStore,
  PreferenceService,
  unauthenticated,
  type ChangeBus,
  type Identity,
  type PreferenceChangeEvent,
  type SubgraphContext,
  type SubgraphDefinition,
} from '../index.js';

/**
 * The JSON strings a key's schema allows: its `enum`, or its items' `enum`
 * for an array key. Used to check the GraphQL enums against the schema.
 */
export function schemaEnum(
  preferences: PreferenceService,
  realm: string,
  key: string,
): string[] {
  const rules = preferences.catalog.realm(realm)?.definitions.get(key)?.rules;
  const holder = rules?.['type'] === 'array' ? rules['items'] : rules;
  const values = (holder as { enum?: unknown } | undefined)?.enum;
  return Array.isArray(values) ? values.map(String) : [];
}

/** What a test reads from a response: data and errors as JSON. */
export interface OperationResult {
  readonly data: Record<string, unknown> | null | undefined;
  readonly errors: readonly {
    readonly message: string;
    readonly path?: readonly (string | number)[];
    readonly extensions?: Record<string, unknown>;
  }[];
}

/**
 * One subgraph in process over a real PreferenceService (memory store and
 * bus, the repository's catalog), called with hand-built contexts as the
 * gateway would forward them.
 */
export interface Harness {
  readonly preferences: PreferenceService;
  readonly bus: ChangeBus;
  /** Runs an operation as `identity` (anonymous when null). */
  execute(
    identity: Identity | null,
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<OperationResult>;
  /** Collects the change events of `realm` published from now on. */
  collectEvents(realm: string): Promise<PreferenceChangeEvent[]>;
  stop(): Promise<void>;
}

export async function startHarness(
  definition: SubgraphDefinition,
): Promise<Harness> {
  const catalog = await loadCatalog();
  const logger = createLogger(`${definition.name}-subgraph-test`, 'silent');
  const store = new MemoryPreferenceStore();
  const bus = createMemoryChangeBus();
  const preferences = new PreferenceService({
    catalog: () => catalog,
    store,
    bus,
    logger,
  });
  const server = createSubgraphApollo(definition);
  await server.start();

  const contextFor = (identity: Identity | null): SubgraphContext => {
    const requestId = randomUUID();
    return {
      requestId,
      logger,
      forwarded: {
        identity,
        realm: identity?.realm ?? definition.name,
        requestId,
      },
      preferences,
      memo: new Map(),
      requireIdentity: () => {
        if (!identity) throw unauthenticated('Sign in first.');
        return identity;
      },
    };
  };

  return {
    preferences,
    bus,
    async execute(identity, query, variables) {
      const response = await server.executeOperation(
        { query, ...(variables ? { variables } : {}) },
        { contextValue: contextFor(identity) },
      );
      if (response.body.kind !== 'single') {
        throw new Error('expected a single result');
      }
      const { data, errors } = response.body.singleResult;
      return { data, errors: errors ?? [] };
    },
    async collectEvents(realm) {
      const events: PreferenceChangeEvent[] = [];
      await bus.subscribe(realm, (event) => events.push(event));
      return events;
    },
    async stop() {
      await server.stop();
      await bus.close();
      await store.close();
    },
  };
}

/** A user of a realm. */
export function user(realm: string, userId: string): Identity {
  return { realm, userId, roles: ['user'] };
}

/** A realm admin, who may reach every user of the realm. */
export function realmAdmin(realm: string, userId = 'ops'): Identity {
  return { realm, userId, roles: ['realm-admin'] };
}

/** A platform admin, who may reach every realm. */
export function platformAdmin(realm: string, userId = 'root'): Identity {
  return { realm, userId, roles: ['platform-admin'] };
}
