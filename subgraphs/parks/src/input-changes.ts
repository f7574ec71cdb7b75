import { RESET, type KeyChange } from '@realms/platform';

/** Where one parks key sits in `ParksPreferencesInput`. */
interface InputField {
  readonly path: readonly string[];
  readonly key: string;
}

/** Every parks key the mutation can change, by its place in the input. */
const INPUT_FIELDS: readonly InputField[] = [
  { path: ['trip', 'homePark'], key: 'parks.homePark' },
  { path: ['trip', 'partySize'], key: 'parks.partySize' },
  { path: ['trip', 'travelDates'], key: 'parks.travelDates' },
  { path: ['dining', 'dietaryRestrictions'], key: 'parks.dietaryRestrictions' },
  { path: ['dining', 'plan'], key: 'parks.diningPlan' },
  {
    path: ['experience', 'accessibilityNeeds'],
    key: 'parks.accessibilityNeeds',
  },
  { path: ['experience', 'crowdTolerance'], key: 'parks.crowdTolerance' },
  { path: ['experience', 'thrillLevel'], key: 'parks.thrillLevel' },
];

/** The name of the mutation argument the input arrives in. */
const INPUT_ARGUMENT = 'input';

/**
 * Turns `ParksPreferencesInput` into one change per key it names. A value
 * sets the key; null resets it to the inherited value; an omitted field is
 * no change. A null group (`trip: null`) resets every key in it.
 * Each change carries its input path, so violations point at the field.
 */
export function parksChanges(
  input: Readonly<Record<string, unknown>>,
): KeyChange[] {
  return INPUT_FIELDS.flatMap(({ path, key }) => {
    const value = inputValue(input, path);
    if (value === undefined) return [];
    return [
      {
        key,
        value: value === null ? RESET : value,
        scope: null,
        path: [INPUT_ARGUMENT, ...path],
        valuePath: [INPUT_ARGUMENT, ...path],
      },
    ];
  });
}

/**
 * The value at `path`: undefined when a field on the way was omitted, null
 * when it or a group above it is an explicit null.
 */
function inputValue(input: unknown, path: readonly string[]): unknown {
  let current = input;
  for (const name of path) {
    if (current === null) return null;
    if (typeof current !== 'object' || !Object.hasOwn(current, name)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[name];
  }
  return current;
}
