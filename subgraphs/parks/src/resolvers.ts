import {
  badUserInput,
  forgetStoredPreference,
  referencedPreference,
  targetPreference,
  type PreferenceRef,
  type SubgraphContext,
  type SubgraphDefinition,
} from '@realms/platform';
import {
  ACCESSIBILITY_NEEDS,
  CROWD_TOLERANCES,
  DIETARY_RESTRICTIONS,
  DINING_PLANS,
  PARKS,
} from './enums.js';
import { parksChanges } from './input-changes.js';
import { loadParksView, PARKS_REALM, type ParksView } from './parks-values.js';

interface UpdateParksPreferencesArgs {
  readonly input: Readonly<Record<string, unknown>>;
  readonly expectedVersion?: number | null;
  readonly id?: string | null;
}

/**
 * Writes the parks keys named in the input, as the parks division, and
 * returns the preference for the gateway to resolve its other fields.
 */
async function updateParksPreferences(
  _: unknown,
  args: UpdateParksPreferencesArgs,
  context: SubgraphContext,
): Promise<PreferenceRef> {
  const target = targetPreference(context, args.id);
  assertParksPreference(target, args.id);

  await context.preferences.write({
    realm: target.realm,
    userId: target.userId,
    changes: parksChanges(args.input),
    expectedVersion: args.expectedVersion ?? null,
    writer: PARKS_REALM,
    actor: context.requireIdentity().userId,
    requestId: context.requestId,
  });
  forgetStoredPreference(context, target);
  return target;
}

/**
 * Refuses a preference of another realm: it has no parks keys. Access was
 * checked first, so the refusal tells nothing the caller may not know.
 */
function assertParksPreference(
  target: PreferenceRef,
  id: string | null | undefined,
): void {
  if (target.realm === PARKS_REALM) return;
  throw badUserInput([
    {
      path: id === undefined || id === null ? [] : ['id'],
      key: null,
      rule: 'realm',
      message:
        `preference "${target.id}" is of realm "${target.realm}"; ` +
        `updateParksPreferences changes ${PARKS_REALM} preferences only`,
    },
  ]);
}

/** The parks subgraph's resolvers. */
export const resolvers: SubgraphDefinition['resolvers'] = {
  Park: PARKS,
  DietaryRestriction: DIETARY_RESTRICTIONS,
  DiningPlan: DINING_PLANS,
  AccessibilityNeed: ACCESSIBILITY_NEEDS,
  CrowdTolerance: CROWD_TOLERANCES,

  Mutation: {
    updateParksPreferences,
  },

  Preference: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) =>
      referencedPreference(context, reference),
    parks: (ref: PreferenceRef, _: unknown, context: SubgraphContext) =>
      loadParksView(context, ref),
  },

  // The three groups are views of the same keys, split for clients.
  ParksPreferences: {
    trip: (view: ParksView) => view,
    dining: (view: ParksView) => view,
    experience: (view: ParksView) => view,
  },

  TripPlanning: {
    homePark: (view: ParksView) => view.value('homePark'),
    partySize: (view: ParksView) => view.value('partySize'),
    travelDates: (view: ParksView) => view.value('travelDates'),
  },

  DiningPreferences: {
    dietaryRestrictions: (view: ParksView) => view.value('dietaryRestrictions'),
    plan: (view: ParksView) => view.value('diningPlan'),
  },

  ExperienceSettings: {
    accessibilityNeeds: (view: ParksView) => view.value('accessibilityNeeds'),
    crowdTolerance: (view: ParksView) => view.value('crowdTolerance'),
    thrillLevel: (view: ParksView) => view.value('thrillLevel'),
  },
};
