import { randomUUID } from 'node:crypto';
import {
  migrateStored,
  needsMigration,
  type MigrationState,
  type PreferenceStore,
} from '@realms/platform';

/** How many users one step of the batch reads. */
const BATCH_SIZE = 200;

/** How far the batch got: users looked at, of how many. */
export interface MigrationProgress {
  readonly done: number;
  readonly total: number;
  /** Users whose stored values were rewritten so far. */
  readonly migrated: number;
}

export interface BatchMigrationOptions {
  readonly store: PreferenceStore;
  /** The realms to walk; every realm of the configuration in force. */
  readonly realms: readonly string[];
  /** The migrations in force (the live catalog's). */
  readonly state: () => MigrationState;
  /** Told after every batch of users. */
  readonly onProgress?: (progress: MigrationProgress) => void;
}

/**
 * Moves every stored preference through the migrations it has not had
 * yet, and stores the result: the batch half of a migration. It calls the
 * same `migrateStored` as the lazy read, so both give the same values.
 *
 * Each user is one compare-and-set write planned on what is stored at
 * that moment: a concurrent user write is never lost, the plan is made
 * again on top of it. Users already up to date are not written (their
 * version does not move). Writes land in the change log and the audit
 * log like any other (actor `migrate`); they are not announced on the
 * change bus, since no effective value changes.
 *
 * Known limitation: only users with a stored realm layer are listed (the
 * store has no index of user-global layers), so a user-global layer whose
 * owner never wrote a realm value is migrated lazily only.
 */
export async function migrateAllStoredValues(
  options: BatchMigrationOptions,
): Promise<MigrationProgress> {
  const { store } = options;
  const users: [string, string[]][] = [];
  let total = 0;
  for (const realm of options.realms) {
    const ids: string[] = [];
    let after: string | null = null;
    do {
      const page = await store.listUsers(realm, { after, limit: BATCH_SIZE });
      ids.push(...page.userIds);
      after = page.nextCursor;
    } while (after !== null);
    users.push([realm, ids]);
    total += ids.length;
  }

  let done = 0;
  let migrated = 0;
  options.onProgress?.({ done, total, migrated });
  for (const [realm, ids] of users) {
    for (let i = 0; i < ids.length; i += BATCH_SIZE) {
      const batch = ids.slice(i, i + BATCH_SIZE);
      const stored = await store.readMany(realm, batch);
      for (const preference of stored) {
        if (!needsMigration(preference, options.state())) continue;
        const outcome = await store.write(
          realm,
          preference.userId,
          (current) => {
            const { realmPatch, globalPatch } = migrateStored(
              current,
              options.state(),
            );
            return needsMigration(current, options.state())
              ? { realmPatch, globalPatch }
              : null;
          },
          {
            actor: 'migrate',
            requestId: `migrate-${randomUUID()}`,
            // Moving stored values is no one's use of the realm.
            countsAsUsage: false,
          },
          options.realms,
        );
        if (outcome.events.length > 0) migrated += 1;
      }
      done += batch.length;
      options.onProgress?.({ done, total, migrated });
    }
  }
  return { done, total, migrated };
}

/**
 * A progress bar for a terminal, redrawn in place; elsewhere (a log file,
 * CI) a plain line at every tenth of the way, so logs stay readable.
 */
export function progressBar(
  stream: NodeJS.WriteStream,
  width = 30,
): (progress: MigrationProgress) => void {
  let lastTenth = -1;
  return ({ done, total, migrated }) => {
    const ratio = total === 0 ? 1 : done / total;
    const text = `${done}/${total} users, ${migrated} migrated`;
    if (stream.isTTY) {
      const filled = Math.round(ratio * width);
      const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
      stream.write(`\r[${bar}] ${Math.round(ratio * 100)}% ${text}`);
      if (done === total) stream.write('\n');
      return;
    }
    const tenth = Math.floor(ratio * 10);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      stream.write(`${Math.round(ratio * 100)}% ${text}\n`);
    }
  };
}
