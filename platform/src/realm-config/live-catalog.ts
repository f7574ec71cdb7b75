import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChangeBus } from '../change-feed/change-bus.js';
import type { ConfigChangeEvent } from '../change-feed/change-event.js';
import type { PreferenceCatalog } from './catalog.js';
import { changedRealms, diffConfig } from './config-diff.js';
import type {
  ConfigDocuments,
  ConfigVersion,
  ConfigVersionStore,
} from './config-versions.js';
import { catalogFromDocuments, readSchemaDocuments } from './load.js';
import type { MigrationRecord, MigrationState } from './migrations.js';

/** Told after a new configuration version took effect in this process. */
export type CatalogListener = (
  event: ConfigChangeEvent,
  catalog: PreferenceCatalog,
) => void;

/**
 * The configuration in force in this process, kept in step with every
 * other process. Versions live in a ConfigVersionStore; a publish is
 * announced on the change bus, and each process then loads and compiles
 * the new version and swaps it in. Whoever derived something from the
 * catalog (compiled validators, caches) listens with `onChange`.
 *
 * The files in `schema/` are published as a new version whenever a
 * process starts with files that differ from the ones the newest version
 * descends from (so version 1 on an empty history, and a deploy with
 * edited files publishes them). Edits made at run time carry the files'
 * digest forward, so a restart with unchanged files keeps them.
 */
export class LiveCatalog {
  private catalog: PreferenceCatalog;
  private current: ConfigVersion;
  private readonly listeners = new Set<CatalogListener>();
  private unsubscribe: (() => Promise<void>) | null = null;
  private poll: NodeJS.Timeout | null = null;
  private loading: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: ConfigVersionStore,
    private readonly bus: ChangeBus,
    private readonly logger: Logger,
    version: ConfigVersion,
  ) {
    this.current = version;
    this.catalog = catalogFromDocuments(version.documents);
  }

  /** Loads the newest version (publishing `schema/` if there is none). */
  static async open(options: {
    store: ConfigVersionStore;
    bus: ChangeBus;
    logger: Logger;
    schemaDir?: string;
    /**
     * How often to check the store for a version whose announcement was
     * lost (Redis pub/sub delivers at most once). Default 30 s; 0 = never.
     */
    pollIntervalMs?: number;
  }): Promise<LiveCatalog> {
    const files = await readSchemaDocuments(options.schemaDir);
    catalogFromDocuments(files); // Refuse broken files before anything else.
    const digest = documentsDigest(files);

    let version = await options.store.latest();
    if (version?.filesDigest !== digest) {
      const previous = version;
      const published = await options.store.publish(
        previous?.version ?? 0,
        files,
        {
          actor: 'schema-files',
          comment: previous ? 'schema/ files changed' : 'schema/ files',
          filesDigest: digest,
          migrations: previous?.migrations,
        },
      );
      // Null: another process published first; take whatever is newest.
      version = published ?? (await options.store.latest());
      if (!version)
        throw new Error('No configuration version after publishing the files');
      if (published && previous) {
        await options.bus.publishConfigChange(
          changeEvent(published, previous.documents),
        );
      }
    }
    const live = new LiveCatalog(
      options.store,
      options.bus,
      options.logger,
      version,
    );
    live.unsubscribe = await options.bus.subscribeConfigChanges((event) =>
      live.follow(event),
    );
    return live;
  }

  /** The catalog in force now. */
  get(): PreferenceCatalog {
    return this.catalog;
  }

  get version(): number {
    return this.current.version;
  }

  get documents(): ConfigDocuments {
    return this.current.documents;
  }

  /** The migrations of stored values in force, for reads and writes. */
  get migrations(): MigrationState {
    return {
      version: this.current.version,
      log: this.current.migrations ?? [],
    };
  }

  onChange(listener: CatalogListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Publishes documents as the next version, if `expectedVersion` is still
   * the newest. Throws PreferenceSchemaError for documents that break the
   * schema rules, and returns null when another publish came first.
   */
  async publish(
    documents: ConfigDocuments,
    expectedVersion: number,
    meta: {
      actor: string;
      comment: string | null;
      /** Migrations this version introduces; their version is set here. */
      migrations?: readonly Omit<MigrationRecord, 'version'>[];
    },
  ): Promise<ConfigChangeEvent | null> {
    catalogFromDocuments(documents);
    const previous =
      expectedVersion === this.current.version
        ? this.current
        : await this.store.get(expectedVersion);
    const log = [
      ...(previous?.migrations ?? []),
      ...(meta.migrations ?? []).map((m) => ({
        ...m,
        version: expectedVersion + 1,
      })),
    ];
    const stored = await this.store.publish(expectedVersion, documents, {
      actor: meta.actor,
      comment: meta.comment,
      filesDigest: previous?.filesDigest,
      migrations: log.length > 0 ? log : undefined,
    });
    if (!stored || !previous) return null;

    const event = changeEvent(stored, previous.documents);
    await this.bus.publishConfigChange(event);
    await this.follow(event);
    return event;
  }

  async close(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    await this.unsubscribe?.();
  }

  /** Loads the newest stored version if this process missed it. */
  async catchUp(): Promise<void> {
    try {
      const latest = await this.store.latest();
      if (!latest || latest.version <= this.current.version) return;
      await this.follow(changeEvent(latest, this.current.documents));
    } catch (error) {
      this.logger.warn(
        { err: error },
        'checking for a new configuration failed',
      );
    }
  }

  /** Takes in a newer version announced on the bus, one at a time. */
  private follow(event: ConfigChangeEvent): Promise<void> {
    this.loading = this.loading.then(async () => {
      if (event.version <= this.current.version) return;
      const version = await this.store.get(event.version);
      if (!version) return;
      try {
        this.catalog = catalogFromDocuments(version.documents);
        this.current = version;
      } catch (error) {
        this.logger.error(
          { err: error, version: event.version },
          'configuration version refused',
        );
        return;
      }
      this.logger.info(
        { version: event.version, realms: event.realms },
        'configuration changed',
      );
      for (const listener of this.listeners) listener(event, this.catalog);
    });
    return this.loading;
  }
}

/** A stable digest of configuration documents (key order ignored). */
export function documentsDigest(documents: ConfigDocuments): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : typeof value === 'object' && value !== null
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((key) => [
                key,
                canonical((value as Record<string, unknown>)[key]),
              ]),
          )
        : value;
  return createHash('sha256')
    .update(JSON.stringify(canonical(documents)))
    .digest('hex');
}

/** The announcement of `published`, which replaced `previous`. */
function changeEvent(
  published: ConfigVersion,
  previous: ConfigDocuments,
): ConfigChangeEvent {
  const differences = diffConfig(previous, published.documents);
  return {
    type: 'config.changed',
    version: published.version,
    previousVersion: published.version - 1,
    realms: changedRealms(differences, Object.keys(published.documents.realms)),
    changes: differences.map((d) => d.path),
    actor: published.actor,
    at: published.createdAt,
    comment: published.comment,
  };
}
