import { hash } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { Identity, RealmTokenVerifier } from '@realms/platform';

export interface VerifiedTokenOptions {
  /** Most tokens remembered; the oldest go first. */
  readonly maxEntries: number;
  /**
   * How long a verification is trusted without checking the signature
   * again. A key dropped from a realm's key set does not wait for it: a
   * remembered verification is dropped as soon as the realm's key set
   * generation moves (RealmTokenVerifier.keySetGeneration).
   */
  readonly ttlMs: number;
}

/**
 * Remembers 30,000 tokens for 60 seconds. At 5 s (the key-file check
 * interval, which bounded key removal before generations did) any user
 * reading less often than every 5 s paid an ES256 check on nearly every
 * request: measured, a third of the benchmark's requests (bench/README.md).
 */
export const DEFAULT_VERIFIED_TOKENS: VerifiedTokenOptions = {
  maxEntries: 30_000,
  ttlMs: 60_000,
};

interface Entry {
  readonly identity: Promise<Identity>;
  readonly expiresAtMs: number;
  /** The realm's key set generation the token was verified under. */
  readonly generation: number;
}

/**
 * A realm token verifier that remembers, for a minute, the tokens it
 * accepted, so a client's next requests skip the ES256 signature check
 * (about 0.1–0.3 ms of CPU each on our hardware, most of a cached read).
 * A verification counts only under the key set generation it was made
 * in: when the realm's keys change, every remembered token of that realm
 * is verified again, so a removed key stops its tokens within the key
 * file check interval (5 s), as it does without this cache.
 * Keyed by realm and the exact token text: a token accepted in one realm
 * proves nothing in another. Only accepted tokens are kept, never past
 * their `exp`; a refusal is always decided again by the verifier.
 */
export function withVerifiedTokenCache(
  verifier: RealmTokenVerifier,
  options: VerifiedTokenOptions = DEFAULT_VERIFIED_TOKENS,
): RealmTokenVerifier {
  const entries = new Map<string, Entry>();

  const verify = (token: string, realmId: string): Promise<Identity> => {
    // Keyed by a digest, not the token itself: 43 characters instead of
    // the token's several hundred, for each of up to 30,000 entries.
    const key = `${realmId}\n${hash('sha256', token, 'base64url')}`;
    const now = Date.now();
    const generation = verifier.keySetGeneration(realmId);
    const entry = entries.get(key);
    if (entry && entry.expiresAtMs > now && entry.generation === generation)
      return entry.identity;
    if (entry) entries.delete(key);

    const identity = verifier.verify(token, realmId);
    const expiresAtMs = Math.min(now + options.ttlMs, expiryMs(token));
    entries.set(key, { identity, expiresAtMs, generation });
    while (entries.size > options.maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
    // A refusal is not remembered: the next request asks the verifier.
    identity.catch(() => {
      if (entries.get(key)?.identity === identity) entries.delete(key);
    });
    return identity;
  };

  // The verifier's own methods stay (prototype); only `verify` changes.
  const cached = Object.create(verifier) as RealmTokenVerifier;
  cached.verify = verify;
  return cached;
}

/** The token's `exp` in epoch ms; 0 (never cached) when it has none. */
function expiryMs(token: string): number {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 : 0;
  } catch {
    return 0;
  }
}
