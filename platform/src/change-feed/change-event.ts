/**
 * The change-event contract. Every accepted write produces one event per
 * Preference entity whose effective values it changed: a write of a realm
 * field touches one Preference, a write of a user-global field touches the
 * user's Preference in every realm (the value follows the user there).
 *
 * Events are appended to a per-realm change log (ordered, durable where the
 * store is) and then published on the change bus for live fan-out.
 */
export interface PreferenceChangeEvent {
  /** Always `preference.changed`; lets one channel carry other kinds later. */
  readonly type: 'preference.changed';
  /**
   * Orders events within a realm. Opaque to clients: `<realm>/<position>`,
   * where position is the change-log entry id (a Redis stream id, or a
   * counter in memory). A later event of a realm has a greater cursor.
   */
  readonly cursor: string;
  /** The realm whose Preference changed. */
  readonly realm: string;
  /** The user whose Preference changed. */
  readonly userId: string;
  /** The federated entity id of the changed Preference (`realm:user`). */
  readonly preferenceId: string;
  /** Preference keys whose stored value changed (set or reset). */
  readonly changedKeys: readonly string[];
  /** The Preference version after the write. */
  readonly version: number;
  /** Who made the write: a user id (the owner, or an admin). */
  readonly actor: string;
  /** The realm the write was made through (differs for user-global keys). */
  readonly originRealm: string;
  /** When the write was stored, ISO 8601 UTC. */
  readonly at: string;
  /** The request that made the write, for tracing across services. */
  readonly requestId: string;
}

/** Builds the federated id of a realm user's Preference. */
export function preferenceId(realm: string, userId: string): string {
  return `${realm}:${userId}`;
}

/**
 * Splits a Preference id into realm and user. Realm ids never contain a
 * colon, user ids may. Returns null for a malformed id.
 */
export function parsePreferenceId(
  id: string,
): { realm: string; userId: string } | null {
  const colon = id.indexOf(':');
  if (colon <= 0 || colon === id.length - 1) return null;
  return { realm: id.slice(0, colon), userId: id.slice(colon + 1) };
}

/** The pub/sub channel that carries a realm's change events. */
export function changeChannel(realm: string): string {
  return `realms.preference-changed.${realm}`;
}

/**
 * Orders two cursors of one realm: negative when `a` came first. Positions
 * are one or two dash-separated integers (a counter, or a Redis stream id
 * `<ms>-<seq>`), compared number by number: `1-10` comes after `1-9`,
 * which plain string order would get wrong.
 */
export function compareCursors(a: string, b: string): number {
  // Runs for every event and subscriber: compares the digits in place,
  // without splitting the strings or converting them to numbers.
  let i = a.lastIndexOf('/') + 1;
  let j = b.lastIndexOf('/') + 1;
  while (i <= a.length || j <= b.length) {
    const endA = partEnd(a, i);
    const endB = partEnd(b, j);
    const order = compareDigits(a, i, endA, b, j, endB);
    if (order !== 0) return order;
    i = endA + 1;
    j = endB + 1;
  }
  return 0;
}

/** Where the dash-separated part starting at `start` ends. */
function partEnd(cursor: string, start: number): number {
  if (start > cursor.length) return start;
  const dash = cursor.indexOf('-', start);
  return dash < 0 ? cursor.length : dash;
}

/**
 * Orders two parts as integers: one that is not all digits (or missing)
 * counts as 0, leading zeros do not count.
 */
function compareDigits(
  a: string,
  startA: number,
  endA: number,
  b: string,
  startB: number,
  endB: number,
): number {
  const fromA = significantStart(a, startA, endA);
  const fromB = significantStart(b, startB, endB);
  const lengthA = fromA < 0 ? 0 : endA - fromA;
  const lengthB = fromB < 0 ? 0 : endB - fromB;
  if (lengthA !== lengthB) return lengthA < lengthB ? -1 : 1;
  for (let k = 0; k < lengthA; k++) {
    const x = a.charCodeAt(fromA + k);
    const y = b.charCodeAt(fromB + k);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Where a part's digits start once leading zeros are skipped (`end` for
 * zero); -1 when the part is empty or not all digits.
 */
function significantStart(s: string, start: number, end: number): number {
  if (start >= end) return -1;
  let from = end;
  for (let k = end - 1; k >= start; k--) {
    const code = s.charCodeAt(k);
    if (code < 48 || code > 57) return -1;
    if (code !== 48) from = k;
  }
  return from;
}

/**
 * A new configuration version (schema, realm extensions, themes) was
 * published. Every process loads it and rebuilds what it derived from the
 * old one; subscribers of realm configuration changes are told.
 */
export interface ConfigChangeEvent {
  readonly type: 'config.changed';
  readonly version: number;
  readonly previousVersion: number;
  /** Realms whose effective configuration changed (all, for the global schema). */
  readonly realms: readonly string[];
  /** What changed, e.g. `realms/sports.json: overrides.theme`. */
  readonly changes: readonly string[];
  readonly actor: string;
  readonly at: string;
  readonly comment: string | null;
}

/**
 * An admin changed a user's access in a realm (disabled, enabled, a role
 * granted or revoked). Processes of the same deployment (the same store
 * `namespace`) take `access` at once; an event of another deployment
 * sharing the Redis is ignored.
 */
export interface UserAccessChangeEvent {
  readonly type: 'user-access.changed';
  /** The store namespace (Redis key prefix) the change was stored in. */
  readonly namespace: string;
  readonly realm: string;
  readonly userId: string;
  /** The user's access after the change, as stored. */
  readonly access: {
    readonly disabled: boolean;
    readonly grantedRoles: readonly string[];
    readonly revokedRoles: readonly string[];
    readonly updatedAt: string | null;
  };
}
