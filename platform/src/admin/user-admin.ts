import type { Logger } from 'pino';
import type { ChangeBus } from '../change-feed/change-bus.js';
import type { UserAccessRegistry } from '../identity/user-access.js';
import {
  recentUsageDates,
  type AdminAuditInput,
  type ErasureOutcome,
  type UsageDay,
  type UserAccess,
  type UserAccessChange,
} from '../storage/admin-state.js';
import type { PreferenceStore } from '../storage/preference-store.js';

/** Options of {@link UserAdmin}. */
export interface UserAdminOptions {
  readonly store: PreferenceStore;
  readonly bus: ChangeBus;
  /**
   * This process's access registry: told of a change at once, and asked
   * whether a caller is disabled. Without one nobody is refused here (the
   * gateway still refuses, with its own registry).
   */
  readonly access?: UserAccessRegistry;
  readonly logger: Logger;
  /** The time source of usage dates. @default () => new Date() */
  readonly clock?: () => Date;
}

/** A realm's counts, as the overview shows them. */
export interface RealmOverview {
  readonly realm: string;
  /** Users with stored values in the realm (its user index). */
  readonly users: number;
  readonly writesLastHour: number;
  readonly writesLastDay: number;
  /** Open subscriptions on every gateway, as last reported. */
  readonly activeSubscriptions: number;
}

/**
 * What admins do to users, and what they read about realms: access
 * (disable, enable, grant, revoke), erasure, the overview and usage.
 * Who may do it is the caller's part (the core subgraph's resolvers);
 * every change here is in the realm's audit log, stored with it.
 */
export class UserAdmin {
  private readonly clock: () => Date;

  constructor(private readonly options: UserAdminOptions) {
    this.clock = options.clock ?? (() => new Date());
  }

  /** Whether this process knows the user as disabled in the realm. */
  isDisabled(realm: string, userId: string): boolean {
    return this.options.access?.isDisabled(realm, userId) ?? false;
  }

  /** A user's access as stored (one store read). */
  readAccess(realm: string, userId: string): Promise<UserAccess> {
    return this.options.store.readUserAccess(realm, userId);
  }

  /**
   * A user's access as this process enforces it: from the registry, with
   * no store round trip (for listings), else as stored.
   */
  async enforcedAccess(realm: string, userId: string): Promise<UserAccess> {
    const { access } = this.options;
    return access
      ? access.accessOf(realm, userId)
      : this.readAccess(realm, userId);
  }

  /**
   * Changes a user's access, then makes it known: to this process at once,
   * to every other one through the bus. A failed announcement is logged:
   * the other processes' periodic re-read picks the change up.
   */
  async updateAccess(
    realm: string,
    userId: string,
    change: UserAccessChange,
    audit: AdminAuditInput,
  ): Promise<UserAccess> {
    const outcome = await this.options.store.updateUserAccess(
      realm,
      userId,
      change,
      audit,
    );
    this.options.access?.update(realm, userId, outcome.access);
    await this.options.bus
      .publishAccessChange({
        type: 'user-access.changed',
        namespace: this.options.store.namespace,
        realm,
        userId,
        access: outcome.access,
      })
      .catch((error: unknown) => {
        this.options.logger.error(
          { err: error, realm, requestId: audit.requestId },
          'access change stored but not announced',
        );
      });
    return outcome.access;
  }

  /**
   * Erases the user's stored values in the realm and publishes the change
   * event, so caches drop the preference and subscribers learn of it.
   */
  async erase(
    realm: string,
    userId: string,
    audit: AdminAuditInput,
  ): Promise<ErasureOutcome> {
    const outcome = await this.options.store.erasePreferences(
      realm,
      userId,
      audit,
    );
    if (outcome.event) {
      const event = outcome.event;
      await this.options.bus.publish(event).catch((error: unknown) => {
        this.options.logger.error(
          { err: error, requestId: audit.requestId, cursor: event.cursor },
          'erasure stored but not published',
        );
      });
    }
    return outcome;
  }

  /** A realm's counts: a handful of store reads, no scan. */
  async overview(realm: string): Promise<RealmOverview> {
    const { store } = this.options;
    const [users, recent, activeSubscriptions] = await Promise.all([
      store.countUsers(realm),
      store.readRecentWrites(realm),
      store.countSubscriptions(realm),
    ]);
    return {
      realm,
      users,
      writesLastHour: recent.lastHour,
      writesLastDay: recent.lastDay,
      activeSubscriptions,
    };
  }

  /** A realm's usage on the last `days` days (today first, UTC). */
  usage(realm: string, days: number, topKeys: number): Promise<UsageDay[]> {
    const dates = recentUsageDates(this.clock(), days);
    return this.options.store.readUsage(realm, dates, topKeys);
  }
}
