import { preferenceId } from '../change-feed/change-event.js';
import { errorCodeOf } from '../errors/graphql-errors.js';
import { refusalOutcome, type AuditEntryInput } from './audit-log.js';

/** Who makes a write, and from where: what every audit record of it says. */
export interface WriteCaller {
  /** The caller's user id. */
  readonly actor: string;
  readonly actorRoles: readonly string[];
  /**
   * The realm the request was made in. A write refused before access to
   * its target was granted is recorded in this realm's log, never in the
   * target's: the caller may not know whether the target exists.
   */
  readonly requestRealm: string;
  readonly requestId: string;
  readonly clientAddress: string | null;
}

/**
 * One write operation (a mutation field) as the audit log follows it.
 *
 * A write can be refused at several points: access to the target
 * (`targetPreference`), a division's own checks, validation and the
 * version check in the PreferenceService. The service records what it
 * refuses itself, with the requested changes; whatever is refused before
 * it, the subgraph server records from here, when the mutation fails.
 * This object tracks what that last step needs: which target was asked
 * for, whether access to it was granted, and whether a record was made.
 */
export class WriteAttempt {
  /** The id asked for; null for the caller's own; undefined if none yet. */
  private requested: string | null | undefined = undefined;
  private granted: { readonly id: string; readonly realm: string } | null =
    null;
  private recorded = false;

  constructor(readonly caller: WriteCaller) {}

  /** The operation asked to write `id` (null: the caller's own). */
  noteRequested(id: string | null): void {
    this.requested = id;
  }

  /** Access to the target was granted. */
  noteGranted(target: { readonly id: string; readonly realm: string }): void {
    this.granted = { id: target.id, realm: target.realm };
  }

  /** The write path made the audit record of this write. */
  markRecorded(): void {
    this.recorded = true;
  }

  /**
   * The record of a refusal the write path did not record itself, or null
   * when there is none to make: the error is no refusal, a record was
   * already made, or the operation never named a preference to write.
   *
   * Until access was granted, the record goes to the request's realm and
   * names only the requested id, so that realm's admins learn nothing new.
   * After, it goes to the target's realm, like an accepted write would.
   */
  unrecordedRefusal(error: unknown): AuditEntryInput | null {
    const outcome = refusalOutcome(error);
    if (outcome === null || this.recorded || this.requested === undefined) {
      return null;
    }
    const { caller } = this;
    const own = preferenceId(caller.requestRealm, caller.actor);
    return {
      realm: this.granted?.realm ?? caller.requestRealm,
      actor: caller.actor,
      actorRoles: [...caller.actorRoles],
      target: this.granted?.id ?? this.requested ?? own,
      outcome,
      changes: [],
      requestId: caller.requestId,
      clientAddress: caller.clientAddress,
      errorCode: errorCodeOf(error),
    };
  }
}
