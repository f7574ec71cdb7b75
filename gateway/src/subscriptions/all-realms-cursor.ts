import { realmsError } from '@realms/platform';

/** Marks a cursor of the all-realms feed, so it is never taken for a realm's. */
const PREFIX = 'all.';

/** Realm ids as the stores accept them (see `assertStorableRealm`). */
const REALM_ID = /^[a-z0-9][a-z0-9_-]*$/;

/** A change-log position: a counter, or a Redis stream id `<ms>-<seq>`. */
const POSITION = /^\d+(-\d+)?$/;

/**
 * Where the all-realms feed stands in every realm's change log: each
 * realm's last cursor, or null for a realm whose log it follows from the
 * beginning (it had no change yet).
 */
export type RealmPositions = ReadonlyMap<string, string | null>;

/**
 * The cursor of an all-realms change: the position in every realm's log
 * at that change, so that resuming after it replays each realm after its
 * own position. Opaque to clients: `all.` and the base64url of
 * `realm=position` pairs, sorted by realm, joined by `;`. Realms without
 * a position are left out; they are read from the beginning on resume.
 */
export function encodeAllRealmsCursor(positions: RealmPositions): string {
  const parts: string[] = [];
  for (const [realm, cursor] of positions) {
    if (cursor === null) continue;
    parts.push(`${realm}=${cursor.slice(cursor.lastIndexOf('/') + 1)}`);
  }
  parts.sort();
  return PREFIX + Buffer.from(parts.join(';'), 'utf8').toString('base64url');
}

/**
 * The realm cursors an all-realms cursor holds (`realm/position`, as the
 * change log reads them). Throws BAD_USER_INPUT for anything else,
 * including one realm's cursor.
 */
export function decodeAllRealmsCursor(cursor: string): Map<string, string> {
  const invalid = () =>
    realmsError(
      'BAD_USER_INPUT',
      `"${cursor}" is not a cursor of allRealmsPreferenceChanged.`,
    );
  if (!cursor.startsWith(PREFIX)) throw invalid();

  const body = cursor.slice(PREFIX.length);
  const text = Buffer.from(body, 'base64url').toString('utf8');
  // Buffer skips what is not base64url; a round trip shows it.
  if (Buffer.from(text, 'utf8').toString('base64url') !== body) throw invalid();

  const cursors = new Map<string, string>();
  for (const part of text === '' ? [] : text.split(';')) {
    const [realm, position, extra] = part.split('=');
    if (
      realm === undefined ||
      position === undefined ||
      extra !== undefined ||
      !REALM_ID.test(realm) ||
      !POSITION.test(position) ||
      cursors.has(realm)
    )
      throw invalid();
    cursors.set(realm, `${realm}/${position}`);
  }
  return cursors;
}
