import type { Logger } from 'pino';
import type { ChangeBus } from '../change-feed/change-bus.js';
import type { UserAccessChangeEvent } from '../change-feed/change-event.js';
import { unauthenticated } from '../errors/graphql-errors.js';
import {
  DEFAULT_ACCESS,
  effectiveRoles,
  parseAccess,
  type UserAccess,
} from '../storage/admin-state.js';
import type { PreferenceStore } from '../storage/preference-store.js';
import type { Identity } from './identity.js';
import type { IdentityAccess } from './realm-keys.js';

/** Options of {@link UserAccessRegistry.open}. */
export interface UserAccessRegistryOptions {
  readonly store: PreferenceStore;
  readonly bus: ChangeBus;
  /** The realms to follow (the configuration in force). */
  readonly realmIds: () => readonly string[];
  readonly logger: Logger;
  /**
   * How often everything is read again from the store. Announcements on
   * the bus are at most once (one sent while Redis pub/sub reconnects is
   * lost): this bounds how long such a loss can last.
   * @default 30_000
   */
  readonly resyncIntervalMs?: number;
}

/** The message a disabled user's tokens are refused with. */
export const DISABLED_USER_MESSAGE = 'This user is disabled in this realm.';

/**
 * Every process's copy of what admins changed about users: who is
 * disabled, and which roles were granted or revoked, per realm. Checking
 * a request is a map lookup, with no store round trip on the hot path.
 *
 * It is kept current by the change bus: an access change is announced
 * with the user's new access and its store namespace, and every registry
 * of the same namespace takes it when it arrives, with no store read; on
 * one Redis that is before the admin's mutation has even answered. The
 * process that made a change takes it at once
 * ({@link UserAccessRegistry.update}). A full re-read every
 * `resyncIntervalMs` heals an announcement lost to a reconnect.
 */
export class UserAccessRegistry implements IdentityAccess {
  private byRealm = new Map<string, Map<string, UserAccess>>();
  /** Users announced while a full read was running: read again after. */
  private pendingDuringLoad: Set<string> | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  private timer: NodeJS.Timeout | null = null;

  private constructor(private readonly options: UserAccessRegistryOptions) {}

  /** Subscribes to announcements, then reads every realm's access. */
  static async open(
    options: UserAccessRegistryOptions,
  ): Promise<UserAccessRegistry> {
    const registry = new UserAccessRegistry(options);
    registry.unsubscribe = await options.bus.subscribeAccessChanges((event) =>
      registry.announced(event),
    );
    await registry.reload();
    registry.timer = setInterval(() => {
      registry.reload().catch((error: unknown) => {
        options.logger.warn({ err: error }, 'user access re-read failed');
      });
    }, options.resyncIntervalMs ?? 30_000);
    registry.timer.unref();
    return registry;
  }

  /** A user's access in a realm, as this process knows it. */
  accessOf(realm: string, userId: string): UserAccess {
    return this.byRealm.get(realm)?.get(userId) ?? DEFAULT_ACCESS;
  }

  isDisabled(realm: string, userId: string): boolean {
    return this.accessOf(realm, userId).disabled;
  }

  /**
   * The identity a verified token stands for: UNAUTHENTICATED for a
   * disabled user, else the token's roles less those revoked in the
   * realm, plus those granted there.
   */
  apply(identity: Identity): Identity {
    const access = this.byRealm.get(identity.realm)?.get(identity.userId);
    if (!access) return identity;
    if (access.disabled) throw unauthenticated(DISABLED_USER_MESSAGE);
    return { ...identity, roles: effectiveRoles(identity.roles, access) };
  }

  /** Takes a change this process made, without waiting for the bus. */
  update(realm: string, userId: string, access: UserAccess): void {
    const users = this.byRealm.get(realm) ?? new Map<string, UserAccess>();
    users.set(userId, access);
    this.byRealm.set(realm, users);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /**
   * Takes an announced change at once, in the order announced: the next
   * request of that user already meets it. Another deployment's (another
   * store namespace on the same Redis) is none of ours.
   */
  private announced(event: UserAccessChangeEvent): void {
    const { realm, userId } = event;
    if (event.namespace !== this.options.store.namespace) return;
    if (!this.options.realmIds().includes(realm)) return;
    this.pendingDuringLoad?.add(JSON.stringify([realm, userId]));
    this.update(realm, userId, parseAccess(JSON.stringify(event.access)));
  }

  private async refresh(realm: string, userId: string): Promise<void> {
    if (!this.options.realmIds().includes(realm)) return;
    this.update(
      realm,
      userId,
      await this.options.store.readUserAccess(realm, userId),
    );
  }

  /**
   * Reads every realm's access and replaces the copy. Users announced
   * meanwhile are read again afterwards: the full read may predate them.
   */
  private async reload(): Promise<void> {
    const pending = new Set<string>();
    this.pendingDuringLoad = pending;
    try {
      const next = new Map<string, Map<string, UserAccess>>();
      for (const realm of this.options.realmIds()) {
        next.set(
          realm,
          new Map(await this.options.store.listUserAccess(realm)),
        );
      }
      this.byRealm = next;
    } finally {
      this.pendingDuringLoad = null;
    }
    for (const entry of pending) {
      const [realm, userId] = JSON.parse(entry) as [string, string];
      await this.refresh(realm, userId);
    }
  }
}
