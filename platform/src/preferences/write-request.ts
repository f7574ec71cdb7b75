import type { PreferenceScope } from '../realm-config/catalog.js';

/** Marks a change that removes the user's value instead of setting one. */
export const RESET = Symbol('reset');

/** One requested change of one key. */
export interface KeyChange {
  readonly key: string;
  /** The new value, or RESET to fall back to the inherited value. */
  readonly value: unknown;
  /**
   * Which of the user's layers to change. Null picks the natural one: for
   * a set, GLOBAL for global keys and REALM for realm keys; for a reset,
   * the layer the current effective value comes from.
   */
  readonly scope: PreferenceScope | null;
  /** Where this change sits in the operation's input, for error paths. */
  readonly path: readonly (string | number)[];
  /**
   * Where the value itself sits, when not at `[...path, 'value']` (a typed
   * division input holds the value at `path`).
   */
  readonly valuePath?: readonly (string | number)[];
}

/** A write of one user's preference in one realm. */
export interface WriteRequest {
  readonly realm: string;
  readonly userId: string;
  readonly changes: readonly KeyChange[];
  /** When set, the write applies only if the version is still this one. */
  readonly expectedVersion: number | null;
  /**
   * Who may write which keys: null for the core subgraph (global and realm
   * custom keys), a realm id for that realm's division subgraph (its own
   * division keys only).
   */
  readonly writer: string | null;
  /**
   * Whether the write may change the user-global layer, which every realm
   * reads: for the user themself and platform admins (see
   * `mayWriteUserGlobalLayer`). When false (a realm admin writing a user of
   * their realm), a change without a scope goes to the realm layer and one
   * with `GLOBAL` is FORBIDDEN, so a realm admin's write never reaches
   * another realm.
   */
  readonly globalLayerWritable: boolean;
  readonly actor: string;
  readonly requestId: string;
}
