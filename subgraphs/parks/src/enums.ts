/**
 * GraphQL enum values and the JSON strings the parks realm schema
 * (`schema/realms/parks.json`) stores for them. Clients see the enum
 * names; stored values and validation stay in the schema's words. A test
 * checks that each map covers exactly the schema's `enum`.
 */

/** `Park` ↔ values of `parks.homePark`. */
export const PARKS = {
  HARBOR_KINGDOM: 'harbor-kingdom',
  FRONTIER_LANDS: 'frontier-lands',
  STARLIGHT_STUDIOS: 'starlight-studios',
  WILD_REEF: 'wild-reef',
} as const;

/** `DietaryRestriction` ↔ items of `parks.dietaryRestrictions`. */
export const DIETARY_RESTRICTIONS = {
  VEGETARIAN: 'vegetarian',
  VEGAN: 'vegan',
  GLUTEN_FREE: 'gluten-free',
  DAIRY_FREE: 'dairy-free',
  NUT_ALLERGY: 'nut-allergy',
  SHELLFISH_ALLERGY: 'shellfish-allergy',
  HALAL: 'halal',
  KOSHER: 'kosher',
} as const;

/** `DiningPlan` ↔ values of `parks.diningPlan`. */
export const DINING_PLANS = {
  NONE: 'none',
  QUICK_SERVICE: 'quick-service',
  STANDARD: 'standard',
  DELUXE: 'deluxe',
} as const;

/** `AccessibilityNeed` ↔ items of `parks.accessibilityNeeds`. */
export const ACCESSIBILITY_NEEDS = {
  WHEELCHAIR: 'wheelchair',
  ECV: 'ecv',
  HEARING: 'hearing',
  VISION: 'vision',
  SENSORY_FRIENDLY: 'sensory-friendly',
  RIDER_SWITCH: 'rider-switch',
} as const;

/** `CrowdTolerance` ↔ values of `parks.crowdTolerance`. */
export const CROWD_TOLERANCES = {
  LOW: 'low',
  MEDIUM: 'medium',
  HIGH: 'high',
} as const;
