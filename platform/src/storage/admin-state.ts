import type { AuditEntryInput, AuditRecord } from '../audit/audit-log.js';
import type { PreferenceChangeEvent } from '../change-feed/change-event.js';
import { ROLES, type Role } from '../identity/identity.js';

/*
 * What the stores keep for administration besides preferences: each
 * user's access in a realm (disabled, granted and revoked roles), usage
 * counters per realm and day, and the open subscriptions each gateway
 * reports. Types and the logic both stores share live here.
 */

/**
 * Roles an admin may grant or revoke in a realm. `platform-admin` spans
 * every realm and comes from tokens only: no realm can hand it out.
 * `user` is not one either: any verified token reaches its holder's own
 * preference, so cutting a user off is disabling them.
 */
export const GRANTABLE_ROLES = ['realm-admin'] as const;
export type GrantableRole = (typeof GRANTABLE_ROLES)[number];

/**
 * A user's access in one realm as admins set it. Effective roles are the
 * token's roles minus `revokedRoles`, plus `grantedRoles`.
 */
export interface UserAccess {
  /** A disabled user's tokens of this realm are refused. */
  readonly disabled: boolean;
  readonly grantedRoles: readonly GrantableRole[];
  readonly revokedRoles: readonly GrantableRole[];
  /** ISO 8601 time of the last change; null when never changed. */
  readonly updatedAt: string | null;
}

/** Access of a user no admin has touched. */
export const DEFAULT_ACCESS: UserAccess = Object.freeze({
  disabled: false,
  grantedRoles: Object.freeze([]) as readonly GrantableRole[],
  revokedRoles: Object.freeze([]) as readonly GrantableRole[],
  updatedAt: null,
});

/** One change of a user's access; a part left out stays as it is. */
export interface UserAccessChange {
  readonly disabled?: boolean;
  /** Granting a role also withdraws its revocation. */
  readonly grant?: GrantableRole;
  /** Revoking a role also withdraws its grant. */
  readonly revoke?: GrantableRole;
}

/** The audit record of an admin action, without what the store adds. */
export type AdminAuditInput = Omit<AuditEntryInput, 'changes'>;

export interface AccessUpdateOutcome {
  readonly before: UserAccess;
  readonly access: UserAccess;
  /** The ACCEPTED record in the realm's audit log, stored with the change. */
  readonly audit: AuditRecord;
}

/** What `erasePreferences` removed, and how the rest learns of it. */
export interface ErasureOutcome {
  /** The keys the user's realm layer held (their values are gone). */
  readonly erasedKeys: readonly string[];
  /** The change event of the erasure; null when nothing was stored. */
  readonly event: PreferenceChangeEvent | null;
  /** The ACCEPTED record, stored in the same atomic step. */
  readonly audit: AuditRecord;
}

/** One realm's usage on one day (UTC). */
export interface UsageDay {
  /** `YYYY-MM-DD`, UTC. */
  readonly date: string;
  /** Accepted writes that changed something. */
  readonly writes: number;
  /**
   * Distinct users whose preference was written. Approximate in Redis
   * (a HyperLogLog, standard error 0.81%), exact in memory.
   */
  readonly activeUsers: number;
  /**
   * The most changed keys, most changed first; ties in reverse byte order
   * of the key (Redis' order for equal scores).
   */
  readonly topKeys: readonly { key: string; writes: number }[];
}

/** Writes in the trailing hour and day, by the minute. */
export interface RecentWrites {
  readonly lastHour: number;
  readonly lastDay: number;
}

/** How many days per-day usage is kept: the query reaches back this far. */
export const USAGE_RETENTION_DAYS = 35;

const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 24 * 60 * MS_PER_MINUTE;

/** Seconds a day's usage keys live after their last write. */
export const USAGE_DAY_TTL_SECONDS = (USAGE_RETENTION_DAYS + 1) * 24 * 60 * 60;

/** Seconds an hour of per-minute counters lives: the trailing day, plus one. */
export const USAGE_HOUR_TTL_SECONDS = 26 * 60 * 60;

/** `YYYY-MM-DD` of a time, in UTC. */
export function usageDate(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** `YYYY-MM-DDTHH` of a time, in UTC: the bucket of per-minute counts. */
export function usageHour(at: Date): string {
  return at.toISOString().slice(0, 13);
}

/** The minute of the hour, `00`..`59`. */
export function usageMinute(at: Date): string {
  return at.toISOString().slice(14, 16);
}

/** The `count` most recent dates up to `now`, newest first. */
export function recentUsageDates(now: Date, count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    usageDate(new Date(now.getTime() - i * MS_PER_DAY)),
  );
}

/**
 * The hour buckets that cover the trailing day, newest first, each with
 * the first minute of it that lies inside the last hour and the last day
 * (60: none). Minute `m` of bucket `h` counts when `h:m` is newer than
 * `now` minus the window.
 */
export function recentHourBuckets(
  now: Date,
): { hour: string; hourFrom: number; dayFrom: number }[] {
  const nowMinute = Math.floor(now.getTime() / MS_PER_MINUTE);
  const buckets = [];
  for (let i = 0; i <= 24; i++) {
    const start = new Date(now.getTime() - i * 60 * MS_PER_MINUTE);
    start.setUTCMinutes(0, 0, 0);
    const first = Math.floor(start.getTime() / MS_PER_MINUTE);
    // Minutes m with nowMinute - (first + m) < window.
    const within = (window: number) =>
      Math.min(60, Math.max(0, nowMinute - window + 1 - first));
    buckets.push({
      hour: usageHour(start),
      hourFrom: within(60),
      dayFrom: within(24 * 60),
    });
  }
  return buckets;
}

/** Sums per-minute counts of hour buckets into the trailing windows. */
export function sumRecentWrites(
  buckets: ReturnType<typeof recentHourBuckets>,
  minutes: readonly Readonly<Record<string, number>>[],
): RecentWrites {
  let lastHour = 0;
  let lastDay = 0;
  buckets.forEach((bucket, i) => {
    for (const [minute, count] of Object.entries(minutes[i] ?? {})) {
      const m = Number(minute);
      if (!Number.isInteger(m)) continue;
      if (m >= bucket.hourFrom) lastHour += count;
      if (m >= bucket.dayFrom) lastDay += count;
    }
  });
  return { lastHour, lastDay };
}

/** Applies a change to access; the result lists roles in ROLES order. */
export function applyAccessChange(
  current: UserAccess,
  change: UserAccessChange,
  at: string,
): UserAccess {
  const granted = new Set(current.grantedRoles);
  const revoked = new Set(current.revokedRoles);
  if (change.grant) {
    granted.add(change.grant);
    revoked.delete(change.grant);
  }
  if (change.revoke) {
    revoked.add(change.revoke);
    granted.delete(change.revoke);
  }
  return {
    disabled: change.disabled ?? current.disabled,
    grantedRoles: GRANTABLE_ROLES.filter((r) => granted.has(r)),
    revokedRoles: GRANTABLE_ROLES.filter((r) => revoked.has(r)),
    updatedAt: at,
  };
}

/** True when access is what an untouched user has (nothing to store). */
export function isDefaultAccess(access: UserAccess): boolean {
  return (
    !access.disabled &&
    access.grantedRoles.length === 0 &&
    access.revokedRoles.length === 0
  );
}

/** The stored form of access: stable JSON, so it can be compared. */
export function accessJson(access: UserAccess): string {
  return JSON.stringify({
    disabled: access.disabled,
    grantedRoles: access.grantedRoles,
    revokedRoles: access.revokedRoles,
    updatedAt: access.updatedAt,
  });
}

export function parseAccess(json: string | null | undefined): UserAccess {
  if (!json) return DEFAULT_ACCESS;
  const parsed = JSON.parse(json) as Partial<UserAccess>;
  const roles = (list: unknown) =>
    GRANTABLE_ROLES.filter((r) => Array.isArray(list) && list.includes(r));
  return {
    disabled: parsed.disabled === true,
    grantedRoles: roles(parsed.grantedRoles),
    revokedRoles: roles(parsed.revokedRoles),
    updatedAt: typeof parsed.updatedAt === 'string' ? parsed.updatedAt : null,
  };
}

/**
 * The roles a token's holder has in its realm: the token's, less those
 * revoked there, plus those granted there, in ROLES order.
 */
export function effectiveRoles(
  tokenRoles: readonly Role[],
  access: UserAccess,
): Role[] {
  const revoked = new Set<Role>(access.revokedRoles);
  const roles = new Set<Role>(tokenRoles.filter((r) => !revoked.has(r)));
  for (const role of access.grantedRoles) roles.add(role);
  return ROLES.filter((r) => roles.has(r));
}

/** What an access change did, as audit changes (key `access.<part>`). */
export function accessAuditChanges(before: UserAccess, after: UserAccess) {
  const parts = ['disabled', 'grantedRoles', 'revokedRoles'] as const;
  return parts
    .filter((p) => JSON.stringify(before[p]) !== JSON.stringify(after[p]))
    .map((p) => ({
      key: `access.${p}`,
      layer: 'REALM' as const,
      before: before[p],
      after: after[p],
    }));
}
