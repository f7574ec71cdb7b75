/**
 * A parser for the Prometheus text exposition format (version 0.0.4, what
 * prom-client serves), strict enough that a malformed page fails the test
 * that reads it. prom-client writes this format but cannot read it.
 *
 * Format: `# HELP name text`, `# TYPE name type`, then samples
 * `name{label="value",…} value [timestamp]`. Label values escape `\\`,
 * `\"` and `\n`; values may be `+Inf`, `-Inf` or `NaN`.
 */

/** The metric types the format declares. */
export type MetricType =
  'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

/** One sample line: its own name (with any `_bucket` suffix) and labels. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric family: what `# TYPE` declared, and every sample of it. */
export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: Sample[];
}

const METRIC_TYPES: readonly MetricType[] = [
  'counter',
  'gauge',
  'histogram',
  'summary',
  'untyped',
];

/** The sample names a family of each type may have besides its own. */
const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: [],
  gauge: [],
  untyped: [],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parses a whole page into its families, by family name. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1}: ${line}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      readComment(line, families, where);
      return;
    }
    const sample = readSample(line, where);
    familyOf(sample.name, families).samples.push(sample);
  });
  return families;
}

function readComment(
  line: string,
  families: Map<string, MetricFamily>,
  where: string,
): void {
  const match = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
  // Any other comment is allowed and means nothing.
  if (!match) return;
  const [, keyword, name = '', rest = ''] = match;
  if (!NAME.test(name)) throw new Error(`bad metric name, ${where}`);
  const existing = families.get(name);
  if (keyword === 'HELP') {
    families.set(name, {
      name,
      type: existing?.type ?? 'untyped',
      help: unescapeHelp(rest),
      samples: existing?.samples ?? [],
    });
    return;
  }
  const type = rest as MetricType;
  if (!METRIC_TYPES.includes(type)) throw new Error(`bad type, ${where}`);
  if (existing && existing.samples.length > 0)
    throw new Error(`TYPE after samples of ${name}, ${where}`);
  families.set(name, {
    name,
    type,
    help: existing?.help ?? '',
    samples: [],
  });
}

/** The family a sample belongs to: its own name, or that minus a suffix. */
function familyOf(
  sampleName: string,
  families: Map<string, MetricFamily>,
): MetricFamily {
  const own = families.get(sampleName);
  if (own) return own;
  for (const family of families.values()) {
    for (const suffix of SUFFIXES[family.type]) {
      if (sampleName === family.name + suffix) return family;
    }
  }
  const untyped: MetricFamily = {
    name: sampleName,
    type: 'untyped',
    help: '',
    samples: [],
  };
  families.set(sampleName, untyped);
  return untyped;
}

function readSample(line: string, where: string): Sample {
  const nameEnd = line.search(/[{\s]/);
  if (nameEnd <= 0) throw new Error(`no value, ${where}`);
  const name = line.slice(0, nameEnd);
  if (!NAME.test(name)) throw new Error(`bad metric name, ${where}`);

  let rest = line.slice(nameEnd);
  let labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    const read = readLabels(rest, where);
    labels = read.labels;
    rest = rest.slice(read.length);
  }

  const fields = rest.trim().split(/\s+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '')
    throw new Error(`expected a value and an optional timestamp, ${where}`);
  const value = parseValue(fields[0] ?? '', where);
  if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1]))
    throw new Error(`bad timestamp, ${where}`);
  return { name, labels, value };
}

/** Reads `{a="x",b="y"}` from the start of `text`. */
function readLabels(
  text: string,
  where: string,
): { labels: Record<string, string>; length: number } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return { labels, length: i + 1 };

    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    const labelName = nameMatch?.[0] ?? '';
    if (!LABEL_NAME.test(labelName)) throw new Error(`bad label, ${where}`);
    i += labelName.length;
    if (text.slice(i, i + 2) !== '="')
      throw new Error(`expected ="… after ${labelName}, ${where}`);
    i += 2;

    let value = '';
    for (;;) {
      const char = text[i];
      if (char === undefined) throw new Error(`unclosed label, ${where}`);
      i++;
      if (char === '"') break;
      if (char !== '\\') {
        value += char;
        continue;
      }
      const escaped = text[i++];
      if (escaped === 'n') value += '\n';
      else if (escaped === '\\' || escaped === '"') value += escaped;
      else throw new Error(`bad escape in label ${labelName}, ${where}`);
    }
    if (Object.hasOwn(labels, labelName))
      throw new Error(`label ${labelName} twice, ${where}`);
    labels[labelName] = value;

    while (text[i] === ' ') i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`expected , or }, ${where}`);
  }
}

/**
 * A sample value. Like Prometheus (Go's ParseFloat) this takes NaN and
 * Inf in any case: prom-client writes an unset gauge as `Nan`.
 */
function parseValue(text: string, where: string): number {
  const word = text.toLowerCase();
  if (word === '+inf' || word === 'inf') return Infinity;
  if (word === '-inf') return -Infinity;
  if (word === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    throw new Error(`bad value ${text}, ${where}`);
  return Number(text);
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** Does `labels` hold every label of `wanted` with the same value? */
export function labelsMatch(
  labels: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(wanted).every(
    ([name, value]) => labels[name] === value,
  );
}

/** One service's `/metrics`, parsed, with the look-ups tests need. */
export class Scrape {
  constructor(
    readonly service: string,
    readonly families: ReadonlyMap<string, MetricFamily>,
  ) {}

  static parse(service: string, text: string): Scrape {
    return new Scrape(service, parsePrometheusText(text));
  }

  /** The family, or an error naming the service when it is missing. */
  family(name: string): MetricFamily {
    const family = this.families.get(name);
    if (!family) throw new Error(`${this.service} exports no ${name}`);
    return family;
  }

  /** Samples named `sampleName` (of whichever family) matching `labels`. */
  samples(sampleName: string, labels: Record<string, string> = {}): Sample[] {
    return [...this.families.values()]
      .flatMap((family) => family.samples)
      .filter((s) => s.name === sampleName && labelsMatch(s.labels, labels));
  }

  /** The sum of the matching samples' values; 0 when none match. */
  sum(sampleName: string, labels: Record<string, string> = {}): number {
    return this.samples(sampleName, labels).reduce((n, s) => n + s.value, 0);
  }
}
