import type { ConfigDocuments } from './config-versions.js';

/** One difference between two configurations. */
export interface ConfigDifference {
  /** Where, e.g. `realms/sports: overrides.theme.default`. */
  readonly path: string;
  /** The value before, or undefined when it was added. */
  readonly before: unknown;
  /** The value after, or undefined when it was removed. */
  readonly after: unknown;
}

/** Every leaf that differs between two configurations, in a stable order. */
export function diffConfig(
  before: ConfigDocuments,
  after: ConfigDocuments,
): ConfigDifference[] {
  const differences: ConfigDifference[] = [];
  diffValue('global', before.global, after.global, differences);
  diffValue('theme', before.theme, after.theme, differences);
  const realms = new Set([
    ...Object.keys(before.realms),
    ...Object.keys(after.realms),
  ]);
  for (const realm of [...realms].sort()) {
    diffValue(
      `realms/${realm}`,
      before.realms[realm],
      after.realms[realm],
      differences,
    );
  }
  return differences;
}

/**
 * The realms whose effective configuration differs: every realm when the
 * global schema or the base theme changed, else the realms that changed.
 */
export function changedRealms(
  differences: readonly ConfigDifference[],
  realmIds: readonly string[],
): string[] {
  if (
    differences.some(
      (d) => d.path.startsWith('global') || d.path.startsWith('theme'),
    )
  ) {
    return [...realmIds];
  }
  const changed = new Set(
    differences
      .map((d) => /^realms\/([^:]+)/.exec(d.path)?.[1])
      .filter((id) => id !== undefined),
  );
  return realmIds.filter((id) => changed.has(id));
}

function diffValue(
  path: string,
  before: unknown,
  after: unknown,
  out: ConfigDifference[],
): void {
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const key of [...keys].sort()) {
      const separator = path.includes(':') ? '.' : ': ';
      diffValue(`${path}${separator}${key}`, before[key], after[key], out);
    }
    return;
  }
  if (JSON.stringify(before) !== JSON.stringify(after))
    out.push({ path, before, after });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
