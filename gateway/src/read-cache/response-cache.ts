import type { FormattedExecutionResult } from 'graphql';

/** How many preferences' generations are remembered before a reset. */
const MAX_TRACKED_PREFERENCES = 200_000;

/**
 * A cached response and the preferences it was read from. The response is
 * kept as its JSON text: a string is one compact object the garbage
 * collector never traces, where the result object graph is hundreds of
 * small ones (measured: at 50,000 entries the object form grew the
 * gateway's resident memory by ~200 MiB and slowed every request with
 * longer GC pauses; see bench/README.md). Each hit is also a fresh copy,
 * so nothing downstream can change what the next reader gets.
 */
interface Entry {
  /** When it was last moved to the young end of the LRU order. */
  touchedAt: number;
  readonly json: string;
  /** The name of the operation it answered, for metrics labels. */
  readonly operationName: string | null;
  readonly dependsOn: readonly string[];
  readonly expiresAtMs: number;
}

export interface ResponseCacheOptions {
  /** Most responses kept; the least recently used go first. */
  readonly maxEntries: number;
  /** A safety net behind event-driven invalidation. */
  readonly ttlMs: number;
}

/**
 * Responses of preference reads, per gateway, in memory. An entry names the
 * preferences (`realm:user`) it depends on; a change of one of them drops
 * every entry that depends on it. Each preference also has a generation,
 * bumped on every change: a read notes the generations when it starts and
 * is stored only if none moved, so a read that raced a write can never put
 * the old value back after the write's invalidation.
 */
export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private readonly byPreference = new Map<string, Set<string>>();
  private readonly generations = new Map<string, number>();
  /** Bumped by `clear`, so reads that started before it are not stored. */
  private epoch = 0;
  /** Counts lookups and stores, to tell how recently an entry was used. */
  private clock = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly options: ResponseCacheOptions) {}

  get(key: string, nowMs = Date.now()): FormattedExecutionResult | null {
    const answer = this.getAnswer(key, nowMs);
    return answer === null
      ? null
      : (JSON.parse(answer.json) as FormattedExecutionResult);
  }

  /**
   * The cached response as its JSON text, with the name of the operation
   * it answered: for answering without parsing the request.
   */
  getAnswer(
    key: string,
    nowMs = Date.now(),
  ): { readonly json: string; readonly operationName: string | null } | null {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAtMs <= nowMs) {
      if (entry) this.delete(key);
      this.misses += 1;
      return null;
    }
    // Re-insert: a Map keeps insertion order, which makes it an LRU. An
    // entry used recently (within a quarter of the capacity's worth of
    // operations) is left where it is: it is far from eviction, and a hot
    // entry would otherwise be moved on every one of its hits.
    this.clock += 1;
    if (this.clock - entry.touchedAt > this.options.maxEntries / 4) {
      entry.touchedAt = this.clock;
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    this.hits += 1;
    return entry;
  }

  /** What a read must present to `set`: the generations it started with. */
  snapshot(dependsOn: readonly string[]): string {
    return [
      this.epoch,
      ...dependsOn.map((p) => this.generations.get(p) ?? 0),
    ].join(',');
  }

  /** Stores a result unless a dependency changed since `snapshot`. */
  set(
    key: string,
    result: FormattedExecutionResult,
    dependsOn: readonly string[],
    snapshot: string,
    nowMs = Date.now(),
    operationName: string | null = null,
  ): boolean {
    if (this.snapshot(dependsOn) !== snapshot) return false;
    this.delete(key);
    this.clock += 1;
    this.entries.set(key, {
      touchedAt: this.clock,
      json: JSON.stringify(result),
      operationName,
      dependsOn,
      expiresAtMs: nowMs + this.options.ttlMs,
    });
    for (const preference of dependsOn) {
      let keys = this.byPreference.get(preference);
      if (!keys) this.byPreference.set(preference, (keys = new Set()));
      keys.add(key);
    }
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
    return true;
  }

  /** Drops everything read from one preference (`realm:user`). */
  invalidate(preference: string): void {
    if (this.generations.size >= MAX_TRACKED_PREFERENCES) {
      // Bounded memory: forget every generation at once; the epoch bump in
      // clear() still keeps racing reads from storing.
      this.generations.clear();
      this.clear();
    }
    this.generations.set(
      preference,
      (this.generations.get(preference) ?? 0) + 1,
    );
    for (const key of this.byPreference.get(preference) ?? []) this.delete(key);
    this.byPreference.delete(preference);
  }

  /** Drops everything (configuration changed). */
  clear(): void {
    this.epoch += 1;
    this.entries.clear();
    this.byPreference.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    for (const preference of entry.dependsOn) {
      const keys = this.byPreference.get(preference);
      keys?.delete(key);
      if (keys?.size === 0) this.byPreference.delete(preference);
    }
  }
}
