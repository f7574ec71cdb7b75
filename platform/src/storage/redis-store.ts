import type { ChainableCommander, Redis } from 'ioredis';
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
  emptyPreference,
  erasureAuditChanges,
  erasureEventBody,
  invalidCursor,
  writeWithRetry,
  type AppliedWrite,
  type ChangeEventBody,
  type CommittedWrite,
} from './apply-patch.js';
import {
  auditBounds,
  auditPage,
  completeAuditRecord,
  EMPTY_AUDIT_PAGE,
  filtersAudit,
  matchesAuditFilters,
  type AuditBounds,
  type AuditDraft,
} from './audit-entries.js';
import {
  accessAuditChanges,
  accessJson,
  applyAccessChange,
  isDefaultAccess,
  parseAccess,
  recentHourBuckets,
  sumRecentWrites,
  USAGE_DAY_TTL_SECONDS,
  USAGE_HOUR_TTL_SECONDS,
  usageDate,
  usageHour,
  usageMinute,
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

/** Options of {@link RedisPreferenceStore}. */
export interface RedisPreferenceStoreOptions {
  /**
   * The client to use. The caller keeps owning it (and closes it) unless
   * `ownsClient` is set. It must not use ioredis' own `keyPrefix` option:
   * key scans for `dropRealm` would not see that prefix.
   */
  readonly redis: Redis;
  /** Let `close()` quit the client. @default false */
  readonly ownsClient?: boolean;
  /**
   * First segment of every key, so several deployments (or test runs) can
   * share one Redis.
   * @default 'realms'
   */
  readonly keyPrefix?: string;
  /**
   * About how many events each realm's change stream keeps (`MAXLEN ~`:
   * Redis trims whole stream nodes, so a few more may stay).
   * @default 100_000
   */
  readonly changeLogMaxLength?: number;
  /**
   * How often a write is planned again after another write changed the
   * user's layers in between, before it fails with `write contention`.
   * @default 20
   */
  readonly maxWriteAttempts?: number;
  /**
   * How long `ping()` waits for an answer before it says false; ioredis
   * queues commands while reconnecting, so an unbounded ping could hang.
   * @default 1_000
   */
  readonly pingTimeoutMs?: number;
  /**
   * How many days audit records are kept. Each append trims the realm's
   * audit stream below the cutoff (`MINID ~`: whole stream nodes, so a
   * few older records may stay a while); reads never return them.
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

/** The ioredis command names the scripts are defined under. */
const CAS_COMMAND = 'realmsPreferenceCasWrite';
const AUDIT_COMMAND = 'realmsAuditAppend';

/**
 * Appends one audit record to a realm's audit stream, with an id whose
 * milliseconds are the write time (`<ms>-*`), or the newest entry's time
 * when the writer's clock is behind it, so ids never go backwards. Trims
 * records older than the retention cutoff on the way (`MINID ~`). Should
 * the explicit id still be refused (the stream's last id outran its newest
 * entry), Redis picks one (`*`). Needs Redis 7.0+ for `<ms>-*`.
 */
const APPEND_AUDIT_LUA = `
local function appendAudit(stream, record, nowMs, cutoffMs)
  local ms = nowMs
  local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if newest then
    local newestMs = string.match(newest[1], '^(%d+)-')
    if tonumber(newestMs) > tonumber(ms) then ms = newestMs end
  end
  local ok, id = pcall(redis.call, 'XADD', stream, 'MINID', '~', cutoffMs,
    ms .. '-*', 'a', record)
  if ok then return id end
  return redis.call('XADD', stream, 'MINID', '~', cutoffMs, '*', 'a', record)
end
`;

/**
 * Compare-and-set of one user's two layers plus their change events and
 * the write's audit record.
 *
 * KEYS[1] the user's layer in the writing realm, KEYS[2] the user's global
 * layer, KEYS[3] the writing realm's user index, KEYS[4] the writing
 * realm's audit stream, KEYS[5..8] usage (below), then two keys per event:
 * the target realm's change stream and the user's layer in that realm.
 * ARGV[1..2] the realm and global layer versions the write was planned on;
 * ARGV[3..4] the new layer data, or '' for a layer the write leaves alone;
 * ARGV[5] the user id; ARGV[6] the stream max length; ARGV[7] the audit
 * record JSON, ARGV[8] its time in ms, ARGV[9] the audit retention cutoff
 * in ms; ARGV[10] '1' when the write counts as usage, ARGV[11..12] the
 * seconds a day's and an hour's usage keys live, ARGV[13] the minute of
 * the hour, ARGV[14] how many changed keys follow, then the changed keys;
 * after them one event JSON per event, cut off where its version value
 * goes: the version of another realm's Preference depends on that realm's
 * layer, read here. KEYS[5..8] are the writing realm's usage keys of the
 * write's day and hour: write count, active users (HyperLogLog), changed
 * keys (sorted set), per-minute writes (hash).
 * Returns false when a version moved, else the audit entry id, then a
 * stream id and version per event.
 *
 * Known limitation: the script touches the `{realm}` and `{global}` hash
 * tags (and, for a global change, every listed realm) in one call. That is
 * fine on a single Redis (or one with replicas), but a Redis Cluster
 * refuses it with CROSSSLOT, as the keys live in different slots. Running
 * on a cluster needs another design (for example the global layer copied
 * into each realm's slot, or events fanned out by a second step), which is
 * not built.
 */
const CAS_WRITE_LUA = `${APPEND_AUDIT_LUA}
local function version(key)
  return tonumber(redis.call('HGET', key, 'v')) or 0
end

local realmVersion = tonumber(ARGV[1])
local globalVersion = tonumber(ARGV[2])
if version(KEYS[1]) ~= realmVersion or version(KEYS[2]) ~= globalVersion then
  return false
end

if ARGV[3] ~= '' then
  realmVersion = realmVersion + 1
  redis.call('HSET', KEYS[1], 'v', realmVersion, 'd', ARGV[3])
  redis.call('ZADD', KEYS[3], 0, ARGV[5])
end
if ARGV[4] ~= '' then
  globalVersion = globalVersion + 1
  redis.call('HSET', KEYS[2], 'v', globalVersion, 'd', ARGV[4])
end

local result = { appendAudit(KEYS[4], ARGV[7], ARGV[8], ARGV[9]) }
local firstEvent = 15 + tonumber(ARGV[14])
if ARGV[10] == '1' then
  redis.call('INCR', KEYS[5])
  redis.call('EXPIRE', KEYS[5], ARGV[11])
  redis.call('PFADD', KEYS[6], ARGV[5])
  redis.call('EXPIRE', KEYS[6], ARGV[11])
  for i = 15, firstEvent - 1 do
    redis.call('ZINCRBY', KEYS[7], 1, ARGV[i])
  end
  if firstEvent > 15 then redis.call('EXPIRE', KEYS[7], ARGV[11]) end
  redis.call('HINCRBY', KEYS[8], ARGV[13], 1)
  redis.call('EXPIRE', KEYS[8], ARGV[12])
end
for i = firstEvent, #ARGV do
  local n = i - firstEvent
  local stream, layer = KEYS[9 + 2 * n], KEYS[10 + 2 * n]
  local v = version(layer) + globalVersion
  local event = ARGV[i] .. v .. '}'
  local id = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[6], '*', 'e', event)
  result[#result + 1] = id
  result[#result + 1] = v
end
return result
`;

/**
 * Appends one audit record with no write: KEYS[1] the audit stream,
 * ARGV[1] the record JSON, ARGV[2] its time in ms, ARGV[3] the retention
 * cutoff in ms. Returns the entry id.
 */
const AUDIT_APPEND_LUA = `${APPEND_AUDIT_LUA}
return appendAudit(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
`;

/**
 * Right to be forgotten in one realm: removes the user's realm layer and
 * index entry, appends the erasure's change event and audit record.
 * KEYS[1] the user's realm layer, KEYS[2] the user's global layer (for the
 * event's version), KEYS[3] the realm's user index, KEYS[4] its change
 * stream, KEYS[5] its audit stream. ARGV[1] the realm layer version the
 * erasure was planned on, ARGV[2] the user id, ARGV[3] the stream max
 * length, ARGV[4] the event JSON cut off before its version ('' when the
 * layer was never stored: no event), ARGV[5..7] the audit record, its
 * time and the retention cutoff in ms. Returns false when the layer
 * moved, else the audit id, then the event's stream id and version.
 */
const ERASE_LUA = `${APPEND_AUDIT_LUA}
local function version(key)
  return tonumber(redis.call('HGET', key, 'v')) or 0
end
if version(KEYS[1]) ~= tonumber(ARGV[1]) then return false end

redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[2])
local result = { appendAudit(KEYS[5], ARGV[5], ARGV[6], ARGV[7]) }
if ARGV[4] ~= '' then
  local v = version(KEYS[2])
  local event = ARGV[4] .. v .. '}'
  result[2] = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'e', event)
  result[3] = v
end
return result
`;

/**
 * Compare-and-set of one user's access in a realm, with its audit record.
 * KEYS[1] the realm's access hash, KEYS[2] its audit stream. ARGV[1] the
 * user id, ARGV[2] the access JSON the change was planned on ('' when
 * none was stored), ARGV[3] the new JSON ('' to remove the entry),
 * ARGV[4..6] the audit record, its time and the retention cutoff in ms.
 * Returns false when the stored access moved, else the audit id.
 */
const ACCESS_CAS_LUA = `${APPEND_AUDIT_LUA}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then current = '' end
if current ~= ARGV[2] then return false end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return appendAudit(KEYS[2], ARGV[4], ARGV[5], ARGV[6])
`;

const ERASE_COMMAND = 'realmsPreferenceErase';
const ACCESS_COMMAND = 'realmsAccessCas';

/** How many audit entries one filtered read step fetches. */
const AUDIT_SCAN_BATCH_SIZE = 500;

type CasCommand = (
  numKeys: number,
  ...args: (string | number)[]
) => Promise<(string | number)[] | null>;

type AuditCommand = (
  numKeys: number,
  ...args: (string | number)[]
) => Promise<string>;

/** How many keys one SCAN step asks for, and one UNLINK removes. */
const SCAN_BATCH_SIZE = 500;

/** Escapes a literal for a Redis glob pattern (SCAN MATCH). */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Runs a pipeline and returns its replies, throwing the first error. */
async function execPipeline(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

/** Turns an HMGET of `v` and `d` into a layer; missing hash = empty layer. */
function parseLayer(reply: unknown): StoredLayer {
  const [version, data] = reply as (string | null)[];
  if (version == null || data == null) return EMPTY_LAYER;

  const parsed = JSON.parse(data) as {
    updatedAt: string | null;
    values: Record<string, unknown>;
    configVersion?: number;
  };
  return {
    version: Number(version),
    updatedAt: parsed.updatedAt,
    values: parsed.values,
    ...(parsed.configVersion !== undefined
      ? { configVersion: parsed.configVersion }
      : {}),
  };
}

function layerData(layer: StoredLayer): string {
  return JSON.stringify({
    updatedAt: layer.updatedAt,
    values: layer.values,
    configVersion: layer.configVersion,
  });
}

/** A stream id as numbers, to compare ids correctly (not as strings). */
function parseStreamId(id: string): [number, number] | null {
  const match = /^(\d{1,16})-(\d{1,16})$/.exec(id);
  return match ? [Number(match[1]), Number(match[2])] : null;
}

function streamIdBefore(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/** The XREVRANGE end and start of an audit query's bounds. */
function auditRange(bounds: AuditBounds): { end: string; start: string } {
  const start = String(bounds.startMs);
  if (bounds.end === null) return { end: '+', start };
  const { position, exclusive } = bounds.end;
  // An inclusive end of a `to` time is just its milliseconds: Redis reads
  // that as the last possible id of that millisecond.
  const end = exclusive
    ? `(${position.ms}-${position.seq}`
    : String(position.ms);
  return { end, start };
}

/** Reads one field of an XINFO STREAM reply (a flat name/value list). */
function infoField(info: unknown, name: string): unknown {
  const list = info as unknown[];
  const index = list.indexOf(name);
  return index >= 0 && index % 2 === 0 ? list[index + 1] : undefined;
}

/**
 * The production preference store. Each realm's keys share one hash tag
 * (`realms:{sports}:…`), so a realm can be listed, exported or dropped on
 * its own; user-global layers live under `{global}`. Writes are
 * compare-and-set in one Lua script; change events go to one stream per
 * realm, whose entry ids are the cursors. Audit records go to another
 * stream per realm (`realms:{sports}:audit`), in the same script as the
 * write they record.
 */
export class RedisPreferenceStore implements PreferenceStore {
  private readonly redis: Redis;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly changeLogMaxLength: number;
  private readonly maxWriteAttempts: number;
  private readonly pingTimeoutMs: number;
  private readonly auditRetentionMs: number;
  private readonly clock: () => Date;
  private readonly casWrite: CasCommand;
  private readonly auditAppend: AuditCommand;
  private readonly eraseScript: CasCommand;
  private readonly accessCas: (
    numKeys: number,
    ...args: (string | number)[]
  ) => Promise<string | null>;

  constructor(options: RedisPreferenceStoreOptions) {
    if (options.redis.options.keyPrefix) {
      throw new Error('Use keyPrefix of the store, not of the ioredis client.');
    }
    this.redis = options.redis;
    this.ownsClient = options.ownsClient ?? false;
    this.prefix = options.keyPrefix ?? 'realms';
    this.changeLogMaxLength = options.changeLogMaxLength ?? 100_000;
    this.maxWriteAttempts =
      options.maxWriteAttempts ?? DEFAULT_MAX_WRITE_ATTEMPTS;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 1_000;
    this.auditRetentionMs = auditRetentionMs(
      options.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS,
    );
    this.clock = options.clock ?? (() => new Date());

    // ioredis sends EVALSHA and falls back to EVAL when Redis lacks the script.
    this.redis.defineCommand(CAS_COMMAND, { lua: CAS_WRITE_LUA });
    this.redis.defineCommand(AUDIT_COMMAND, { lua: AUDIT_APPEND_LUA });
    const commands = this.redis as unknown as Record<string, unknown>;
    this.casWrite = (commands[CAS_COMMAND] as CasCommand).bind(this.redis);
    this.auditAppend = (commands[AUDIT_COMMAND] as AuditCommand).bind(
      this.redis,
    );
    this.redis.defineCommand(ERASE_COMMAND, { lua: ERASE_LUA });
    this.redis.defineCommand(ACCESS_COMMAND, { lua: ACCESS_CAS_LUA });
    this.eraseScript = (commands[ERASE_COMMAND] as CasCommand).bind(this.redis);
    this.accessCas = (commands[ACCESS_COMMAND] as typeof this.accessCas).bind(
      this.redis,
    );
  }

  /** The key prefix: what this store's data is told apart by. */
  get namespace(): string {
    return this.prefix;
  }

  /** The hash of a user's layer in a realm. */
  realmLayerKey(realm: string, userId: string): string {
    return `${this.prefix}:{${realm}}:pref:${userId}`;
  }

  /** The hash of a user's global layer. */
  globalLayerKey(userId: string): string {
    return `${this.prefix}:{global}:pref:${userId}`;
  }

  private usersKey(realm: string): string {
    return `${this.prefix}:{${realm}}:users`;
  }

  private changesKey(realm: string): string {
    return `${this.prefix}:{${realm}}:changes`;
  }

  /** The hash of a realm's user access: user id to access JSON. */
  accessKey(realm: string): string {
    return `${this.prefix}:{${realm}}:access`;
  }

  /**
   * A realm's usage key of one day (`YYYY-MM-DD`): `writes` (a counter),
   * `users` (a HyperLogLog) or `keys` (a sorted set of changed keys).
   */
  usageKey(realm: string, date: string, part: 'writes' | 'users' | 'keys') {
    return `${this.prefix}:{${realm}}:usage:${date}:${part}`;
  }

  /** A realm's writes per minute of one hour (`YYYY-MM-DDTHH`): a hash. */
  usageMinutesKey(realm: string, hour: string): string {
    return `${this.prefix}:{${realm}}:usage:${hour}:minutes`;
  }

  /** The hash of a realm's open subscriptions, by reporting gateway. */
  subscriptionsKey(realm: string): string {
    return `${this.prefix}:{${realm}}:subscriptions`;
  }

  /** Exists while a gateway's report for a realm holds (a TTL'd key). */
  private subscriptionsLiveKey(realm: string, gatewayId: string): string {
    return `${this.prefix}:{${realm}}:subscriptions:${gatewayId}`;
  }

  /** The stream of a realm's audit log. */
  auditKey(realm: string): string {
    return `${this.prefix}:{${realm}}:audit`;
  }

  async read(realm: string, userId: string): Promise<StoredPreference> {
    const [stored] = await this.readMany(realm, [userId]);
    return stored ?? emptyPreference(realm, userId);
  }

  async readMany(
    realm: string,
    userIds: readonly string[],
  ): Promise<StoredPreference[]> {
    assertStorableRealm(realm);
    if (userIds.length === 0) return [];

    const pipeline = this.redis.pipeline();
    for (const userId of userIds) {
      pipeline.hmget(this.realmLayerKey(realm, userId), 'v', 'd');
      pipeline.hmget(this.globalLayerKey(userId), 'v', 'd');
    }
    const replies = await execPipeline(pipeline);
    return userIds.map((userId, i) => ({
      realm,
      userId,
      realmLayer: parseLayer(replies[2 * i]),
      globalLayer: parseLayer(replies[2 * i + 1]),
    }));
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
      read: () => this.read(realm, userId),
      commit: (applied: AppliedWrite) => this.commit(applied, meta),
      appendAudit: (draft: AuditDraft) => this.appendDraft(draft),
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

  /**
   * Reads newest first in steps, keeping the entries that pass the actor
   * and target filters. There is no index by actor or target: a filter
   * that matches rarely reads through the whole retained log.
   */
  async readAudit(query: AuditQuery): Promise<AuditPage> {
    assertStorableRealm(query.realm);
    assertPageLimit(query.limit);
    const bounds = auditBounds(query, this.auditCutoffMs());
    if (bounds === null) return EMPTY_AUDIT_PAGE;
    const batch = filtersAudit(query) ? AUDIT_SCAN_BATCH_SIZE : query.limit + 1;

    const key = this.auditKey(query.realm);
    const matches: AuditRecord[] = [];
    const range = auditRange(bounds);
    let end = range.end;
    while (matches.length <= query.limit) {
      const entries = await this.redis.xrevrange(
        key,
        end,
        range.start,
        'COUNT',
        batch,
      );
      for (const [id, fields] of entries) {
        const record = this.parseAuditEntry(query.realm, id, fields);
        if (matchesAuditFilters(record, query)) matches.push(record);
      }
      const oldest = entries.at(-1);
      if (oldest === undefined || entries.length < batch) break;
      end = `(${oldest[0]}`;
    }
    return auditPage(matches, query.limit);
  }

  async listUsers(
    realm: string,
    page: { after?: string | null; limit: number },
  ): Promise<UserPage> {
    assertStorableRealm(realm);
    assertPageLimit(page.limit);

    // All members share score 0, so the set orders them by bytes.
    const from = page.after == null ? '-' : `(${page.after}`;
    const ids = await this.redis.zrangebylex(
      this.usersKey(realm),
      from,
      '+',
      'LIMIT',
      0,
      page.limit + 1,
    );
    const userIds = ids.slice(0, page.limit);
    const more = ids.length > page.limit;
    return { userIds, nextCursor: more ? (userIds.at(-1) ?? null) : null };
  }

  async readChanges(
    realm: string,
    after: string | null,
    limit: number,
  ): Promise<ChangeLogSlice> {
    assertStorableRealm(realm);
    assertPageLimit(limit);
    const afterId = after === null ? null : this.parseCursor(realm, after);

    const key = this.changesKey(realm);
    const results = await this.redis
      .pipeline()
      .xrange(key, afterId === null ? '-' : `(${afterId}`, '+', 'COUNT', limit)
      .xinfo('STREAM', key)
      .exec();
    const [range, info] = results ?? [];
    if (range?.[0]) throw range[0];
    if (info?.[0]) {
      // A realm without any write (or just dropped) has no stream yet.
      if (/no such key/i.test(info[0].message)) {
        return { events: [], truncated: false };
      }
      throw info[0];
    }

    const entries = (range?.[1] ?? []) as [string, string[]][];
    return {
      events: entries.map(([id, fields]) => this.parseEntry(realm, id, fields)),
      truncated: this.trimmedAfter(info?.[1], afterId),
    };
  }

  async latestCursor(realm: string): Promise<string | null> {
    assertStorableRealm(realm);
    const newest = await this.redis.xrevrange(
      this.changesKey(realm),
      '+',
      '-',
      'COUNT',
      1,
    );
    const id = newest[0]?.[0];
    return id === undefined ? null : `${realm}/${id}`;
  }

  async dropRealm(realm: string): Promise<void> {
    assertStorableRealm(realm);
    const pattern = `${globLiteral(this.prefix)}:{${realm}}:*`;
    const audit = this.auditKey(realm);
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(
        cursor,
        'MATCH',
        pattern,
        'COUNT',
        SCAN_BATCH_SIZE,
      );
      const keys = found.filter((key) => key !== audit);
      if (keys.length > 0) await this.redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }

  async countUsers(realm: string): Promise<number> {
    assertStorableRealm(realm);
    return this.redis.zcard(this.usersKey(realm));
  }

  async readUserAccess(realm: string, userId: string): Promise<UserAccess> {
    assertStorableRealm(realm);
    return parseAccess(await this.redis.hget(this.accessKey(realm), userId));
  }

  /** One HGETALL: the hash holds only users an admin has changed. */
  async listUserAccess(
    realm: string,
  ): Promise<ReadonlyMap<string, UserAccess>> {
    assertStorableRealm(realm);
    const all = await this.redis.hgetall(this.accessKey(realm));
    return new Map(
      Object.entries(all).map(([userId, json]) => [userId, parseAccess(json)]),
    );
  }

  async updateUserAccess(
    realm: string,
    userId: string,
    change: UserAccessChange,
    audit: AdminAuditInput,
  ): Promise<AccessUpdateOutcome> {
    assertStorableRealm(realm);
    const key = this.accessKey(realm);
    for (let attempt = 1; attempt <= this.maxWriteAttempts; attempt++) {
      const stored = await this.redis.hget(key, userId);
      const before = parseAccess(stored);
      const at = this.clock().toISOString();
      const access = applyAccessChange(before, change, at);
      const draft: AuditDraft = {
        ...audit,
        realm,
        at,
        changes: accessAuditChanges(before, access),
      };
      const id = await this.accessCas(
        2,
        key,
        this.auditKey(realm),
        userId,
        stored ?? '',
        isDefaultAccess(access) ? '' : accessJson(access),
        JSON.stringify(draft),
        Date.parse(at),
        this.auditCutoffMs(),
      );
      if (id === null) continue;
      return { before, access, audit: completeAuditRecord(draft, id) };
    }
    throw new Error('write contention');
  }

  async erasePreferences(
    realm: string,
    userId: string,
    audit: AdminAuditInput,
  ): Promise<ErasureOutcome> {
    assertStorableRealm(realm);
    for (let attempt = 1; attempt <= this.maxWriteAttempts; attempt++) {
      const reply = await this.redis.hmget(
        this.realmLayerKey(realm, userId),
        'v',
        'd',
      );
      const layer = parseLayer(reply);
      const erasedKeys = Object.keys(layer.values).sort();
      const at = this.clock().toISOString();
      const body =
        layer.version > 0
          ? erasureEventBody(realm, userId, erasedKeys, audit, at)
          : null;
      const draft: AuditDraft = {
        ...audit,
        realm,
        at,
        changes: erasureAuditChanges(erasedKeys),
      };
      const keys = [
        this.realmLayerKey(realm, userId),
        this.globalLayerKey(userId),
        this.usersKey(realm),
        this.changesKey(realm),
        this.auditKey(realm),
      ];
      const result = await this.eraseScript(
        keys.length,
        ...keys,
        layer.version,
        userId,
        this.changeLogMaxLength,
        body ? versionlessJson(body) : '',
        JSON.stringify(draft),
        Date.parse(at),
        this.auditCutoffMs(),
      );
      if (result === null) continue;
      const [auditId, streamId, version] = result;
      const event = body
        ? completeChangeEvent(body, {
            cursor: `${realm}/${String(streamId)}`,
            version: Number(version),
          })
        : null;
      return {
        erasedKeys,
        event,
        audit: completeAuditRecord(draft, String(auditId)),
      };
    }
    throw new Error('write contention');
  }

  async readUsage(
    realm: string,
    dates: readonly string[],
    topKeys: number,
  ): Promise<UsageDay[]> {
    assertStorableRealm(realm);
    assertPageLimit(topKeys);
    if (dates.length === 0) return [];

    const pipeline = this.redis.pipeline();
    for (const date of dates) {
      pipeline.get(this.usageKey(realm, date, 'writes'));
      // With a second, never-written key of the same hash tag: PFCOUNT of
      // one key stores its cached cardinality, so a read would write.
      pipeline.pfcount(
        this.usageKey(realm, date, 'users'),
        `${this.prefix}:{${realm}}:usage:none`,
      );
      pipeline.zrevrange(
        this.usageKey(realm, date, 'keys'),
        0,
        topKeys - 1,
        'WITHSCORES',
      );
    }
    const replies = await execPipeline(pipeline);
    return dates.map((date, i) => {
      const ranked = replies[3 * i + 2] as string[];
      const top = [];
      for (let k = 0; k + 1 < ranked.length; k += 2) {
        top.push({ key: ranked[k] as string, writes: Number(ranked[k + 1]) });
      }
      return {
        date,
        writes: Number(replies[3 * i] ?? 0),
        activeUsers: Number(replies[3 * i + 1]),
        topKeys: top,
      };
    });
  }

  /** One pipeline of 25 HGETALLs: the hours that cover the trailing day. */
  async readRecentWrites(realm: string): Promise<RecentWrites> {
    assertStorableRealm(realm);
    const buckets = recentHourBuckets(this.clock());
    const pipeline = this.redis.pipeline();
    for (const bucket of buckets) {
      pipeline.hgetall(this.usageMinutesKey(realm, bucket.hour));
    }
    const replies = (await execPipeline(pipeline)) as Record<string, string>[];
    const minutes = replies.map((reply) =>
      Object.fromEntries(
        Object.entries(reply).map(([minute, n]) => [minute, Number(n)]),
      ),
    );
    return sumRecentWrites(buckets, minutes);
  }

  async reportSubscriptions(
    gatewayId: string,
    counts: ReadonlyMap<string, number>,
    ttlMs: number,
  ): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const [realm, count] of counts) {
      assertStorableRealm(realm);
      const live = this.subscriptionsLiveKey(realm, gatewayId);
      if (count > 0) {
        pipeline.hset(this.subscriptionsKey(realm), gatewayId, count);
        // Same value each time: the TTL is the heartbeat.
        pipeline.set(live, '1', 'PX', ttlMs);
      } else {
        pipeline.hdel(this.subscriptionsKey(realm), gatewayId);
        pipeline.del(live);
      }
    }
    if (counts.size > 0) await execPipeline(pipeline);
  }

  /** Sums the reports whose heartbeat key still lives; drops the others. */
  async countSubscriptions(realm: string): Promise<number> {
    assertStorableRealm(realm);
    const key = this.subscriptionsKey(realm);
    const reports = Object.entries(await this.redis.hgetall(key));
    if (reports.length === 0) return 0;

    const pipeline = this.redis.pipeline();
    for (const [gatewayId] of reports) {
      pipeline.exists(this.subscriptionsLiveKey(realm, gatewayId));
    }
    const alive = await execPipeline(pipeline);
    let total = 0;
    const dead: string[] = [];
    reports.forEach(([gatewayId, count], i) => {
      if (Number(alive[i]) === 1) total += Number(count);
      else dead.push(gatewayId);
    });
    if (dead.length > 0) await this.redis.hdel(key, ...dead);
    return total;
  }

  async ping(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.pingTimeoutMs);
    });
    try {
      const answer = this.redis.ping().then((reply) => reply === 'PONG');
      return await Promise.race([answer, timedOut]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (!this.ownsClient || this.redis.status === 'end') return;
    try {
      await this.redis.quit();
    } catch {
      // Quitting fails when the connection is already gone; drop it anyway.
      this.redis.disconnect();
    }
  }

  /** Runs the compare-and-set script; null when a layer version moved. */
  private async commit(
    applied: AppliedWrite,
    meta: WriteMetadata,
  ): Promise<CommittedWrite | null> {
    const { realm, userId } = applied.before;
    const at = new Date(applied.at);
    const date = usageDate(at);
    const keys = [
      this.realmLayerKey(realm, userId),
      this.globalLayerKey(userId),
      this.usersKey(realm),
      this.auditKey(realm),
      this.usageKey(realm, date, 'writes'),
      this.usageKey(realm, date, 'users'),
      this.usageKey(realm, date, 'keys'),
      this.usageMinutesKey(realm, usageHour(at)),
    ];
    const changedKeys = applied.targets[0]?.changedKeys ?? [];
    const args: (string | number)[] = [
      applied.before.realmLayer.version,
      applied.before.globalLayer.version,
      applied.realmLayerChanged ? layerData(applied.after.realmLayer) : '',
      applied.globalLayerChanged ? layerData(applied.after.globalLayer) : '',
      userId,
      this.changeLogMaxLength,
      JSON.stringify(applied.audit),
      Date.parse(applied.audit.at),
      this.auditCutoffMs(),
      meta.countsAsUsage === false ? '0' : '1',
      USAGE_DAY_TTL_SECONDS,
      USAGE_HOUR_TTL_SECONDS,
      usageMinute(at),
      changedKeys.length,
      ...changedKeys,
    ];
    for (const target of applied.targets) {
      keys.push(this.changesKey(target.realm));
      keys.push(this.realmLayerKey(target.realm, userId));
      args.push(versionlessJson(changeEventBody(applied, target, meta)));
    }

    const reply = await this.casWrite(keys.length, ...keys, ...args);
    if (reply === null) return null;
    const [auditId, ...committed] = reply;
    const events = applied.targets.map((target, i) => ({
      cursor: `${target.realm}/${String(committed[2 * i])}`,
      version: Number(committed[2 * i + 1]),
    }));
    return { events, auditId: String(auditId) };
  }

  /** Appends an audit record that goes with no write. */
  private async appendDraft(draft: AuditDraft): Promise<AuditRecord> {
    const id = await this.auditAppend(
      1,
      this.auditKey(draft.realm),
      JSON.stringify(draft),
      Date.parse(draft.at),
      this.auditCutoffMs(),
    );
    return completeAuditRecord(draft, id);
  }

  /** Audit entries before this time (ms) are past retention. */
  private auditCutoffMs(): number {
    return this.clock().getTime() - this.auditRetentionMs;
  }

  private parseAuditEntry(
    realm: string,
    id: string,
    fields: string[],
  ): AuditRecord {
    const json = fields[fields.indexOf('a') + 1];
    if (json === undefined) {
      throw new Error(`Audit entry ${realm}/${id} has no record.`);
    }
    return completeAuditRecord(JSON.parse(json) as AuditDraft, id);
  }

  /** The stream id in a cursor of this realm; a client error otherwise. */
  private parseCursor(realm: string, cursor: string): string {
    const position = cursorPosition(realm, cursor);
    if (position === null || parseStreamId(position) === null) {
      throw invalidCursor(realm, cursor);
    }
    return position;
  }

  private parseEntry(
    realm: string,
    id: string,
    fields: string[],
  ): PreferenceChangeEvent {
    const json = fields[fields.indexOf('e') + 1];
    if (json === undefined) {
      throw new Error(`Change-log entry ${realm}/${id} has no event.`);
    }
    const stored = JSON.parse(json) as ChangeEventBody & { version: number };
    return completeChangeEvent(stored, {
      cursor: `${realm}/${id}`,
      version: stored.version,
    });
  }

  /**
   * Whether retention trimmed events the reader has not seen: something
   * was trimmed and the cursor is older than the first retained entry.
   * Conservative by one entry: a reader whose cursor is exactly the last
   * trimmed event also gets true, since stream ids of trimmed entries are
   * gone. Needs Redis 7.0+ (`entries-added`, `recorded-first-entry-id`).
   */
  private trimmedAfter(info: unknown, afterId: string | null): boolean {
    const added = infoField(info, 'entries-added');
    const length = infoField(info, 'length');
    const firstId = infoField(info, 'recorded-first-entry-id');
    if (added === undefined || typeof firstId !== 'string') {
      throw new Error('Reading the change log needs Redis 7.0 or later.');
    }
    if (Number(added) <= Number(length)) return false;
    if (afterId === null) return true;

    const after = parseStreamId(afterId);
    const first = parseStreamId(firstId);
    return after !== null && first !== null && streamIdBefore(after, first);
  }
}

/**
 * An event's JSON without its closing brace, ending in `"version":`, so the
 * script can append the version it computes and close the object.
 */
function versionlessJson(body: ChangeEventBody): string {
  return `${JSON.stringify(body).slice(0, -1)},"version":`;
}
