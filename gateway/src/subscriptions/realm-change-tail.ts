import type { Logger } from 'pino';
import type {
  ChangeBus,
  PreferenceChangeEvent,
  PreferenceStore,
} from '@realms/platform';

/** Receives a realm's changes in log order. */
export interface TailListener {
  onEvents(events: readonly PreferenceChangeEvent[]): void;
  /** The tail fell behind the log's retention: some changes were lost. */
  onGap(): void;
}

/** How many changes one read of the log takes. */
const READ_BATCH = 500;

/**
 * Follows one realm's change log for this gateway. The change bus only
 * wakes it up; the events themselves are read from the log, after the
 * last one seen. So every listener gets every change exactly once and in
 * cursor order, even when several writers publish concurrently or the bus
 * drops a message (Redis pub/sub delivers at most once).
 */
export class RealmChangeTail {
  private readonly listeners = new Set<TailListener>();
  private position: string | null = null;
  private ready: Promise<void> | null = null;
  private reading: Promise<void> | null = null;
  private dirty = false;
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(
    private readonly realm: string,
    private readonly store: PreferenceStore,
    private readonly bus: ChangeBus,
    private readonly logger: Logger,
  ) {}

  /** Starts delivering changes made from now on; resolves once listening. */
  async add(listener: TailListener): Promise<void> {
    this.listeners.add(listener);
    this.ready ??= this.start();
    await this.ready;
  }

  /** Stops delivering to `listener`; the last one stops the tail. */
  async remove(listener: TailListener): Promise<void> {
    this.listeners.delete(listener);
    if (this.listeners.size > 0 || !this.ready) return;
    const unsubscribe = this.unsubscribe;
    this.ready = null;
    this.unsubscribe = null;
    await unsubscribe?.();
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  private async start(): Promise<void> {
    // Listen first, then read the position: a change in between is then
    // either before the position or announced after it, never lost.
    this.unsubscribe = await this.bus.subscribe(this.realm, () => this.pull());
    this.position = await this.store.latestCursor(this.realm);
  }

  /** Reads whatever the log holds after the position; coalesces wake-ups. */
  private pull(): void {
    if (this.reading) {
      this.dirty = true;
      return;
    }
    this.reading = this.readAll()
      .catch((error: unknown) => {
        this.logger.error(
          { err: error, realm: this.realm },
          'reading the change log failed',
        );
      })
      .finally(() => {
        this.reading = null;
        if (this.dirty) {
          this.dirty = false;
          this.pull();
        }
      });
  }

  private async readAll(): Promise<void> {
    await this.ready;
    for (;;) {
      const slice = await this.store.readChanges(
        this.realm,
        this.position,
        READ_BATCH,
      );
      if (slice.truncated && this.position !== null) {
        this.logger.warn(
          { realm: this.realm },
          'change tail fell behind retention',
        );
        for (const listener of this.listeners) listener.onGap();
      }
      const last = slice.events.at(-1);
      if (!last) return;
      this.position = last.cursor;
      for (const listener of this.listeners) listener.onEvents(slice.events);
      if (slice.events.length < READ_BATCH) return;
    }
  }
}

/** One tail per realm, shared by every subscription of this gateway. */
export class ChangeTails {
  private readonly tails = new Map<string, RealmChangeTail>();

  constructor(
    private readonly store: PreferenceStore,
    private readonly bus: ChangeBus,
    private readonly logger: Logger,
  ) {}

  async add(realm: string, listener: TailListener): Promise<void> {
    let tail = this.tails.get(realm);
    if (!tail) {
      tail = new RealmChangeTail(realm, this.store, this.bus, this.logger);
      this.tails.set(realm, tail);
    }
    await tail.add(listener);
  }

  async remove(realm: string, listener: TailListener): Promise<void> {
    await this.tails.get(realm)?.remove(listener);
  }
}
