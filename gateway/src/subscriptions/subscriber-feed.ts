import {
  compareCursors,
  realmsError,
  type PreferenceChangeEvent,
  type PreferenceStore,
} from '@realms/platform';
import {
  decodeAllRealmsCursor,
  encodeAllRealmsCursor,
} from './all-realms-cursor.js';
import type { RenderedChange } from './change-renderer.js';
import { feedSees, type FeedRequest } from './feed-request.js';
import type { ChangeTails, TailListener } from './realm-change-tail.js';
import type { ExecutionGroup } from './shared-executions.js';

/** How many changes one replay read takes from the log. */
const REPLAY_BATCH = 500;

export interface SubscriberFeedOptions {
  readonly feed: FeedRequest;
  readonly group: ExecutionGroup;
  readonly tails: ChangeTails;
  readonly store: PreferenceStore;
  /** Results waiting for the client beyond this mean a slow consumer. */
  readonly maxQueued: number;
  /** Called once when the subscriber falls too far behind. */
  readonly onOverflow: () => void;
  /** Called once when the subscription ends, for any reason. */
  readonly onEnd: () => void;
  /** Called when a live (not replayed) change's result is handed over. */
  readonly onLiveResult?: (event: PreferenceChangeEvent) => void;
}

/** Replayed changes rendered ahead of the client, while it catches up. */
const REPLAY_RENDER_AHEAD = 8;

/**
 * A change taken on, with the cursor its result carries when that is not
 * the event's own (an all-realms feed: its position in every realm).
 */
interface Pending {
  readonly event: PreferenceChangeEvent;
  readonly cursor: string | null;
}

/** A result being rendered or ready; `live` is its change when it is live. */
interface Queued {
  readonly result: Promise<RenderedChange>;
  readonly live: PreferenceChangeEvent | null;
}

/**
 * One subscription's stream of results. It replays the change log after
 * the client's cursor, then continues with live changes, skipping any the
 * replay already delivered: no gap, no duplicate, cursor order.
 *
 * An all-realms feed does the same for every realm's log at once, keeping
 * one position per realm: each realm's changes come in that realm's
 * order, the realms interleaved as their changes arrive. Its cursors
 * encode every position, and it always starts by replaying (from the
 * client's cursor, or from the newest positions read before listening),
 * so that no change between two realms' starts is lost.
 *
 * Live changes are rendered as they arrive, so that every member of an
 * execution group asks for the same event at the same time and shares one
 * execution. A replay is rendered as the client takes it, a few ahead: a
 * backlog of thousands of changes must neither start thousands of
 * executions at once nor count as a slow consumer. Live changes that
 * arrive while a backlog is still being taken wait behind it, unrendered,
 * and those do count towards the bound.
 */
export class SubscriberFeed implements AsyncIterableIterator<RenderedChange> {
  /** Results being rendered or ready, in cursor order. */
  private readonly queue: Queued[] = [];
  /** Changes due after `queue`, not rendered yet (a replay, then live). */
  private readonly backlog: Pending[] = [];
  /** How many waiting results (queue, then backlog) come from the replay. */
  private replayedWaiting = 0;
  private waiting: ((result: IteratorResult<RenderedChange>) => void) | null =
    null;
  private failure: Error | null = null;
  private done = false;
  /** Live changes that arrive while the replay runs. */
  private buffered: PreferenceChangeEvent[] | null = [];
  /**
   * Per realm followed, the last cursor delivered (or replayed); later
   * ones only. Null: no change of that realm yet.
   */
  private readonly positions = new Map<string, string | null>();
  /** Whether results carry the all-realms cursor. */
  private readonly allRealms: boolean;

  private readonly listener: TailListener = {
    onEvents: (events) => this.onLive(events),
    onGap: () => this.fail(expiredCursor()),
  };

  constructor(private readonly options: SubscriberFeedOptions) {
    const { feed } = options;
    this.allRealms = feed.kind === 'all';
    for (const realm of feed.realms) this.positions.set(realm, null);
    if (!this.allRealms) this.positions.set(feed.realm, feed.after);
  }

  /** Starts listening, replays if asked to, then goes live. */
  async start(): Promise<void> {
    const { feed, tails } = this.options;
    let listening: Promise<void>[] = [];
    try {
      // Before listening: a position read later could pass a change that
      // the tails deliver before it, which would then be skipped.
      if (this.allRealms) await this.startPositions();
      listening = feed.realms.map((realm) => tails.add(realm, this.listener));
      await Promise.all(listening);
      if (this.allRealms) {
        for (const realm of feed.realms)
          await this.replay(realm, this.positions.get(realm) ?? null);
      } else if (feed.after !== null) {
        await this.replay(feed.realm, feed.after);
      }
    } catch (error) {
      await Promise.allSettled(listening);
      await this.end();
      throw error;
    }
    const pending = this.buffered ?? [];
    this.buffered = null;
    this.deliver(pending, false);
  }

  /** An all-realms feed's positions: the client's cursor, or the newest. */
  private async startPositions(): Promise<void> {
    const { feed, store } = this.options;
    if (feed.after !== null) {
      // Realms the cursor does not name had no change when it was made
      // (or were added since): they are replayed from their beginning.
      // Realms no longer configured are not followed.
      for (const [realm, cursor] of decodeAllRealmsCursor(feed.after)) {
        if (this.positions.has(realm)) this.positions.set(realm, cursor);
      }
      return;
    }
    const newest = await Promise.all(
      feed.realms.map((realm) => store.latestCursor(realm)),
    );
    feed.realms.forEach((realm, i) =>
      this.positions.set(realm, newest[i] ?? null),
    );
  }

  /** Delivers a realm's changes after `after` (null: all it keeps). */
  private async replay(realm: string, after: string | null): Promise<void> {
    const { store } = this.options;
    let cursor = after;
    for (;;) {
      const slice = await store.readChanges(realm, cursor, REPLAY_BATCH);
      if (slice.truncated) throw expiredCursor();
      this.deliver(slice.events, true);
      const last = slice.events.at(-1);
      if (!last || slice.events.length < REPLAY_BATCH) return;
      cursor = last.cursor;
    }
  }

  private onLive(events: readonly PreferenceChangeEvent[]): void {
    if (this.buffered) this.buffered.push(...events);
    else this.deliver(events, false);
  }

  /** Takes on the events this subscriber has not had yet. */
  private deliver(
    events: readonly PreferenceChangeEvent[],
    replayed: boolean,
  ): void {
    for (const event of events) {
      if (this.done) return;
      const position = this.positions.get(event.realm);
      if (position === undefined) continue;
      if (position !== null && compareCursors(event.cursor, position) <= 0)
        continue;
      this.positions.set(event.realm, event.cursor);
      // Checked for every event: the feed sees only its realm (and user).
      if (!feedSees(this.options.feed, event)) continue;
      const pending: Pending = {
        event,
        cursor: this.allRealms ? encodeAllRealmsCursor(this.positions) : null,
      };
      if (replayed) this.replayedWaiting += 1;
      if (replayed || this.backlog.length > 0) this.backlog.push(pending);
      else this.queue.push(this.render(pending, false));
    }
    this.handOver();
    const liveWaiting =
      this.queue.length + this.backlog.length - this.replayedWaiting;
    if (liveWaiting > this.options.maxQueued) {
      this.options.onOverflow();
      void this.end();
    }
  }

  /** The next result in order, rendering replayed ones a few ahead. */
  private take(): Queued | undefined {
    while (this.backlog.length > 0 && this.queue.length < REPLAY_RENDER_AHEAD) {
      // Replayed results come first, so the head of the backlog is one
      // while fewer of them than that wait in the queue.
      const replayed = this.queue.length < this.replayedWaiting;
      const pending = this.backlog.shift() as Pending;
      this.queue.push(this.render(pending, replayed));
    }
    const head = this.queue.shift();
    if (head && this.replayedWaiting > 0) this.replayedWaiting -= 1;
    return head;
  }

  /** The result of one change (shared with the rest of the group). */
  private render({ event, cursor }: Pending, replayed: boolean): Queued {
    return {
      result: this.options.group.render(event, cursor),
      live: replayed ? null : event,
    };
  }

  /**
   * The iterator result of a queued change, reported if it is live. One
   * promise reaction per subscriber and change: with thousands of
   * subscribers of one change, every extra step here is paid thousands
   * of times before the first of them is written to its socket.
   */
  private handed(head: Queued): Promise<IteratorResult<RenderedChange>> {
    return head.result.then((value) => this.reported(head, value));
  }

  private reported(
    head: Queued,
    value: RenderedChange,
  ): IteratorResult<RenderedChange> {
    if (head.live) this.options.onLiveResult?.(head.live);
    return { value, done: false };
  }

  /** Gives a waiting `next()` its result, if there is one now. */
  private handOver(): void {
    if (!this.waiting) return;
    const head = this.take();
    if (!head) return;
    const resolve = this.waiting;
    this.waiting = null;
    head.result.then(
      (value) => resolve(this.reported(head, value)),
      (error: unknown) => this.fail(error as Error),
    );
  }

  private fail(error: Error): void {
    this.failure = error;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({
        value: { data: null, errors: [formatted(error)] },
        done: false,
      });
      void this.end();
    }
  }

  // Not `async`: an async function that returns a promise adds steps.
  next(): Promise<IteratorResult<RenderedChange>> {
    const head = this.take();
    if (head) return this.handed(head);
    if (this.failure && !this.done) {
      const error = this.failure;
      void this.end();
      return Promise.resolve({
        value: { data: null, errors: [formatted(error)] },
        done: false,
      });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  async return(): Promise<IteratorResult<RenderedChange>> {
    await this.end();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private async end(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.backlog.length = 0;
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.({ value: undefined, done: true });
    const { feed, tails } = this.options;
    await Promise.all(
      feed.realms.map((realm) => tails.remove(realm, this.listener)),
    );
    this.options.onEnd();
  }
}

function expiredCursor() {
  return realmsError(
    'CURSOR_EXPIRED',
    'Changes after this cursor are no longer kept. Re-read the preference, ' +
      'then subscribe again without `after`.',
  );
}

function formatted(error: Error) {
  const extensions = (error as { extensions?: Record<string, unknown> })
    .extensions;
  return { message: error.message, ...(extensions ? { extensions } : {}) };
}
