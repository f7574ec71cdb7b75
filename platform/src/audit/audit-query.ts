import { badUserInput, type Violation } from '../errors/graphql-errors.js';
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
 * none is named (one log per query: there is no merged view of all
 * realms). Anyone else is FORBIDDEN. Throws BAD_USER_INPUT for a `first`
 * outside 1..200, a time that is not ISO 8601, or a foreign cursor.
 */
export function readAuditLog(
  context: SubgraphContext,
  args: AuditLogArgs,
): Promise<AuditPage> {
  const realm = administeredRealm(context, args.realm ?? null);

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

  return context.preferences.readAudit({
    realm,
    actor: args.actor ?? null,
    target: args.target ?? null,
    from,
    to,
    after: args.after ?? null,
    limit: first,
  });
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
