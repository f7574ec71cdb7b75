import {
  compareCursors,
  realmsError,
  type PreferenceChangeEvent,
  type PreferenceStore,
} from '@realms/platform';
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
  /** Called when a live (not replayed) change's result is ready. */
  readonly onLiveResult?: (event: PreferenceChangeEvent) => void;
}

/** Replayed changes rendered ahead of the client, while it catches up. */
const REPLAY_RENDER_AHEAD = 8;

/**
 * One subscription's stream of results. It replays the change log after
 * the client's cursor, then continues with live changes, skipping any the
 * replay already delivered: no gap, no duplicate, cursor order.
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
  private readonly queue: Promise<RenderedChange>[] = [];
  /** Changes due after `queue`, not rendered yet (a replay, then live). */
  private readonly backlog: PreferenceChangeEvent[] = [];
  /** How many waiting results (queue, then backlog) come from the replay. */
  private replayedWaiting = 0;
  private waiting: ((result: IteratorResult<RenderedChange>) => void) | null =
    null;
  private failure: Error | null = null;
  private done = false;
  /** Live changes that arrive while the replay runs. */
  private buffered: PreferenceChangeEvent[] | null = [];
  /** The last cursor delivered (or replayed); later ones only. */
  private position: string | null;

  private readonly listener: TailListener = {
    onEvents: (events) => this.onLive(events),
    onGap: () => this.fail(expiredCursor()),
  };

  constructor(private readonly options: SubscriberFeedOptions) {
    this.position = options.feed.after;
  }

  /** Starts listening, replays if asked to, then goes live. */
  async start(): Promise<void> {
    const { feed, tails } = this.options;
    await tails.add(feed.realm, this.listener);
    try {
      if (feed.after !== null) await this.replay(feed.after);
    } catch (error) {
      await this.end();
      throw error;
    }
    const pending = this.buffered ?? [];
    this.buffered = null;
    this.deliver(pending, false);
  }

  private async replay(after: string): Promise<void> {
    const { feed, store } = this.options;
    let cursor = after;
    for (;;) {
      const slice = await store.readChanges(feed.realm, cursor, REPLAY_BATCH);
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
      if (
        this.position !== null &&
        compareCursors(event.cursor, this.position) <= 0
      )
        continue;
      this.position = event.cursor;
      // Checked for every event: the feed sees only its realm (and user).
      if (!feedSees(this.options.feed, event)) continue;
      if (replayed) this.replayedWaiting += 1;
      if (replayed || this.backlog.length > 0) this.backlog.push(event);
      else this.queue.push(this.render(event, false));
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
  private take(): Promise<RenderedChange> | undefined {
    while (this.backlog.length > 0 && this.queue.length < REPLAY_RENDER_AHEAD) {
      // Replayed results come first, so the head of the backlog is one
      // while fewer of them than that wait in the queue.
      const replayed = this.queue.length < this.replayedWaiting;
      const event = this.backlog.shift() as PreferenceChangeEvent;
      this.queue.push(this.render(event, replayed));
    }
    const head = this.queue.shift();
    if (head && this.replayedWaiting > 0) this.replayedWaiting -= 1;
    return head;
  }

  /** The result of one change, reported when ready if it is live. */
  private render(
    event: PreferenceChangeEvent,
    replayed: boolean,
  ): Promise<RenderedChange> {
    const result = this.options.group.render(event);
    const onLiveResult = this.options.onLiveResult;
    if (replayed || !onLiveResult) return result;
    return result.then((value) => {
      onLiveResult(event);
      return value;
    });
  }

  /** Gives a waiting `next()` its result, if there is one now. */
  private handOver(): void {
    if (!this.waiting) return;
    const head = this.take();
    if (!head) return;
    const resolve = this.waiting;
    this.waiting = null;
    head.then(
      (value) => resolve({ value, done: false }),
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

  async next(): Promise<IteratorResult<RenderedChange>> {
    const head = this.take();
    if (head) return { value: await head, done: false };
    if (this.failure && !this.done) {
      const error = this.failure;
      void this.end();
      return { value: { data: null, errors: [formatted(error)] }, done: false };
    }
    if (this.done) return { value: undefined, done: true };
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
    await this.options.tails.remove(this.options.feed.realm, this.listener);
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
