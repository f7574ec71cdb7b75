import type { Redis } from 'ioredis';
import type { MigrationRecord } from './migrations.js';

/**
 * The parsed contents of `schema/`: what a configuration version holds.
 * Realm documents are keyed by realm id.
 */
export interface ConfigDocuments {
  readonly global: Record<string, unknown>;
  readonly theme: Record<string, unknown>;
  readonly realms: Readonly<Record<string, Record<string, unknown>>>;
}

/** One published configuration, without its documents. */
export interface ConfigVersionSummary {
  readonly version: number;
  readonly createdAt: string;
  readonly actor: string;
  readonly comment: string | null;
  /**
   * The digest of the `schema/` files this version descends from: set when
   * the files are published, carried over by edits made at run time.
   */
  readonly filesDigest?: string | undefined;
}

export interface ConfigVersion extends ConfigVersionSummary {
  readonly documents: ConfigDocuments;
  /**
   * Every migration of stored values declared up to this version, oldest
   * first (carried forward by each publish); absent when there is none.
   */
  readonly migrations?: readonly MigrationRecord[] | undefined;
}

/**
 * The history of configuration versions, shared by every process. Versions
 * only grow; a rollback publishes an old version's documents as a new one.
 */
export interface ConfigVersionStore {
  /** The newest version, or null before the first publish. */
  latest(): Promise<ConfigVersion | null>;
  get(version: number): Promise<ConfigVersion | null>;
  /** Newest first, starting below `before` when given. */
  list(limit: number, before?: number): Promise<ConfigVersionSummary[]>;
  /**
   * Stores `documents` as the version after `expectedVersion`, if that is
   * still the newest (0: none yet). Null when another publish came first.
   */
  publish(
    expectedVersion: number,
    documents: ConfigDocuments,
    meta: PublishMeta,
  ): Promise<ConfigVersion | null>;
}

/** Who publishes a version, and why. */
export interface PublishMeta {
  readonly actor: string;
  readonly comment: string | null;
  readonly filesDigest?: string | undefined;
  /** The migration log of the new version (see ConfigVersion). */
  readonly migrations?: readonly MigrationRecord[] | undefined;
}

/** Versions kept in process memory (embedded default, tests). */
export class MemoryConfigVersionStore implements ConfigVersionStore {
  private readonly versions: ConfigVersion[] = [];

  async latest(): Promise<ConfigVersion | null> {
    return this.versions.at(-1) ?? null;
  }

  async get(version: number): Promise<ConfigVersion | null> {
    return this.versions[version - 1] ?? null;
  }

  async list(limit: number, before?: number): Promise<ConfigVersionSummary[]> {
    const end = before === undefined ? this.versions.length : before - 1;
    return this.versions
      .slice(Math.max(0, end - limit), Math.max(0, end))
      .reverse()
      .map(summary);
  }

  async publish(
    expectedVersion: number,
    documents: ConfigDocuments,
    meta: PublishMeta,
  ): Promise<ConfigVersion | null> {
    if (this.versions.length !== expectedVersion) return null;
    const stored: ConfigVersion = {
      version: expectedVersion + 1,
      createdAt: new Date().toISOString(),
      ...meta,
      // A copy, so later changes to the caller's objects cannot reach it.
      documents: structuredClone(documents),
    };
    this.versions.push(stored);
    return stored;
  }
}

/**
 * Compare-and-set publish: the new version is stored only if the newest is
 * still the one the publisher read. KEYS: counter, versions hash.
 */
const PUBLISH_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], tostring(current + 1), ARGV[2])
redis.call('SET', KEYS[1], tostring(current + 1))
return current + 1
`;

/** Versions in Redis, under one hash tag so the publish is one step. */
export class RedisConfigVersionStore implements ConfigVersionStore {
  private readonly counterKey: string;
  private readonly versionsKey: string;

  constructor(
    private readonly redis: Redis,
    keyPrefix = 'realms',
  ) {
    this.counterKey = `${keyPrefix}:{config}:version`;
    this.versionsKey = `${keyPrefix}:{config}:versions`;
  }

  async latest(): Promise<ConfigVersion | null> {
    const current = Number((await this.redis.get(this.counterKey)) ?? 0);
    return current > 0 ? this.get(current) : null;
  }

  async get(version: number): Promise<ConfigVersion | null> {
    const json = await this.redis.hget(this.versionsKey, String(version));
    return json ? (JSON.parse(json) as ConfigVersion) : null;
  }

  async list(limit: number, before?: number): Promise<ConfigVersionSummary[]> {
    const newest = Number((await this.redis.get(this.counterKey)) ?? 0);
    const end = Math.min(newest, before === undefined ? newest : before - 1);
    const numbers: string[] = [];
    for (let v = end; v > 0 && numbers.length < limit; v--)
      numbers.push(String(v));
    if (numbers.length === 0) return [];
    const found = await this.redis.hmget(this.versionsKey, ...numbers);
    return found
      .filter((json): json is string => json !== null)
      .map((json) => summary(JSON.parse(json) as ConfigVersion));
  }

  async publish(
    expectedVersion: number,
    documents: ConfigDocuments,
    meta: PublishMeta,
  ): Promise<ConfigVersion | null> {
    const stored: ConfigVersion = {
      version: expectedVersion + 1,
      createdAt: new Date().toISOString(),
      ...meta,
      documents,
    };
    const result = await this.redis.eval(
      PUBLISH_SCRIPT,
      2,
      this.counterKey,
      this.versionsKey,
      String(expectedVersion),
      JSON.stringify(stored),
    );
    return Number(result) === stored.version ? stored : null;
  }
}

function summary(version: ConfigVersion): ConfigVersionSummary {
  return {
    version: version.version,
    createdAt: version.createdAt,
    actor: version.actor,
    comment: version.comment,
    filesDigest: version.filesDigest,
  };
}
