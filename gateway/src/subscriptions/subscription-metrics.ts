import {
  realmLabel,
  type GatewayMetrics,
  type PreferenceChangeEvent,
} from '@realms/platform';
import type { FeedRequest } from './feed-request.js';

/**
 * What the subscription server measures: open subscriptions, results
 * delivered, and how long a change took from its write to a live
 * subscriber. Without metrics every method does nothing.
 */
export class SubscriptionMetrics {
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
    const tracked: AsyncIterableIterator<T> = {
      next: async () => {
        try {
          const result = await iterator.next();
          if (result.done) close();
          return result;
        } catch (error) {
          close();
          throw error;
        }
      },
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
    this.metrics?.eventsDelivered.inc(this.labels(feed));
  }

  /**
   * A live change's result is ready for its subscriber. The latency runs
   * from the event's `at`, stamped by the subgraph that stored the write:
   * clocks of different hosts add their skew (clamped at zero).
   */
  synced(event: PreferenceChangeEvent): void {
    const seconds = (Date.now() - Date.parse(event.at)) / 1000;
    if (!Number.isFinite(seconds)) return;
    this.metrics?.stateSyncSeconds.observe(
      { realm: realmLabel(event.realm, this.knownRealms()) },
      Math.max(0, seconds),
    );
  }

  private labels(feed: FeedRequest) {
    return {
      realm: realmLabel(feed.realm, this.knownRealms()),
      kind: feed.kind,
    };
  }
}
