import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Logger } from '../logging/logger.js';
import type { RealmConfig } from '../realm-config/catalog.js';

/** Tolerated clock difference between a realm's issuer and us, by default. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;

/**
 * The `auth` object of a realm file. `RealmConfig.auth` is typed with
 * issuer and audience only; the catalog passes the validated object
 * through, so the optional members below are read from it at run time.
 */
export interface RealmAuthSettings {
  readonly issuer: string;
  readonly audience: string;
  /** A remote JWKS (https, or http on a loopback host for local tests). */
  readonly jwksUrl?: string;
  /** A key set file, relative to the keys directory. */
  readonly jwksFile?: string;
  /** @default 30 */
  readonly clockToleranceSeconds?: number;
}

/** Where a realm's public keys come from. */
export type RealmKeySource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'url'; readonly url: URL };

/** The key source and clock tolerance a realm's tokens are checked with. */
export interface RealmKeySettings {
  readonly source: RealmKeySource;
  readonly clockToleranceSeconds: number;
}

/** How key sets are kept fresh. Every member is optional. */
export interface KeySetOptions {
  /**
   * How often a key set file is checked for changes (by modification
   * time, size and inode), at most. Lower it in tests; 0 checks on every
   * token.
   * @default 5000
   */
  readonly keyFileCheckIntervalMs?: number;
  /**
   * How long a JWKS request may take before the token is refused.
   * @default 5000
   */
  readonly jwksTimeoutMs?: number;
  /**
   * After a fetch, how long a token with an unknown `kid` is refused
   * without fetching again, so that made-up key ids cannot make us hammer
   * the identity provider.
   * @default 30000
   */
  readonly jwksCooldownMs?: number;
  /**
   * How long a fetched JWKS is used before it is fetched again.
   * @default 600000
   */
  readonly jwksCacheMaxAgeMs?: number;
  /** Receives warnings about key sets that could not be (re)read. */
  readonly logger?: Logger;
}

const DEFAULT_KEY_FILE_CHECK_INTERVAL_MS = 5_000;

/** The file a realm's public keys are in when its realm file names none. */
export function defaultKeySetFile(dir: string, realmId: string): string {
  return join(dir, `${realmId}.jwks.json`);
}

/** The realm file a realm comes from, for start-up error messages. */
function realmFileOf(realm: RealmConfig): string {
  return `schema/realms/${realm.id}.json`;
}

/**
 * Reads the key source and clock tolerance from a realm's `auth`. The
 * meta-schema already checks these; this repeats the checks that matter
 * for security, for configurations built without it. Throws an Error
 * naming the realm file.
 */
export function realmKeySettings(
  realm: RealmConfig,
  keysDir: string,
): RealmKeySettings {
  const auth = realm.auth as Readonly<Record<string, unknown>>;
  const fail = (message: string): never => {
    throw new Error(`${realmFileOf(realm)}: auth.${message}`);
  };

  const tolerance = auth['clockToleranceSeconds'];
  if (
    tolerance !== undefined &&
    !(typeof tolerance === 'number' && Number.isInteger(tolerance))
  ) {
    fail('clockToleranceSeconds must be a whole number of seconds');
  }
  if (typeof tolerance === 'number' && (tolerance < 0 || tolerance > 300)) {
    fail('clockToleranceSeconds must be between 0 and 300');
  }
  const clockToleranceSeconds =
    (tolerance as number | undefined) ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;

  const jwksUrl = auth['jwksUrl'];
  const jwksFile = auth['jwksFile'];
  if (jwksUrl !== undefined && jwksFile !== undefined) {
    fail('jwksUrl and auth.jwksFile exclude each other; give one');
  }
  if (jwksUrl !== undefined) {
    return {
      source: { kind: 'url', url: parseJwksUrl(jwksUrl, fail) },
      clockToleranceSeconds,
    };
  }
  if (jwksFile !== undefined) {
    return {
      source: { kind: 'file', path: resolveJwksFile(jwksFile, keysDir, fail) },
      clockToleranceSeconds,
    };
  }
  return {
    source: { kind: 'file', path: defaultKeySetFile(keysDir, realm.id) },
    clockToleranceSeconds,
  };
}

/** https only, except plain http to this machine (a local test server). */
function parseJwksUrl(value: unknown, fail: (message: string) => never): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    return fail('jwksUrl must be an absolute URL');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  return fail(
    'jwksUrl must use https (plain http only for a loopback host such as ' +
      `127.0.0.1), not ${url.protocol}//${url.hostname}`,
  );
}

/** `localhost`, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  const bare = hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIPv4(bare)) return bare.startsWith('127.');
  return bare === '::1';
}

/** A path inside the keys directory; `..` may not climb out of it. */
function resolveJwksFile(
  value: unknown,
  keysDir: string,
  fail: (message: string) => never,
): string {
  if (typeof value !== 'string' || value === '' || isAbsolute(value)) {
    return fail('jwksFile must be a path relative to the keys directory');
  }
  const path = resolve(keysDir, value);
  const inside = relative(resolve(keysDir), path);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    return fail('jwksFile must stay inside the keys directory');
  }
  return path;
}

/**
 * Opens a realm's key set: reads a file now (a missing or broken file
 * stops start-up), or prepares a remote JWKS that is fetched on the
 * first token (an identity provider that is down at start-up does not
 * stop the gateway; its tokens are refused until it answers).
 */
/** A realm's trusted keys, as the verifier asks for them. */
export interface RealmKeySet {
  readonly getKey: JWTVerifyGetKey;
  /**
   * A number that changes whenever the trusted keys change, so that a
   * verification remembered under one generation can be dropped when a
   * key is removed. Asking is cheap and never waits: for a key set file
   * it starts the due change check in the background, so a removal counts
   * within the check interval even when no token needs verifying.
   */
  generation(): number;
}

export async function openKeySet(
  realmId: string,
  source: RealmKeySource,
  options: KeySetOptions = {},
): Promise<RealmKeySet> {
  switch (source.kind) {
    case 'file':
      return KeySetFile.open(realmId, source.path, options);
    case 'url': {
      // jose refetches the set itself (after `cacheMaxAge`, or early for
      // an unknown kid) and does not say when; a key dropped from a JWKS
      // is therefore trusted until that refetch whatever we remember.
      const getKey = createRemoteJWKSet(source.url, {
        timeoutDuration: options.jwksTimeoutMs ?? 5_000,
        cooldownDuration: options.jwksCooldownMs ?? 30_000,
        cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
      });
      return { getKey, generation: () => 0 };
    }
  }
}

/**
 * A key set file that follows its changes, so that a rotated key is
 * trusted without a restart. At most every `keyFileCheckIntervalMs` the
 * file is stat'ed; when its modification time, size or inode changed it
 * is read again. A file that cannot be read or parsed any more leaves the
 * previous keys in place (a warning is logged) and is retried at the next
 * check: a botched edit must not lock every user out. Write the file
 * atomically (a temporary file, then rename), as `rotateDevKey` does.
 */
class KeySetFile implements RealmKeySet {
  private checkedAtMs = Date.now();
  private pendingCheck: Promise<void> | undefined;
  private keysGeneration = 0;

  private constructor(
    private readonly realmId: string,
    private readonly path: string,
    private readonly intervalMs: number,
    private readonly logger: Logger | undefined,
    private keys: JWTVerifyGetKey,
    private fingerprint: string,
  ) {}

  static async open(
    realmId: string,
    path: string,
    options: KeySetOptions,
  ): Promise<KeySetFile> {
    const { keys, fingerprint } = await readKeySetFile(path);
    return new KeySetFile(
      realmId,
      path,
      options.keyFileCheckIntervalMs ?? DEFAULT_KEY_FILE_CHECK_INTERVAL_MS,
      options.logger,
      keys,
      fingerprint,
    );
  }

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const check = this.dueCheck();
    if (check) await check;
    return this.keys(header, token);
  };

  generation(): number {
    // Not awaited: the answer is the generation as of now, and the check
    // bumps it for the callers after it.
    this.dueCheck()?.catch(() => undefined);
    return this.keysGeneration;
  }

  /** The change check, started if the interval passed; one at a time. */
  private dueCheck(): Promise<void> | undefined {
    if (Date.now() - this.checkedAtMs >= this.intervalMs) {
      this.pendingCheck ??= this.check().finally(() => {
        this.pendingCheck = undefined;
      });
    }
    return this.pendingCheck;
  }

  private async check(): Promise<void> {
    this.checkedAtMs = Date.now();
    try {
      if ((await fingerprintOf(this.path)) === this.fingerprint) return;
      const { keys, fingerprint } = await readKeySetFile(this.path);
      this.keys = keys;
      this.fingerprint = fingerprint;
      this.keysGeneration += 1;
    } catch (error) {
      this.logger?.warn(
        { realm: this.realmId, file: this.path, err: error },
        'realm key set file could not be re-read; keeping the previous keys',
      );
    }
  }
}

async function fingerprintOf(path: string): Promise<string> {
  const { mtimeMs, size, ino } = await stat(path);
  return `${mtimeMs}:${size}:${ino}`;
}

async function readKeySetFile(
  path: string,
): Promise<{ keys: JWTVerifyGetKey; fingerprint: string }> {
  // Fingerprint first: a change between the two reads is seen next time.
  const fingerprint = await fingerprintOf(path);
  const jwks = JSON.parse(await readFile(path, 'utf8')) as JSONWebKeySet;
  return { keys: createLocalJWKSet(jwks), fingerprint };
}

/** Writes a file whole or not at all: readers never see half of it. */
export async function writeFileAtomic(
  path: string,
  data: string,
  mode: number,
): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, data, { mode });
  await rename(temporary, path);
}
