import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { repoRoot } from '../../support/processes.js';
import type { MetricFamily } from './prometheus-text.js';

/** Where the Prometheus configuration lives, from the repository root. */
export const PROMETHEUS_DIR = 'deploy/prometheus';
export const RULES_FILE = `${PROMETHEUS_DIR}/rules/realms.rules.yml`;

/** One alerting rule as the rules file holds it. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface RulesFile {
  readonly groups: { name: string; rules: AlertRule[] }[];
}

/** Every rule of the rules file, in order. */
export async function loadAlertRules(): Promise<AlertRule[]> {
  const text = await readFile(`${repoRoot}${RULES_FILE}`, 'utf8');
  const file = parse(text) as RulesFile;
  return file.groups.flatMap((group) => group.rules);
}

/**
 * Series Prometheus records itself for every target it scrapes; no
 * service exports them.
 */
export const PROMETHEUS_SERIES = new Set([
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
]);

/** Words of PromQL that look like names but are not metrics. */
const KEYWORDS = new Set([
  // Aggregations (followed by `by (…)` as often as by `(`).
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  // Binary operators and modifiers.
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'atan2',
  // Literals.
  'inf',
  'nan',
]);

/** Keywords followed by a parenthesised list of label names. */
const LABEL_LIST_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);

const TOKEN =
  /\s+|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`|\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*|(?:0x[0-9a-fA-F]+|\d*\.?\d+(?:[eE][-+]?\d+)?)|[a-zA-Z_:][a-zA-Z0-9_:]*|==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}[\],@:]/y;

/**
 * The metric names a PromQL expression reads: every name that is not a
 * function (a name before `(`), a keyword, a label name (in a matcher or
 * a `by (…)`-style list), a string, a number or a duration.
 */
export function metricNamesIn(expr: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expr.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(expr);
    if (!match) throw new Error(`PromQL: cannot read "${expr.slice(at)}"`);
    if (match[0].trim() !== '') tokens.push(match[0]);
  }

  const names = new Set<string>();
  let nested = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (token === '{' || token === '[') nested++;
    if (token === '}' || token === ']') nested--;
    // Inside `{…}` every name is a label name; inside `[…]`, a duration.
    if (nested > 0 || !/^[a-zA-Z_:]/.test(token)) continue;
    const word = token.toLowerCase();
    if (LABEL_LIST_KEYWORDS.has(word)) {
      if (tokens[i + 1] === '(') {
        i = tokens.indexOf(')', i + 1);
        if (i < 0) throw new Error(`PromQL: unclosed ${token} (…)`);
      }
      continue;
    }
    if (KEYWORDS.has(word) || tokens[i + 1] === '(') continue;
    names.add(token);
  }
  return [...names];
}

/**
 * The family that serves `name` in `families`: the family itself, or for
 * `_bucket`, `_sum` and `_count` the histogram (or summary) they belong
 * to. Undefined when no service exports it.
 */
export function familyServing(
  name: string,
  families: ReadonlyMap<string, MetricFamily>,
): MetricFamily | undefined {
  const own = families.get(name);
  if (own) return own;
  const suffix = /_(bucket|sum|count)$/.exec(name);
  if (!suffix) return undefined;
  const family = families.get(name.slice(0, suffix.index));
  if (family?.type === 'histogram') return family;
  if (family?.type === 'summary' && suffix[1] !== 'bucket') return family;
  return undefined;
}
