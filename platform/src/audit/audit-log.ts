import { errorCodeOf } from '../errors/graphql-errors.js';
import type { PreferenceScope } from '../realm-config/catalog.js';

/*
 * The audit log: one append-only record per preference write, accepted or
 * refused, kept per realm. Accepted writes are recorded by the store in the
 * same atomic step as the write itself; refusals store no preference data
 * and are appended on their own by the write path.
 */

/** How a write ended, as the audit log records it. */
export type AuditOutcome = 'ACCEPTED' | 'FORBIDDEN' | 'INVALID' | 'CONFLICT';

/** One key a write changed, or asked to change. */
export interface AuditChange {
  readonly key: string;
  /** The layer of the user's values the key lives in. */
  readonly layer: PreferenceScope;
  /** The stored user value before the write; null when there was none. */
  readonly before: unknown;
  /**
   * The stored user value after the write; null when it was reset. For a
   * refusal, the value the write asked for (null for a reset).
   */
  readonly after: unknown;
}

/** One entry of a realm's audit log. */
export interface AuditRecord {
  /**
   * The entry's position, `<milliseconds>-<sequence>`: newer entries have
   * greater ids. Pass one as `after` to page on from it.
   */
  readonly id: string;
  /** When the write was decided (ISO 8601). */
  readonly at: string;
  /** The realm whose log holds the entry. */
  readonly realm: string;
  /** The user id of who wrote (the user, or an admin). */
  readonly actor: string;
  readonly actorRoles: readonly string[];
  /**
   * The preference id written (`<realm>:<userId>`), or, for a refusal,
   * the id the write asked for.
   */
  readonly target: string;
  readonly outcome: AuditOutcome;
  /**
   * For an accepted write, every key it stored, with before and after; an
   * empty list for a write that changed nothing. For a refusal, the keys
   * asked for (after = the requested value, before = null) when the write
   * path knew them; empty for an authorization refusal, so the log tells
   * the realm's admins nothing beyond the requested target id.
   */
  readonly changes: readonly AuditChange[];
  readonly requestId: string;
  /** The caller's network address, as the gateway saw it; null if unknown. */
  readonly clientAddress: string | null;
  /** The error code of a refusal (`FORBIDDEN`, `BAD_USER_INPUT`, …). */
  readonly errorCode: string | null;
}

/** A refusal to append: the log adds the id and the time. */
export type AuditEntryInput = Omit<AuditRecord, 'id' | 'at'>;

/** What to read from one realm's audit log. */
export interface AuditQuery {
  readonly realm: string;
  /** Only entries of this actor (user id). */
  readonly actor?: string | null;
  /** Only entries of this target preference id. */
  readonly target?: string | null;
  /** Only entries at or after this time. */
  readonly from?: Date | null;
  /** Only entries at or before this time. */
  readonly to?: Date | null;
  /** Only entries older than this entry id (the previous page's cursor). */
  readonly after?: string | null;
  /** The most entries to return: a positive integer. */
  readonly limit: number;
}

/** A page of an audit log, newest entry first. */
export interface AuditPage {
  readonly entries: readonly AuditRecord[];
  /** Pass as `after` for the next (older) page; null after the last one. */
  readonly nextCursor: string | null;
}

/**
 * Where audit records live. Both preference stores implement it, because
 * an accepted write and its record must be stored in one atomic step.
 */
export interface AuditLog {
  /**
   * Appends one record that goes with no stored change: a refused write.
   * Returns it with its id and time.
   */
  appendAudit(entry: AuditEntryInput): Promise<AuditRecord>;

  /**
   * Reads one realm's log, newest first. Entries older than the retention
   * period are never returned, whether or not they were trimmed yet.
   * Throws BAD_USER_INPUT for an `after` that is not an entry id.
   */
  readAudit(query: AuditQuery): Promise<AuditPage>;
}

/** How long audit records are kept, by default. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 90;

const MS_PER_DAY = 24 * 60 * 60 * 1000;

/**
 * The retention period in milliseconds. Refuses a period that is not a
 * positive finite number of days (caller misuse).
 */
export function auditRetentionMs(days: number): number {
  if (!Number.isFinite(days) || days <= 0) {
    throw new RangeError(`Audit retention must be positive days: ${days}`);
  }
  return Math.round(days * MS_PER_DAY);
}

/**
 * The outcome a refused write is recorded with, from its error; null for
 * an error that is not a refusal (an internal failure), which is not
 * recorded. NOT_FOUND (a platform admin naming an unknown realm) counts
 * as invalid input.
 */
export function refusalOutcome(error: unknown): AuditOutcome | null {
  switch (errorCodeOf(error)) {
    case 'FORBIDDEN':
      return 'FORBIDDEN';
    case 'BAD_USER_INPUT':
    case 'NOT_FOUND':
      return 'INVALID';
    case 'CONFLICT':
      return 'CONFLICT';
    default:
      return null;
  }
}
