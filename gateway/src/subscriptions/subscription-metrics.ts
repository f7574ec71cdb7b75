import {
  realmLabel,
  type GatewayMetrics,
  type PreferenceChangeEvent,
} from '@realms/platform';
import type { FeedRequest } from './feed-request.js';

type FeedLabels = { readonly realm: string; readonly kind: string };

/**
 * What the subscription server measures: open subscriptions, results
 * delivered, and how long a change took from its write to a live
 * subscriber. Without metrics every method does nothing.
 *
 * `delivered` and `synced` run once per subscriber and change, on the
 * way to the subscriber's socket: with a thousand subscribers of one
 * change, a microsecond each delays the last of them by a millisecond.
 * So they only note what happened (labels computed once per feed or
 * event), and the metrics are updated after the sends, once per turn of
 * the event loop: counts as one increment per label set, latencies as
 * one observation each.
 */
export class SubscriptionMetrics {
  private readonly feedLabels = new WeakMap<FeedRequest, FeedLabels>();
  private readonly labelSets = new Map<string, FeedLabels>();
  /** Per event: the realm label and when the change was stored (epoch ms). */
  private readonly events = new WeakMap<
    PreferenceChangeEvent,
    { readonly realm: string; readonly storedAtMs: number }
  >();
  /** Deliveries not counted yet, by feed label set. */
  private readonly deliveries = new Map<FeedLabels, number>();
  /** Sync latencies not observed yet: realm label, seconds, in pairs. */
  private syncs: (string | number)[] = [];
  private flushing = false;

  constructor(
    private readonly metrics: GatewayMetrics | undefined,
    private readonly knownRealms: () => readonly string[],
  ) {}

  /**
   * Counts `iterator` as an open subscription until it ends: done, an
   * error, or `return()` (the client completed or the socket closed;
   * graphql-ws returns every open iterator then).
   */
  track<T>(
    feed: FeedRequest,
    iterator: AsyncIterableIterator<T>,
  ): AsyncIterableIterator<T> {
    const metrics = this.metrics;
    if (!metrics) return iterator;

    const labels = this.labels(feed);
    metrics.activeSubscriptions.inc(labels);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      metrics.activeSubscriptions.dec(labels);
    };
    const ended = (result: IteratorResult<T>) => {
      if (result.done) close();
      return result;
    };
    const failed = (error: unknown) => {
      close();
      throw error;
    };
    const tracked: AsyncIterableIterator<T> = {
      // A plain reaction, not an async function: one step per result.
      next: () => iterator.next().then(ended, failed),
      return: async (value?: unknown) => {
        close();
        return iterator.return
          ? iterator.return(value)
          : { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => tracked,
    };
    return tracked;
  }

  /** One result handed to graphql-ws for a subscriber of `feed`. */
  delivered(feed: FeedRequest): void {
    if (!this.metrics) return;
    const labels = this.labels(feed);
    this.deliveries.set(labels, (this.deliveries.get(labels) ?? 0) + 1);
    this.scheduleFlush();
  }

  /**
   * A live change's result is ready for its subscriber. The latency runs
   * from the event's `at`, stamped by the subgraph that stored the write:
   * clocks of different hosts add their skew (clamped at zero).
   */
  synced(event: PreferenceChangeEvent): void {
    if (!this.metrics) return;
    let known = this.events.get(event);
    if (!known) {
      known = {
        realm: realmLabel(event.realm, this.knownRealms()),
        storedAtMs: Date.parse(event.at),
      };
      this.events.set(event, known);
    }
    const seconds = (Date.now() - known.storedAtMs) / 1000;
    if (!Number.isFinite(seconds)) return;
    this.syncs.push(known.realm, Math.max(0, seconds));
    this.scheduleFlush();
  }

  /** Updates the metrics once the current sends are done. */
  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    const metrics = this.metrics;
    if (!metrics) return;

    for (const [labels, count] of this.deliveries)
      metrics.eventsDelivered.inc(labels, count);
    this.deliveries.clear();

    const syncs = this.syncs;
    this.syncs = [];
    for (let i = 0; i < syncs.length; i += 2) {
      metrics.stateSyncSeconds.observe(
        { realm: syncs[i] as string },
        syncs[i + 1] as number,
      );
    }
  }

  /**
   * A feed's labels: one object per label set, shared by every feed that
   * has it, so that `deliveries` counts each set once.
   */
  private labels(feed: FeedRequest): FeedLabels {
    let labels = this.feedLabels.get(feed);
    if (!labels) {
      const realm = realmLabel(feed.realm, this.knownRealms());
      const key = `${realm}\u0000${feed.kind}`;
      labels = this.labelSets.get(key) ?? { realm, kind: feed.kind };
      this.labelSets.set(key, labels);
      this.feedLabels.set(feed, labels);
    }
    return labels;
  }
}
