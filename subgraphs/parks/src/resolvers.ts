import { divisionResolvers, type SubgraphDefinition } from '@realms/platform';
import {
  ACCESSIBILITY_NEEDS,
  CROWD_TOLERANCES,
  DIETARY_RESTRICTIONS,
  DINING_PLANS,
  PARKS,
} from './enums.js';
import { PARKS_INPUT_FIELDS } from './input-changes.js';
import {
  PARKS_REALM,
  type ParksValues,
  type ParksView,
} from './parks-values.js';

/** The parks subgraph's resolvers. */
export const resolvers: SubgraphDefinition['resolvers'] = {
  Park: PARKS,
  DietaryRestriction: DIETARY_RESTRICTIONS,
  DiningPlan: DINING_PLANS,
  AccessibilityNeed: ACCESSIBILITY_NEEDS,
  CrowdTolerance: CROWD_TOLERANCES,

  ...divisionResolvers<ParksValues>({
    realmId: PARKS_REALM,
    mutationName: 'updateParksPreferences',
    fields: PARKS_INPUT_FIELDS,
  }),

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
