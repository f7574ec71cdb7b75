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

/**
 * The embedded preference store: everything in process memory, lost on
 * restart. Same semantics as the Redis store (versions, change events,
 * cursors, retention), so a single-process setup needs no Redis.
 */
export class MemoryPreferenceStore implements PreferenceStore {
  private readonly realmLayers = new Map<string, Map<string, StoredLayer>>();
  private readonly globalLayers = new Map<string, StoredLayer>();
  private readonly logs = new Map<string, ChangeLog>();
  /** Kept across `dropRealm` so a realm's cursors never go backwards. */
  private readonly lastSeqs = new Map<string, number>();
  private readonly audits = new Map<string, AuditEntries>();
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
    return { events, auditId: audit.id };
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
