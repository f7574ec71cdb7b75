import { randomUUID } from 'node:crypto';
import type { GatewayMetrics, Logger, PreferenceStore } from '@realms/platform';

/** Options of {@link SubscriptionReporter.start}. */
export interface SubscriptionReporterOptions {
  /** Where the counts go (the state store the core subgraph reads). */
  readonly store: PreferenceStore;
  /**
   * The gateway's metrics: the `realms_subscriptions_active` gauge is what
   * is reported, so the overview and `/metrics` never disagree.
   */
  readonly metrics: GatewayMetrics;
  /** The realms to report on (the configuration in force). */
  readonly realmIds: () => readonly string[];
  readonly logger: Logger;
  /**
   * How often the counts are written. A report holds for three intervals,
   * so a gateway that stops (crashes) drops out of the sums after that.
   * @default 5_000
   */
  readonly intervalMs?: number;
  /** This gateway's id in the reports. @default a random UUID */
  readonly gatewayId?: string;
}

/** How many intervals one report holds. */
const REPORT_LIFETIME_INTERVALS = 3;

/**
 * Tells the core subgraph how many subscriptions this gateway has open:
 * every `intervalMs` it writes its count per realm to the state store (in
 * Redis, a hash per realm with a TTL'd heartbeat key per gateway; in
 * memory, the shared store's registry), where `realmOverview` sums the
 * reports of every live gateway. Counts are as of the last report.
 */
export class SubscriptionReporter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private readonly gatewayId: string;
  private readonly intervalMs: number;

  private constructor(private readonly options: SubscriptionReporterOptions) {
    this.gatewayId = options.gatewayId ?? randomUUID();
    this.intervalMs = options.intervalMs ?? 5_000;
  }

  /** Reports once now, then every interval. */
  static start(options: SubscriptionReporterOptions): SubscriptionReporter {
    const reporter = new SubscriptionReporter(options);
    reporter.schedule();
    reporter.timer = setInterval(
      () => reporter.schedule(),
      reporter.intervalMs,
    );
    reporter.timer.unref();
    return reporter;
  }

  /** Writes the current counts (one report at a time). */
  report(): Promise<void> {
    this.running = this.running.then(() => this.write());
    return this.running;
  }

  /** Stops reporting and withdraws this gateway's counts. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    const zeros = new Map(this.options.realmIds().map((realm) => [realm, 0]));
    await this.options.store
      .reportSubscriptions(this.gatewayId, zeros, 1)
      .catch((error: unknown) => {
        this.options.logger.warn(
          { err: error },
          'subscription counts not withdrawn',
        );
      });
  }

  private schedule(): void {
    this.report().catch(() => undefined);
  }

  private async write(): Promise<void> {
    try {
      const counts = await this.counts();
      await this.options.store.reportSubscriptions(
        this.gatewayId,
        counts,
        this.intervalMs * REPORT_LIFETIME_INTERVALS,
      );
    } catch (error) {
      this.options.logger.warn(
        { err: error },
        'subscription counts not reported',
      );
    }
  }

  /** Every known realm's open subscriptions (of every kind) from the gauge. */
  private async counts(): Promise<Map<string, number>> {
    const counts = new Map(this.options.realmIds().map((realm) => [realm, 0]));
    const gauge = await this.options.metrics.activeSubscriptions.get();
    for (const { labels, value } of gauge.values) {
      const realm = String(labels['realm'] ?? '');
      if (counts.has(realm))
        counts.set(realm, (counts.get(realm) ?? 0) + value);
    }
    return counts;
  }
}
