/**
 * Label values with a bound on how many distinct ones a service ever
 * exports. Every distinct combination of labels is a time series that
 * Prometheus keeps; a label a client can choose freely (an operation
 * name, say) would let one client create series without end. Nothing
 * that names a user goes into a label at all.
 */

/** The value of a label that was not one of the admitted values. */
export const OTHER_LABEL = 'other';

/** The realm label of a request whose realm is not in the catalog. */
export const UNKNOWN_REALM_LABEL = 'unknown';

/** What a GraphQL name looks like (an operation or a Redis command). */
const NAME_PATTERN = /^[_A-Za-z][_0-9A-Za-z.-]{0,63}$/;

/**
 * Admits the first `maxValues` distinct values it sees and folds any
 * later one into `other`. Values that do not look like names (too long,
 * odd characters) are folded too, so no free text reaches a label.
 */
export class BoundedLabel {
  private readonly admitted = new Set<string>();

  constructor(private readonly maxValues: number) {}

  /** The label value to export for `value`. */
  of(value: string): string {
    if (this.admitted.has(value)) return value;
    if (!NAME_PATTERN.test(value) || this.admitted.size >= this.maxValues)
      return OTHER_LABEL;
    this.admitted.add(value);
    return value;
  }
}

/**
 * The realm label: the realm id when the catalog knows it, otherwise
 * `unknown`. A realm id comes from a header or a signed identity; only
 * catalog realms may become series.
 */
export function realmLabel(
  realm: string | null | undefined,
  knownRealms: readonly string[],
): string {
  return realm && knownRealms.includes(realm) ? realm : UNKNOWN_REALM_LABEL;
}
