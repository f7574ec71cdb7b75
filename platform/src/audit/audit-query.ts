import {
  badUserInput,
  forbidden,
  type Violation,
} from '../errors/graphql-errors.js';
import {
  compareAuditPositions,
  formatAuditId,
  invalidAuditCursor,
  parseAuditId,
  type AuditPosition,
} from '../storage/audit-entries.js';
import { administeredRealm } from '../subgraph/preference-access.js';
import type { SubgraphContext } from '../subgraph/subgraph-server.js';
import type { AuditPage } from './audit-log.js';

/** How many audit entries a page holds when the query does not say. */
export const DEFAULT_AUDIT_PAGE_SIZE = 50;
/** The most audit entries one page may hold. */
export const MAX_AUDIT_PAGE_SIZE = 200;

/** The arguments of the `auditLog` query, as GraphQL coerced them. */
export interface AuditLogArgs {
  readonly realm?: string | null;
  /** Every realm's log merged, newest first: platform admins only. */
  readonly allRealms?: boolean | null;
  readonly actor?: string | null;
  readonly target?: string | null;
  readonly from?: string | null;
  readonly to?: string | null;
  readonly first?: number | null;
  readonly after?: string | null;
}

/** An ISO 8601 date, or date and time with a zone (`Z` or an offset). */
const ISO_TIME =
  /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Answers the `auditLog` query. Realm admins read their own realm's log
 * (the default); platform admins any realm's, the request's realm when
 * none is named, or every realm's merged (`allRealms`). Anyone else is
 * FORBIDDEN. Throws BAD_USER_INPUT for a `first` outside 1..200, a time
 * that is not ISO 8601, or a foreign cursor.
 */
export function readAuditLog(
  context: SubgraphContext,
  args: AuditLogArgs,
): Promise<AuditPage> {
  if (args.allRealms) return readEveryRealmsLog(context, args);
  const realm = administeredRealm(context, args.realm ?? null);
  return context.preferences.readAudit({
    realm,
    ...auditFilters(args),
    after: args.after ?? null,
  });
}

/**
 * Every realm's log as one, newest first, for platform admins. Each page
 * reads each realm's log once (a realm count of reads, not one per
 * entry) and merges them; entries are ordered by id, then by realm id
 * where two realms wrote in the same millisecond and sequence. The cursor
 * `<id>@<realm>` is the last entry of the page: the next page takes, in
 * each realm, what sorts after it.
 */
async function readEveryRealmsLog(
  context: SubgraphContext,
  args: AuditLogArgs,
): Promise<AuditPage> {
  const identity = context.requireIdentity();
  if (!identity.roles.includes('platform-admin')) throw forbidden();
  if (args.realm != null) {
    throw badUserInput([
      {
        path: ['realm'],
        key: null,
        rule: 'exclusive',
        message: 'realm and allRealms: true cannot be asked for together',
      },
    ]);
  }
  const filters = auditFilters(args);
  const realms = context.preferences.catalog.realmIds;
  const cursor = args.after == null ? null : parseMergedCursor(args.after);
  if (cursor === false || (cursor && !realms.includes(cursor.realm))) {
    throw invalidAuditCursor(args.after as string);
  }

  const pages = await Promise.all(
    realms.map((realm) =>
      context.preferences.readAudit({
        realm,
        ...filters,
        after: cursor ? afterInRealm(cursor, realm) : null,
      }),
    ),
  );
  const merged = pages
    .flatMap((page) => page.entries)
    .sort((a, b) => compareIds(b.id, a.id) || (a.realm < b.realm ? -1 : 1));
  const entries = merged.slice(0, filters.limit);
  const more =
    merged.length > entries.length ||
    pages.some((page) => page.nextCursor !== null);
  const last = entries.at(-1);
  return {
    entries,
    nextCursor: more && last ? `${last.id}@${last.realm}` : null,
  };
}

/** A merged-view cursor; false when `after` is not one. */
function parseMergedCursor(
  after: string,
): { position: AuditPosition; realm: string } | false {
  const at = after.lastIndexOf('@');
  const position = at > 0 ? parseAuditId(after.slice(0, at)) : null;
  return position ? { position, realm: after.slice(at + 1) } : false;
}

/**
 * A realm's own `after` for the next merged page: entries older than the
 * cursor's id, and in realms that sort after the cursor's realm also the
 * entries of that very id (the store's `after` is exclusive).
 */
function afterInRealm(
  cursor: { position: AuditPosition; realm: string },
  realm: string,
): string {
  const { ms, seq } = cursor.position;
  return realm > cursor.realm
    ? formatAuditId({ ms, seq: seq + 1 })
    : formatAuditId({ ms, seq });
}

function compareIds(a: string, b: string): number {
  return compareAuditPositions(
    parseAuditId(a) as AuditPosition,
    parseAuditId(b) as AuditPosition,
  );
}

/** The filters and page size of a query, or BAD_USER_INPUT. */
function auditFilters(args: AuditLogArgs) {
  const violations: Violation[] = [];
  const first = args.first ?? DEFAULT_AUDIT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_AUDIT_PAGE_SIZE) {
    violations.push({
      path: ['first'],
      key: null,
      rule: 'range',
      message: `first must be between 1 and ${MAX_AUDIT_PAGE_SIZE}`,
    });
  }
  const from = parseTime('from', args.from, violations);
  const to = parseTime('to', args.to, violations);
  if (violations.length > 0) throw badUserInput(violations);
  return {
    actor: args.actor ?? null,
    target: args.target ?? null,
    from,
    to,
    limit: first,
  };
}

function parseTime(
  name: string,
  value: string | null | undefined,
  violations: Violation[],
): Date | null {
  if (value === null || value === undefined) return null;
  const ms = ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) {
    violations.push({
      path: [name],
      key: null,
      rule: 'format',
      message: `${name} must be an ISO 8601 time, e.g. 2030-01-31T12:00:00Z`,
    });
    return null;
  }
  return new Date(ms);
}
