import { RESET, type KeyChange } from '@realms/platform';

/** Where one entertainment key sits in `EntertainmentPreferencesInput`. */
interface InputField {
  readonly path: readonly string[];
  readonly key: string;
}

/** Every entertainment key the mutation can change, by input place. */
const INPUT_FIELDS: readonly InputField[] = [
  { path: ['genres'], key: 'entertainment.genres' },
  { path: ['maturityRating'], key: 'entertainment.maturityRating' },
  { path: ['languages'], key: 'entertainment.languages' },
  { path: ['autoplay'], key: 'entertainment.autoplay' },
];

/** The name of the mutation argument the input arrives in. */
const INPUT_ARGUMENT = 'input';

/**
 * Turns `EntertainmentPreferencesInput` into one change per key it names.
 * A value sets the key; null resets it to the inherited value; an omitted
 * field is no change. Each change carries its input path, so violations
 * point at the field. (The input is flat today; the walk also serves
 * groups.)
 */
export function entertainmentChanges(
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
