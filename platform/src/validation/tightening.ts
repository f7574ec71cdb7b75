/**
 * The rule that keeps realms honest: a realm override may narrow a global
 * rule, never widen it. An override is a small JSON Schema fragment; each
 * keyword it may carry has a direction in which it tightens.
 */

type Schema = Record<string, unknown>;

/** One way an override breaks the tightening rule. */
export interface TighteningProblem {
  /** Path of the keyword inside the override, e.g. `items.enum`. */
  readonly rule: string;
  readonly message: string;
}

/** Keywords that only describe a field and never affect what is valid. */
const ANNOTATIONS = new Set(['title', 'description', '$comment', 'default']);

/** Lower bounds: an override must not be smaller than the global one. */
const LOWER_BOUNDS = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems'];
/** Upper bounds: an override must not be larger than the global one. */
const UPPER_BOUNDS = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems'];

/**
 * Lists how `override` loosens `global`, or what it may not override at
 * all. An empty list means the override only tightens.
 */
export function checkTightening(
  global: Schema,
  override: Schema,
  path = '',
): TighteningProblem[] {
  const problems: TighteningProblem[] = [];
  for (const [keyword, value] of Object.entries(override)) {
    const rule = path + keyword;
    const globalValue = global[keyword];
    if (ANNOTATIONS.has(keyword)) continue;

    if (LOWER_BOUNDS.includes(keyword) || UPPER_BOUNDS.includes(keyword)) {
      if (typeof value !== 'number') {
        problems.push({ rule, message: `"${rule}" must be a number` });
      } else if (typeof globalValue === 'number') {
        const lower = LOWER_BOUNDS.includes(keyword);
        if (lower ? value < globalValue : value > globalValue) {
          problems.push({
            rule,
            message:
              `"${rule}" ${value} loosens the global ${keyword} ` +
              `${globalValue}; a realm may only tighten it`,
          });
        }
      }
      continue;
    }

    switch (keyword) {
      case 'enum':
        problems.push(...checkEnum(rule, global['enum'], value));
        break;
      case 'pattern':
        // Both patterns apply (see mergeOverride), so adding one tightens.
        if (typeof value !== 'string') {
          problems.push({ rule, message: `"${rule}" must be a string` });
        }
        break;
      case 'uniqueItems':
        if (value !== true && global['uniqueItems'] === true) {
          problems.push({
            rule,
            message: `"${rule}" cannot turn off the global uniqueItems`,
          });
        }
        break;
      case 'items':
        if (!isSchema(value) || !isSchema(globalValue)) {
          problems.push({
            rule,
            message: `"${rule}" can only tighten a global array's items`,
          });
        } else {
          problems.push(...checkTightening(globalValue, value, `${rule}.`));
        }
        break;
      default:
        problems.push({
          rule,
          message:
            `"${rule}" cannot be overridden by a realm; only defaults, ` +
            'enums, bounds, lengths, sizes, patterns and items can be tightened',
        });
    }
  }
  return problems;
}

function checkEnum(
  rule: string,
  globalEnum: unknown,
  overrideEnum: unknown,
): TighteningProblem[] {
  if (!Array.isArray(overrideEnum) || overrideEnum.length === 0) {
    return [{ rule, message: `"${rule}" must be a non-empty array` }];
  }
  if (!Array.isArray(globalEnum)) return [];
  const allowed = new Set(globalEnum.map((v) => JSON.stringify(v)));
  const added = overrideEnum.filter((v) => !allowed.has(JSON.stringify(v)));
  if (added.length === 0) return [];
  return [
    {
      rule,
      message:
        `"${rule}" loosens the global enum: adds ` +
        `${added.map((v) => JSON.stringify(v)).join(', ')}`,
    },
  ];
}

/**
 * The effective rules of a global field in a realm: the global schema with
 * the override's (already checked) tighter keywords in place. Two patterns
 * cannot share one keyword, so a second one goes into `allOf`.
 */
export function mergeOverride(global: Schema, override: Schema): Schema {
  const merged: Schema = { ...global };
  for (const [keyword, value] of Object.entries(override)) {
    if (keyword === '$comment') continue;
    if (keyword === 'items' && isSchema(value) && isSchema(global['items'])) {
      merged['items'] = mergeOverride(global['items'], value);
    } else if (keyword === 'pattern' && typeof global['pattern'] === 'string') {
      const allOf = Array.isArray(merged['allOf']) ? merged['allOf'] : [];
      merged['allOf'] = [...allOf, { pattern: value }];
    } else {
      merged[keyword] = value;
    }
  }
  return merged;
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
