// What the gateway benchmark sends: the operations of each workload, the
// users and how popular each is.

export const REALMS = ['sports', 'entertainment', 'parks'] as const;
export type RealmId = (typeof REALMS)[number];

export type WorkloadName = 'read' | 'mixed' | 'admin-list';
export const WORKLOADS: readonly WorkloadName[] = [
  'read',
  'mixed',
  'admin-list',
];

/** Every gateway measured, and the core subgraph hit directly. */
export type TargetName = 'ours' | 'apollo' | 'hive' | 'core-direct';

/** The user ids, the same in every realm (a user has one global layer). */
export function userId(index: number): string {
  return `u${String(index).padStart(5, '0')}`;
}

/** Realm admins per realm; admin-list requests pick one at random. */
export const ADMINS_PER_REALM = 20;
export function adminId(index: number): string {
  return `admin-${String(index).padStart(2, '0')}`;
}

/** Each realm's division fields, as a client of that realm asks for them. */
export const DIVISION_SELECTION: Readonly<Record<RealmId, string>> = {
  sports: `sports { favoriteTeams statsUpdateFrequency
    gameAlerts { events channels quietHours { start end } } }`,
  entertainment: `entertainment { genres maturityRating languages autoplay }`,
  parks: `parks {
    trip { homePark partySize travelDates { start end } }
    dining { dietaryRestrictions plan }
    experience { accessibilityNeeds crowdTolerance thrillLevel } }`,
};

/**
 * Global keys a page asks for; each read picks one list, so requests
 * differ in variables too. Every list holds `displayName`, the key the
 * mixed workload writes, so every read can be checked for read-your-writes.
 */
export const KEY_LISTS: readonly (readonly string[])[] = [
  ['locale', 'timeZone', 'theme', 'displayName', 'reducedMotion'],
  ['displayName', 'notifications.channels', 'notifications.digest'],
  [
    'locale',
    'timeZone',
    'theme',
    'notifications.channels',
    'notifications.digest',
    'notifications.quietHours',
    'displayName',
    'marketingEmails',
    'reducedMotion',
  ],
];

/** The read: the caller's global values and the realm's division fields. */
export function readQuery(realm: RealmId): string {
  return `query MyPreferences($keys: [String!]) {
  myPreferences { id version values(keys: $keys) { key value source }
    ${DIVISION_SELECTION[realm]} } }`;
}

/** The same read's core part, as the gateway sends it to the core subgraph. */
export const CORE_READ_QUERY = `query MyPreferences($keys: [String!]) {
  myPreferences { id version values(keys: $keys) { key value source } } }`;

/** The write of the mixed workload: one global value of the caller's. */
export const WRITE_MUTATION = `mutation SetDisplayName($values: [PreferenceValueInput!]!) {
  setPreferences(values: $values) { id version } }`;

/** A realm admin lists a page of users with their division fields. */
export function adminListQuery(realm: RealmId): string {
  return `query RealmPreferences($first: Int, $after: String) {
  realmPreferences(first: $first, after: $after) {
    items { id userId values(keys: ["locale", "theme", "displayName"]) { key value }
      ${DIVISION_SELECTION[realm]} }
    nextCursor } }`;
}

/** Users listed by one admin-list request. */
export const ADMIN_PAGE_SIZE = 50;

/** A small, fast, seedable PRNG (mulberry32). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Zipf-distributed ranks 0..n-1 (rank 0 the most popular): P(k) ∝
 * 1/(k+1)^s. With s = 1 and 10,000 users the top 100 make up about half of
 * all requests, and most users are still asked for now and then.
 */
export function zipf(n: number, s: number, next: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k += 1) {
    sum += 1 / (k + 1) ** s;
    cdf[k] = sum;
  }
  for (let k = 0; k < n; k += 1) cdf[k] = (cdf[k] ?? 0) / sum;
  return () => {
    const u = next();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * Which user a popularity rank is: ranks are shuffled over user ids per
 * realm, so the popular users of one realm are not those of another.
 */
export function rankToUser(realmIndex: number, n: number): Int32Array {
  const next = random(1_000 + realmIndex);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i -= 1) {
    const j = Math.floor(next() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}
