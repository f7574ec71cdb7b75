import { randomUUID } from 'node:crypto';
import {
  auditRetentionMs,
  DEFAULT_AUDIT_RETENTION_DAYS,
  type AuditEntryInput,
  type AuditPage,
  type AuditQuery,
  type AuditRecord,
} from '../audit/audit-log.js';
import type { PreferenceChangeEvent } from '../change-feed/change-event.js';
import {
  assertPageLimit,
  assertStorableRealm,
  changeEventBody,
  completeChangeEvent,
  cursorPosition,
  DEFAULT_MAX_WRITE_ATTEMPTS,
  EMPTY_LAYER,
  erasureAuditChanges,
  erasureEventBody,
  invalidCursor,
  writeWithRetry,
  type AppliedWrite,
  type ChangeEventBody,
  type CommittedEvent,
  type CommittedWrite,
} from './apply-patch.js';
import {
  auditBounds,
  auditPage,
  completeAuditRecord,
  EMPTY_AUDIT_PAGE,
  formatAuditId,
  matchesAuditFilters,
  nextAuditPosition,
  withinAuditBounds,
  type AuditDraft,
  type AuditPosition,
} from './audit-entries.js';
import {
  accessAuditChanges,
  applyAccessChange,
  DEFAULT_ACCESS,
  isDefaultAccess,
  recentUsageDates,
  USAGE_RETENTION_DAYS,
  usageDate,
  type AccessUpdateOutcome,
  type AdminAuditInput,
  type ErasureOutcome,
  type RecentWrites,
  type UsageDay,
  type UserAccess,
  type UserAccessChange,
} from './admin-state.js';
import type {
  ChangeLogSlice,
  PreferenceStore,
  StoredLayer,
  StoredPreference,
  UserPage,
  WriteMetadata,
  WriteOutcome,
  WritePlanner,
} from './preference-store.js';

/** Options of {@link MemoryPreferenceStore}. */
export interface MemoryPreferenceStoreOptions {
  /**
   * How many change events each realm keeps; older ones are dropped and
   * readers behind them get `truncated`. Trimming is exact.
   * @default 10_000
   */
  readonly changeLogMaxLength?: number;
  /**
   * How often a write is planned again after another write changed the
   * user's layers in between, before it fails with `write contention`.
   * @default 20
   */
  readonly maxWriteAttempts?: number;
  /**
   * How many days audit records are kept. Older ones are dropped when a
   * realm's log is next appended to, and never returned by reads.
   * @default 90
   */
  readonly auditRetentionDays?: number;
  /**
   * The time source of write times, audit entry ids and retention. Tests
   * inject one to age records without waiting.
   * @default () => new Date()
   */
  readonly clock?: () => Date;
}

/** Cursor positions are zero-padded so they also compare as strings. */
const POSITION_DIGITS = 16;

function formatCursor(realm: string, seq: number): string {
  return `${realm}/${String(seq).padStart(POSITION_DIGITS, '0')}`;
}

/** Sorts user ids by UTF-8 bytes, the order Redis uses for the same list. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function copyLayer(layer: StoredLayer): StoredLayer {
  return { ...layer, values: structuredClone(layer.values) };
}

/** One realm's change log: a bounded list of events, oldest first. */
class ChangeLog {
  private entries: { seq: number; event: PreferenceChangeEvent }[] = [];
  /** The highest position ever dropped by retention; 0 when none was. */
  private lastTrimmedSeq = 0;

  constructor(private readonly maxLength: number) {}

  append(seq: number, event: PreferenceChangeEvent): void {
    this.entries.push({ seq, event });
    const excess = this.entries.length - this.maxLength;
    if (excess <= 0) return;

    // Drop in one splice rather than one shift per write past the limit.
    const dropped = this.entries.splice(0, excess);
    this.lastTrimmedSeq = dropped[dropped.length - 1]?.seq ?? 0;
  }

  after(afterSeq: number, limit: number): ChangeLogSlice {
    const start = this.entries.findIndex((e) => e.seq > afterSeq);
    const slice = start < 0 ? [] : this.entries.slice(start, start + limit);
    return {
      events: slice.map(({ event }) => completeChangeEvent(event, event)),
      // Same rule as the Redis store, which cannot be exact: true when the
      // cursor is older than the first retained event, so also when it is
      // exactly the last trimmed one and nothing was actually missed.
      truncated: this.lastTrimmedSeq > 0 && afterSeq <= this.lastTrimmedSeq,
    };
  }
}

/**
 * One realm's audit log: records oldest first, each with its position.
 * Retention is exact here; the Redis store trims approximately.
 */
class AuditEntries {
  private entries: { position: AuditPosition; record: AuditRecord }[] = [];

  /** Appends a record at `nowMs`, dropping those older than `cutoffMs`. */
  append(draft: AuditDraft, nowMs: number, cutoffMs: number): AuditRecord {
    const position = nextAuditPosition(
      this.entries.at(-1)?.position ?? null,
      nowMs,
    );
    const record = completeAuditRecord(draft, formatAuditId(position));
    // A copy, so no caller can change the log by mutating a value.
    this.entries.push({ position, record: structuredClone(record) });

    const expired = this.entries.findIndex((e) => e.position.ms >= cutoffMs);
    if (expired > 0) this.entries.splice(0, expired);
    return record;
  }

  read(query: AuditQuery, cutoffMs: number): AuditPage {
    const bounds = auditBounds(query, cutoffMs);
    if (bounds === null) return EMPTY_AUDIT_PAGE;
    const matches: AuditRecord[] = [];
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i];
      if (!entry || entry.position.ms < bounds.startMs) break;
      if (!withinAuditBounds(entry.position, bounds)) continue;
      if (!matchesAuditFilters(entry.record, query)) continue;
      matches.push(structuredClone(entry.record));
      if (matches.length > query.limit) break;
    }
    return auditPage(matches, query.limit);
  }
}

/** One realm's usage on one day; users are kept exactly (memory only). */
interface DayUsage {
  writes: number;
  readonly users: Set<string>;
  readonly keys: Map<string, number>;
}

const MS_PER_MINUTE = 60_000;
const MINUTES_PER_DAY = 24 * 60;

/**
 * One realm's usage: per day (kept {@link USAGE_RETENTION_DAYS} days) and
 * per minute for the trailing day. Pruned as it is written.
 */
class RealmUsage {
  private readonly days = new Map<string, DayUsage>();
  private readonly minutes = new Map<number, number>();

  record(userId: string, keys: readonly string[], at: Date): void {
    const date = usageDate(at);
    let day = this.days.get(date);
    if (!day) {
      day = { writes: 0, users: new Set(), keys: new Map() };
      this.days.set(date, day);
      const oldest = recentUsageDates(at, USAGE_RETENTION_DAYS).at(-1) ?? '';
      for (const old of this.days.keys()) {
        if (old < oldest) this.days.delete(old);
      }
    }
    day.writes += 1;
    day.users.add(userId);
    for (const key of keys) day.keys.set(key, (day.keys.get(key) ?? 0) + 1);

    const minute = Math.floor(at.getTime() / MS_PER_MINUTE);
    this.minutes.set(minute, (this.minutes.get(minute) ?? 0) + 1);
    for (const old of this.minutes.keys()) {
      if (old <= minute - MINUTES_PER_DAY) this.minutes.delete(old);
    }
  }

  day(date: string, topKeys: number): UsageDay {
    const day = this.days.get(date);
    if (!day) return { date, writes: 0, activeUsers: 0, topKeys: [] };
    const ranked = [...day.keys]
      .map(([key, writes]) => ({ key, writes }))
      .sort((a, b) => b.writes - a.writes || byteOrder(b.key, a.key))
      .slice(0, topKeys);
    return {
      date,
      writes: day.writes,
      activeUsers: day.users.size,
      topKeys: ranked,
    };
  }

  recent(now: Date): RecentWrites {
    const nowMinute = Math.floor(now.getTime() / MS_PER_MINUTE);
    let lastHour = 0;
    let lastDay = 0;
    for (const [minute, count] of this.minutes) {
      const age = nowMinute - minute;
      if (age < 0) continue;
      if (age < 60) lastHour += count;
      if (age < MINUTES_PER_DAY) lastDay += count;
    }
    return { lastHour, lastDay };
  }
}

/**
 * The embedded preference store: everything in process memory, lost on
 * restart. Same semantics as the Redis store (versions, change events,
 * cursors, retention), so a single-process setup needs no Redis.
 */
export class MemoryPreferenceStore implements PreferenceStore {
  /** Unique per store: memory is never shared between processes. */
  readonly namespace = `memory-${randomUUID()}`;
  private readonly realmLayers = new Map<string, Map<string, StoredLayer>>();
  private readonly globalLayers = new Map<string, StoredLayer>();
  private readonly logs = new Map<string, ChangeLog>();
  /** Kept across `dropRealm` so a realm's cursors never go backwards. */
  private readonly lastSeqs = new Map<string, number>();
  private readonly audits = new Map<string, AuditEntries>();
  private readonly access = new Map<string, Map<string, UserAccess>>();
  private readonly usage = new Map<string, RealmUsage>();
  /** Per realm, each gateway's report: its count and until when it holds. */
  private readonly subscriptions = new Map<
    string,
    Map<string, { count: number; expiresAtMs: number }>
  >();
  private readonly changeLogMaxLength: number;
  private readonly maxWriteAttempts: number;
  private readonly auditRetentionMs: number;
  private readonly clock: () => Date;

  constructor(options: MemoryPreferenceStoreOptions = {}) {
    this.changeLogMaxLength = options.changeLogMaxLength ?? 10_000;
    this.maxWriteAttempts =
      options.maxWriteAttempts ?? DEFAULT_MAX_WRITE_ATTEMPTS;
    this.auditRetentionMs = auditRetentionMs(
      options.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS,
    );
    this.clock = options.clock ?? (() => new Date());
  }

  async read(realm: string, userId: string): Promise<StoredPreference> {
    assertStorableRealm(realm);
    return this.snapshot(realm, userId);
  }

  async readMany(
    realm: string,
    userIds: readonly string[],
  ): Promise<StoredPreference[]> {
    assertStorableRealm(realm);
    return userIds.map((userId) => this.snapshot(realm, userId));
  }

  async write(
    realm: string,
    userId: string,
    plan: WritePlanner,
    meta: WriteMetadata,
    realms: readonly string[],
  ): Promise<WriteOutcome> {
    assertStorableRealm(realm);
    realms.forEach(assertStorableRealm);
    const backend = {
      read: async () => this.snapshot(realm, userId),
      commit: async (applied: AppliedWrite) => this.commit(applied, meta),
      appendAudit: async (draft: AuditDraft) => this.appendDraft(draft),
    };
    return writeWithRetry(
      backend,
      plan,
      meta,
      realms,
      this.maxWriteAttempts,
      this.clock,
    );
  }

  async appendAudit(entry: AuditEntryInput): Promise<AuditRecord> {
    assertStorableRealm(entry.realm);
    return this.appendDraft({ ...entry, at: this.clock().toISOString() });
  }

  async readAudit(query: AuditQuery): Promise<AuditPage> {
    assertStorableRealm(query.realm);
    assertPageLimit(query.limit);
    const log = this.audits.get(query.realm) ?? new AuditEntries();
    return log.read(query, this.clock().getTime() - this.auditRetentionMs);
  }

  async listUsers(
    realm: string,
    page: { after?: string | null; limit: number },
  ): Promise<UserPage> {
    assertStorableRealm(realm);
    assertPageLimit(page.limit);
    const after = page.after ?? null;
    const all = [...(this.realmLayers.get(realm)?.keys() ?? [])]
      .filter((id) => after === null || byteOrder(id, after) > 0)
      .sort(byteOrder);
    const userIds = all.slice(0, page.limit);
    const more = all.length > page.limit;
    return { userIds, nextCursor: more ? (userIds.at(-1) ?? null) : null };
  }

  async readChanges(
    realm: string,
    after: string | null,
    limit: number,
  ): Promise<ChangeLogSlice> {
    assertStorableRealm(realm);
    assertPageLimit(limit);
    const afterSeq = after === null ? 0 : this.parseCursor(realm, after);
    const log = this.logs.get(realm);
    return log ? log.after(afterSeq, limit) : { events: [], truncated: false };
  }

  async latestCursor(realm: string): Promise<string | null> {
    assertStorableRealm(realm);
    const seq = this.lastSeqs.get(realm);
    return seq === undefined ? null : formatCursor(realm, seq);
  }

  async dropRealm(realm: string): Promise<void> {
    assertStorableRealm(realm);
    this.realmLayers.delete(realm);
    this.logs.delete(realm);
    this.access.delete(realm);
    this.usage.delete(realm);
    this.subscriptions.delete(realm);
  }

  async countUsers(realm: string): Promise<number> {
    assertStorableRealm(realm);
    return this.realmLayers.get(realm)?.size ?? 0;
  }

  async readUserAccess(realm: string, userId: string): Promise<UserAccess> {
    assertStorableRealm(realm);
    return this.access.get(realm)?.get(userId) ?? DEFAULT_ACCESS;
  }

  async listUserAccess(
    realm: string,
  ): Promise<ReadonlyMap<string, UserAccess>> {
    assertStorableRealm(realm);
    return new Map(this.access.get(realm));
  }

  async updateUserAccess(
    realm: string,
    userId: string,
    change: UserAccessChange,
    audit: AdminAuditInput,
  ): Promise<AccessUpdateOutcome> {
    assertStorableRealm(realm);
    const at = this.clock().toISOString();
    const users = this.access.get(realm) ?? new Map<string, UserAccess>();
    const before = users.get(userId) ?? DEFAULT_ACCESS;
    const access = applyAccessChange(before, change, at);

    if (isDefaultAccess(access)) users.delete(userId);
    else users.set(userId, access);
    this.access.set(realm, users);
    const record = this.appendDraft({
      ...audit,
      realm,
      at,
      changes: accessAuditChanges(before, access),
    });
    return { before, access, audit: record };
  }

  async erasePreferences(
    realm: string,
    userId: string,
    audit: AdminAuditInput,
  ): Promise<ErasureOutcome> {
    assertStorableRealm(realm);
    const at = this.clock().toISOString();
    const layer = this.realmLayer(realm, userId);
    const erasedKeys = Object.keys(layer.values).sort();
    const stored = this.realmLayers.get(realm)?.delete(userId) ?? false;

    const event = stored
      ? this.appendErasure(realm, userId, erasedKeys, audit, at)
      : null;
    const record = this.appendDraft({
      ...audit,
      realm,
      at,
      changes: erasureAuditChanges(erasedKeys),
    });
    return { erasedKeys, event, audit: record };
  }

  async readUsage(
    realm: string,
    dates: readonly string[],
    topKeys: number,
  ): Promise<UsageDay[]> {
    assertStorableRealm(realm);
    assertPageLimit(topKeys);
    const usage = this.usage.get(realm) ?? new RealmUsage();
    return dates.map((date) => usage.day(date, topKeys));
  }

  async readRecentWrites(realm: string): Promise<RecentWrites> {
    assertStorableRealm(realm);
    const usage = this.usage.get(realm);
    return usage ? usage.recent(this.clock()) : { lastHour: 0, lastDay: 0 };
  }

  async reportSubscriptions(
    gatewayId: string,
    counts: ReadonlyMap<string, number>,
    ttlMs: number,
  ): Promise<void> {
    const expiresAtMs = this.clock().getTime() + ttlMs;
    for (const [realm, count] of counts) {
      assertStorableRealm(realm);
      const reports = this.subscriptions.get(realm) ?? new Map();
      if (count > 0) reports.set(gatewayId, { count, expiresAtMs });
      else reports.delete(gatewayId);
      this.subscriptions.set(realm, reports);
    }
  }

  async countSubscriptions(realm: string): Promise<number> {
    assertStorableRealm(realm);
    const nowMs = this.clock().getTime();
    const reports = this.subscriptions.get(realm);
    let total = 0;
    for (const [gatewayId, report] of reports ?? []) {
      if (report.expiresAtMs > nowMs) total += report.count;
      else reports?.delete(gatewayId);
    }
    return total;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    // Nothing to release: the data lives as long as this object.
  }

  private parseCursor(realm: string, cursor: string): number {
    const position = cursorPosition(realm, cursor);
    if (position === null || !/^\d{1,16}$/.test(position)) {
      throw invalidCursor(realm, cursor);
    }
    return Number(position);
  }

  private realmLayer(realm: string, userId: string): StoredLayer {
    return this.realmLayers.get(realm)?.get(userId) ?? EMPTY_LAYER;
  }

  private globalLayer(userId: string): StoredLayer {
    return this.globalLayers.get(userId) ?? EMPTY_LAYER;
  }

  /** A copy, so callers cannot change stored values by mutating it. */
  private snapshot(realm: string, userId: string): StoredPreference {
    return {
      realm,
      userId,
      realmLayer: copyLayer(this.realmLayer(realm, userId)),
      globalLayer: copyLayer(this.globalLayer(userId)),
    };
  }

  /**
   * The compare-and-set step. It runs without awaiting anything, so no
   * other write can interleave between the version check and the stores.
   */
  private commit(
    applied: AppliedWrite,
    meta: WriteMetadata,
  ): CommittedWrite | null {
    const { realm, userId } = applied.before;
    const realmMoved =
      this.realmLayer(realm, userId).version !==
      applied.before.realmLayer.version;
    const globalMoved =
      this.globalLayer(userId).version !== applied.before.globalLayer.version;
    if (realmMoved || globalMoved) return null;

    if (applied.realmLayerChanged) {
      const users = this.realmLayers.get(realm) ?? new Map();
      users.set(userId, copyLayer(applied.after.realmLayer));
      this.realmLayers.set(realm, users);
    }
    if (applied.globalLayerChanged) {
      this.globalLayers.set(userId, copyLayer(applied.after.globalLayer));
    }
    const events = applied.targets.map((target) => {
      const version =
        this.realmLayer(target.realm, userId).version +
        this.globalLayer(userId).version;
      const body = changeEventBody(applied, target, meta);
      return this.append(target.realm, body, version);
    });
    const audit = this.appendDraft(applied.audit);
    if (meta.countsAsUsage !== false) {
      const usage = this.usage.get(realm) ?? new RealmUsage();
      this.usage.set(realm, usage);
      const keys = applied.targets[0]?.changedKeys ?? [];
      usage.record(userId, keys, new Date(applied.at));
    }
    return { events, auditId: audit.id };
  }

  /** The change event of an erasure: the realm layer is gone. */
  private appendErasure(
    realm: string,
    userId: string,
    erasedKeys: readonly string[],
    audit: AdminAuditInput,
    at: string,
  ): PreferenceChangeEvent {
    const body = erasureEventBody(realm, userId, erasedKeys, audit, at);
    const committed = this.append(
      realm,
      body,
      this.globalLayer(userId).version,
    );
    return completeChangeEvent(body, committed);
  }

  /** Appends to a realm's audit log at the draft's time. */
  private appendDraft(draft: AuditDraft): AuditRecord {
    const log = this.audits.get(draft.realm) ?? new AuditEntries();
    this.audits.set(draft.realm, log);
    const cutoffMs = this.clock().getTime() - this.auditRetentionMs;
    return log.append(draft, Date.parse(draft.at), cutoffMs);
  }

  private append(
    realm: string,
    body: ChangeEventBody,
    version: number,
  ): CommittedEvent {
    const seq = (this.lastSeqs.get(realm) ?? 0) + 1;
    this.lastSeqs.set(realm, seq);
    const committed = { cursor: formatCursor(realm, seq), version };

    const log = this.logs.get(realm) ?? new ChangeLog(this.changeLogMaxLength);
    this.logs.set(realm, log);
    log.append(seq, completeChangeEvent(body, committed));
    return committed;
  }
}
