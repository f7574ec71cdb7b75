import { badUserInput } from '../errors/graphql-errors.js';
import { resolveValue } from '../layering/effective-values.js';
import { RESET, type KeyChange } from '../preferences/write-request.js';
import { mayWriteUserGlobalLayer } from '../identity/identity.js';
import type { RealmConfig } from '../realm-config/catalog.js';
import {
  preferenceVersion,
  type StoredPreference,
} from '../storage/preference-store.js';
import {
  rememberWrittenPreference,
  loadStoredPreference,
  referencedPreference,
  targetPreference,
  type PreferenceRef,
} from './preference-access.js';
import type { SubgraphContext } from './subgraph-server.js';

/*
 * What every division subgraph (sports, entertainment, parks) does the same
 * way: turn its typed input into key changes, write them as the division,
 * and read its keys' effective values. A division keeps only what is its
 * own: the table of input fields, the type of its values, its enums and
 * its field resolvers. Divisions must not import each other, so the shared
 * part lives here.
 */

/** Where one division key sits in the division's typed input. */
export interface DivisionInputField {
  /** The field names from the input object down to the value. */
  readonly path: readonly string[];
  /** The flat preference key, e.g. `sports.alertEvents`. */
  readonly key: string;
}

/**
 * Turns a division's typed input into one change per key it names. A value
 * sets the key; null resets it to the inherited value; an omitted field is
 * no change. A null group (`gameAlerts: null`) resets every key in it.
 * Each change carries its input path, as `path` and `valuePath` both, so a
 * violation points at the field that holds the value.
 *
 * @param input - the input argument as GraphQL coerced it
 * @param fields - every key the input can change, by its place in the input
 * @param argumentName - the mutation argument the input arrives in, which
 *   starts every path
 */
export function inputChanges(
  input: Readonly<Record<string, unknown>>,
  fields: readonly DivisionInputField[],
  argumentName: string,
): KeyChange[] {
  return fields.flatMap(({ path, key }) => {
    const value = inputValue(input, path);
    if (value === undefined) return [];
    return [
      {
        key,
        value: value === null ? RESET : value,
        scope: null,
        path: [argumentName, ...path],
        valuePath: [argumentName, ...path],
      },
    ];
  });
}

/**
 * The value at `path`: undefined when a field on the way was omitted, null
 * when it or a group above it is an explicit null.
 */
function inputValue(input: unknown, path: readonly string[]): unknown {
  let current = input;
  for (const name of path) {
    if (current === null) return null;
    if (typeof current !== 'object' || !Object.hasOwn(current, name)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[name];
  }
  return current;
}

/**
 * One preference's division values, each resolved only when a field asks
 * for it, from the realm configuration current at load time.
 *
 * @typeParam Values - the effective value of each division key, by its
 *   name without the realm prefix, in the JSON shape the realm schema
 *   describes
 */
export class DivisionView<Values extends object> {
  constructor(
    private readonly realm: RealmConfig,
    private readonly stored: StoredPreference,
  ) {}

  /** The effective value of `<realm>.<name>`: the user's, or the default. */
  value<Name extends keyof Values & string>(name: Name): Values[Name] {
    const key = `${this.realm.id}.${name}`;
    const definition = this.realm.definitions.get(key);
    if (!definition) {
      throw new Error(`Realm "${this.realm.id}" does not define "${key}".`);
    }
    // resolveValue never serves a value the realm's rules refuse, so the
    // value has the shape its schema, and so Values, describes.
    return resolveValue(definition, this.stored).value as Values[Name];
  }
}

/**
 * The division view of a preference, or null when the preference belongs
 * to another realm: other realms have none of the division's keys.
 *
 * @param realmId - the realm whose division the subgraph serves
 */
export async function loadDivisionView<Values extends object>(
  context: SubgraphContext,
  ref: PreferenceRef,
  realmId: string,
): Promise<DivisionView<Values> | null> {
  if (ref.realm !== realmId) return null;
  const realm = context.preferences.catalog.realm(realmId);
  if (!realm) throw new Error(`Realm "${realmId}" is not configured.`);
  return new DivisionView<Values>(
    realm,
    await loadStoredPreference(context, ref),
  );
}

/** The arguments of a division's update mutation. */
export interface DivisionUpdateArgs {
  readonly input: Readonly<Record<string, unknown>>;
  /** When set, the write applies only if the version is still this one. */
  readonly expectedVersion?: number | null;
  /** Another preference than the caller's own in the request's realm. */
  readonly id?: string | null;
}

/** What a division's update mutation writes, and how it is named. */
export interface DivisionOptions {
  /** The realm whose division the subgraph serves; also the writer id. */
  readonly realmId: string;
  /** The mutation's field name, for the refusal message. */
  readonly mutationName: string;
  /** Every key the mutation's input can change, by its place in it. */
  readonly fields: readonly DivisionInputField[];
}

/** The name of the update mutation's argument the input arrives in. */
const INPUT_ARGUMENT = 'input';

/** The resolver of a division's update mutation. */
export type DivisionUpdateResolver = (
  source: unknown,
  args: DivisionUpdateArgs,
  context: SubgraphContext,
) => Promise<PreferenceRef>;

/**
 * The resolver of a division's update mutation (`updateSportsPreferences`
 * and its kin): writes the keys named in the input, as the division, and
 * returns the preference for the gateway to resolve its other fields.
 */
export function divisionUpdateResolver(
  options: DivisionOptions,
): DivisionUpdateResolver {
  const { realmId, fields } = options;
  return async (_, args, context) => {
    const target = targetPreference(context, args.id);
    assertDivisionPreference(options, target, args.id);

    const identity = context.requireIdentity();
    const stored = await context.preferences.write({
      realm: target.realm,
      userId: target.userId,
      changes: inputChanges(args.input, fields, INPUT_ARGUMENT),
      expectedVersion: args.expectedVersion ?? null,
      writer: realmId,
      // Division fields are realm fields: this only keeps the rule whole.
      globalLayerWritable: mayWriteUserGlobalLayer(identity, target.userId),
      actor: identity.userId,
      requestId: context.requestId,
    });

    rememberWrittenPreference(context, target, stored);
    return target;
  };
}

/**
 * Refuses a preference of another realm: it has none of the division's
 * keys. Access was checked first, so the refusal tells nothing the caller
 * may not know.
 */
function assertDivisionPreference(
  options: DivisionOptions,
  target: PreferenceRef,
  id: string | null | undefined,
): void {
  if (target.realm === options.realmId) return;
  throw badUserInput([
    {
      path: id === undefined || id === null ? [] : ['id'],
      key: null,
      rule: 'realm',
      message:
        `preference "${target.id}" is of realm "${target.realm}"; ` +
        `${options.mutationName} changes ${options.realmId} preferences only`,
    },
  ]);
}

/** Resolves a `Preference` reference from the gateway (`_entities`). */
export type PreferenceReferenceResolver = (
  reference: { readonly id: string },
  context: SubgraphContext,
) => PreferenceRef;

/** Resolves `Preference.<realm>`, the division's view of a preference. */
export type DivisionViewResolver<Values extends object> = (
  ref: PreferenceRef,
  args: unknown,
  context: SubgraphContext,
) => Promise<DivisionView<Values> | null>;

/** Resolves `Preference.version` from the request's stored state. */
export type VersionResolver = (
  ref: PreferenceRef,
  args: unknown,
  context: SubgraphContext,
) => Promise<number>;

const resolveVersion: VersionResolver = async (ref, _, context) =>
  preferenceVersion(await loadStoredPreference(context, ref));

/** What {@link divisionResolvers} returns. */
export interface DivisionResolvers<Values extends object> {
  readonly Mutation: Readonly<Record<string, DivisionUpdateResolver>>;
  readonly Preference: Readonly<
    Record<
      string,
      | PreferenceReferenceResolver
      | DivisionViewResolver<Values>
      | VersionResolver
    >
  >;
}

/**
 * The resolvers every division subgraph has, to spread into its resolver
 * map beside its own types:
 *
 * - `Mutation.<mutationName>`, see {@link divisionUpdateResolver};
 * - `Preference.__resolveReference`, which checks access again: the
 *   gateway is trusted with identity, not with deciding who may read what;
 * - `Preference.<realmId>`, the division's {@link DivisionView} of the
 *   preference, null for a preference of another realm;
 * - `Preference.version` (shareable with core), so the answer to the
 *   division's mutation carries the version that write produced rather
 *   than whatever core reads a moment later.
 *
 * A division that adds fields of its own to `Mutation` or `Preference`
 * must merge them with these, as a spread of both would drop one side.
 *
 * @typeParam Values - the division's values, as for {@link DivisionView}
 */
export function divisionResolvers<Values extends object>(
  options: DivisionOptions,
): DivisionResolvers<Values> {
  const { realmId, mutationName } = options;
  const resolveReference: PreferenceReferenceResolver = (reference, context) =>
    referencedPreference(context, reference);
  const resolveView: DivisionViewResolver<Values> = (ref, _, context) =>
    loadDivisionView<Values>(context, ref, realmId);

  return {
    Mutation: { [mutationName]: divisionUpdateResolver(options) },
    Preference: {
      __resolveReference: resolveReference,
      [realmId]: resolveView,
      version: resolveVersion,
    },
  };
}
