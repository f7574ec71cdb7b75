import type { GraphQLError } from 'graphql';
import { preferenceId } from '../change-feed/change-event.js';
import { realmsError } from '../errors/graphql-errors.js';
import type {
  AuditChange,
  AuditPage,
  AuditQuery,
  AuditRecord,
} from '../audit/audit-log.js';
import type {
  LayerPatch,
  StoredLayer,
  WriteMetadata,
} from './preference-store.js';

/*
 * Audit-log logic both preference stores share: entry ids, the record of an
 * accepted write, and how a query picks and pages entries. Entry ids are
 * `<milliseconds>-<sequence>` in both stores (in Redis, the stream id), and
 * the milliseconds are the write time: so a time filter is an id range,
 * and retention drops ids below a cutoff.
 */

/** An audit record before the store gives it an id. */
export type AuditDraft = Omit<AuditRecord, 'id'>;

/** An audit entry id as numbers, to compare ids correctly. */
export interface AuditPosition {
  readonly ms: number;
  readonly seq: number;
}

/** Parses an entry id; null when it is not one. */
export function parseAuditId(id: string): AuditPosition | null {
  const match = /^(\d{1,15})-(\d{1,15})$/.exec(id);
  return match ? { ms: Number(match[1]), seq: Number(match[2]) } : null;
}

export function formatAuditId(position: AuditPosition): string {
  return `${position.ms}-${position.seq}`;
}

/** Negative when `a` is older than `b`, zero when equal. */
export function compareAuditPositions(
  a: AuditPosition,
  b: AuditPosition,
): number {
  return a.ms - b.ms || a.seq - b.seq;
}

/**
 * The id of the next entry of a log whose newest entry is `last`: at
 * `nowMs`, or at `last`'s time when the clock is behind it, so ids never
 * go backwards.
 */
export function nextAuditPosition(
  last: AuditPosition | null,
  nowMs: number,
): AuditPosition {
  if (last === null || nowMs > last.ms) return { ms: nowMs, seq: 0 };
  return { ms: last.ms, seq: last.seq + 1 };
}

/** The client error for an `after` that is not an audit entry id. */
export function invalidAuditCursor(after: string): GraphQLError {
  return realmsError(
    'BAD_USER_INPUT',
    `"${after}" is not an audit log cursor.`,
    { cursor: after },
  );
}

/**
 * Which ids a query may return: at or after `startMs` (the later of `from`
 * and the retention cutoff), and at or before `end` (`to`) or strictly
 * before it (`after`, the previous page's last entry). Null `end` is the
 * newest entry.
 */
export interface AuditBounds {
  readonly startMs: number;
  readonly end: {
    readonly position: AuditPosition;
    readonly exclusive: boolean;
  } | null;
}

/**
 * The id range of a query, or null when no id can lie in it (say, `to`
 * before the retention cutoff). Throws BAD_USER_INPUT for a malformed
 * `after`. `cutoffMs` is the retention cutoff: older entries are expired.
 */
export function auditBounds(
  query: AuditQuery,
  cutoffMs: number,
): AuditBounds | null {
  const startMs = Math.max(cutoffMs, query.from?.getTime() ?? 0);
  const end = auditEnd(query);
  if (end === null) return { startMs, end: null };

  const empty = end.exclusive
    ? compareAuditPositions(end.position, { ms: startMs, seq: 0 }) <= 0
    : end.position.ms < startMs;
  return empty ? null : { startMs, end };
}

/** The newer end of a query's range: `after` or `to`, whichever is older. */
function auditEnd(query: AuditQuery): AuditBounds['end'] {
  const to: AuditPosition | null = query.to
    ? { ms: query.to.getTime(), seq: Number.MAX_SAFE_INTEGER }
    : null;
  if (query.after == null) {
    return to === null ? null : { position: to, exclusive: false };
  }

  const after = parseAuditId(query.after);
  if (after === null) throw invalidAuditCursor(query.after);
  if (to !== null && compareAuditPositions(to, after) < 0) {
    return { position: to, exclusive: false };
  }
  return { position: after, exclusive: true };
}

/** The page of a query whose range holds no id. */
export const EMPTY_AUDIT_PAGE: AuditPage = Object.freeze({
  entries: Object.freeze([]) as readonly AuditRecord[],
  nextCursor: null,
});

/** Whether an entry id lies within the bounds. */
export function withinAuditBounds(
  position: AuditPosition,
  bounds: AuditBounds,
): boolean {
  if (position.ms < bounds.startMs) return false;
  if (bounds.end === null) return true;
  const order = compareAuditPositions(position, bounds.end.position);
  return bounds.end.exclusive ? order < 0 : order <= 0;
}

/** Whether a query asks for anything besides a time range. */
export function filtersAudit(query: AuditQuery): boolean {
  return query.actor != null || query.target != null;
}

/** Whether a record passes the query's actor and target filters. */
export function matchesAuditFilters(
  record: AuditRecord,
  query: AuditQuery,
): boolean {
  if (query.actor != null && record.actor !== query.actor) return false;
  return query.target == null || record.target === query.target;
}

/**
 * The page of `matches` (newest first, up to `limit + 1` of them): the
 * first `limit`, and a cursor when there was one more.
 */
export function auditPage(
  matches: readonly AuditRecord[],
  limit: number,
): AuditPage {
  const entries = matches.slice(0, limit);
  const more = matches.length > limit;
  return { entries, nextCursor: more ? (entries.at(-1)?.id ?? null) : null };
}

/**
 * Completes a draft. Fields are listed explicitly so a record read back
 * from a log has the same shape as the one a write returned.
 */
export function completeAuditRecord(
  draft: AuditDraft,
  id: string,
): AuditRecord {
  return {
    id,
    at: draft.at,
    realm: draft.realm,
    actor: draft.actor,
    actorRoles: [...draft.actorRoles],
    target: draft.target,
    outcome: draft.outcome,
    changes: draft.changes.map((c) => ({
      key: c.key,
      layer: c.layer,
      before: c.before,
      after: c.after,
    })),
    requestId: draft.requestId,
    clientAddress: draft.clientAddress,
    errorCode: draft.errorCode,
  };
}

/** One layer's patched keys with their stored values before and after. */
export function layerChanges(
  layer: AuditChange['layer'],
  patch: LayerPatch,
  before: StoredLayer,
  after: StoredLayer,
): AuditChange[] {
  const keys = [...new Set([...Object.keys(patch.set), ...patch.unset])];
  const valueIn = (values: StoredLayer['values'], key: string) =>
    Object.hasOwn(values, key) ? values[key] : null;
  return keys.map((key) => ({
    key,
    layer,
    before: valueIn(before.values, key),
    after: valueIn(after.values, key),
  }));
}

/** The draft of an accepted write of one user's preference in a realm. */
export function acceptedDraft(parts: {
  realm: string;
  userId: string;
  at: string;
  changes: readonly AuditChange[];
  meta: WriteMetadata;
}): AuditDraft {
  const { realm, userId, at, changes, meta } = parts;
  return {
    at,
    realm,
    actor: meta.actor,
    actorRoles: [...(meta.actorRoles ?? [])],
    target: preferenceId(realm, userId),
    outcome: 'ACCEPTED',
    changes,
    requestId: meta.requestId,
    clientAddress: meta.clientAddress ?? null,
    errorCode: null,
  };
}
