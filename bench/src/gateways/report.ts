// The gateway benchmark's summary: a table for the terminal and a small
// SVG chart of throughput and p99 per gateway and workload.
import { round, table } from '../stats.js';
import type { TargetName, WorkloadName } from './workloads.js';

/** One gateway (or core-direct) under one workload, over every round. */
export interface Summary {
  readonly target: TargetName;
  readonly workload: WorkloadName;
  readonly rounds: number;
  readonly requestsPerSecond: number;
  readonly requestsPerSecondByRound: readonly number[];
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly responses: number;
  readonly subgraphRequestsPerRequest: number | null;
  readonly peakRssMiB: number | null;
  readonly gatewayCpuMsPerRequest: number | null;
  readonly readCacheHitRatio: number | null;
  readonly rywChecked: number;
  readonly rywViolations: number;
  readonly writes: number;
}

const fmt = (value: number | null, digits = 1) =>
  value === null || Number.isNaN(value) ? '-' : String(round(value, digits));

export function summaryTable(summaries: readonly Summary[]): string {
  return table(
    [
      'workload',
      'gateway',
      'req/s',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'errors',
      'sub req/req',
      'RSS MiB',
      'cpu ms/req',
      'cache hit',
      'ryw viol.',
    ],
    summaries.map((s) => [
      s.workload,
      s.target,
      fmt(s.requestsPerSecond, 0),
      fmt(s.p50Ms),
      fmt(s.p95Ms),
      fmt(s.p99Ms),
      String(s.errors),
      fmt(s.subgraphRequestsPerRequest, 2),
      fmt(s.peakRssMiB, 0),
      fmt(s.gatewayCpuMsPerRequest, 2),
      s.readCacheHitRatio === null
        ? '-'
        : `${Math.round(s.readCacheHitRatio * 100)}%`,
      s.workload === 'mixed' ? `${s.rywViolations}/${s.rywChecked}` : '-',
    ]),
  );
}

/** Ours against each peer, per workload. */
export interface Ratio {
  readonly workload: WorkloadName;
  readonly peer: 'apollo' | 'hive';
  readonly throughput: number;
  readonly p99: number;
  readonly rss: number | null;
}

export function ratios(summaries: readonly Summary[]): Ratio[] {
  const find = (target: TargetName, workload: WorkloadName) =>
    summaries.find((s) => s.target === target && s.workload === workload);
  const out: Ratio[] = [];
  for (const ours of summaries.filter((s) => s.target === 'ours')) {
    for (const peer of ['apollo', 'hive'] as const) {
      const other = find(peer, ours.workload);
      if (!other) continue;
      out.push({
        workload: ours.workload,
        peer,
        throughput: round(ours.requestsPerSecond / other.requestsPerSecond, 2),
        p99: round(ours.p99Ms / other.p99Ms, 3),
        rss:
          ours.peakRssMiB && other.peakRssMiB
            ? round(ours.peakRssMiB / other.peakRssMiB, 2)
            : null,
      });
    }
  }
  return out;
}

export function ratioTable(list: readonly Ratio[]): string {
  return table(
    ['workload', 'ours / peer', 'req/s ×', 'p99 ×', 'RSS ×'],
    list.map((r) => [
      r.workload,
      r.peer,
      String(r.throughput),
      String(r.p99),
      r.rss === null ? '-' : String(r.rss),
    ]),
  );
}

const COLOURS: Record<TargetName, string> = {
  ours: '#1b7f5b',
  apollo: '#5a4fcf',
  hive: '#d98e04',
  'core-direct': '#8a8a8a',
};

/**
 * Two panels of grouped bars, one group per workload: requests per second
 * (linear), and p99 latency (log scale, since the gateways differ by
 * orders of magnitude).
 */
export function chartSvg(summaries: readonly Summary[], title: string): string {
  const workloads = [...new Set(summaries.map((s) => s.workload))];
  const targets = [...new Set(summaries.map((s) => s.target))];
  const width = 860;
  const panelHeight = 220;
  const left = 70;
  const groupWidth = (width - left - 20) / Math.max(1, workloads.length);
  const bar = Math.min(40, (groupWidth - 30) / Math.max(1, targets.length));
  const parts: string[] = [];
  const text = (x: number, y: number, s: string, extra = '') =>
    `<text x="${round(x)}" y="${round(y)}" ${extra}>${escape(s)}</text>`;

  const panel = (
    top: number,
    label: string,
    value: (s: Summary) => number,
    log: boolean,
  ) => {
    const values = summaries.map(value).filter((v) => v > 0);
    const max = Math.max(1, ...values);
    const min = log ? Math.max(0.1, Math.min(...values) / 2) : 0;
    const scale = (v: number) =>
      log
        ? (Math.log10(Math.max(v, min)) - Math.log10(min)) /
          (Math.log10(max * 1.2) - Math.log10(min))
        : v / (max * 1.1);
    const bottom = top + panelHeight;
    parts.push(text(10, top - 8, label, 'font-weight="bold"'));
    parts.push(
      `<line x1="${left}" y1="${bottom}" x2="${width - 10}" y2="${bottom}" stroke="#444"/>`,
    );
    workloads.forEach((workload, w) => {
      const x0 = left + w * groupWidth + 15;
      parts.push(
        text(
          x0 + (bar * targets.length) / 2,
          bottom + 16,
          workload,
          'text-anchor="middle"',
        ),
      );
      targets.forEach((target, t) => {
        const s = summaries.find(
          (x) => x.workload === workload && x.target === target,
        );
        if (!s) return;
        const v = value(s);
        const h = Math.max(1, scale(v) * (panelHeight - 20));
        const x = x0 + t * bar;
        parts.push(
          `<rect x="${round(x)}" y="${round(bottom - h)}" width="${round(bar - 4)}" height="${round(h)}" fill="${COLOURS[target]}"/>`,
        );
        parts.push(
          text(
            x + (bar - 4) / 2,
            bottom - h - 4,
            fmt(v, v >= 100 ? 0 : 1),
            'text-anchor="middle" font-size="10"',
          ),
        );
      });
    });
  };

  panel(
    50,
    'Requests per second (higher is better)',
    (s) => s.requestsPerSecond,
    false,
  );
  panel(
    50 + panelHeight + 70,
    'p99 latency, ms, log scale (lower is better)',
    (s) => s.p99Ms,
    true,
  );
  const legendY = 2 * panelHeight + 170;
  targets.forEach((target, i) => {
    const x = left + i * 150;
    parts.push(
      `<rect x="${x}" y="${legendY - 10}" width="12" height="12" fill="${COLOURS[target]}"/>`,
    );
    parts.push(text(x + 18, legendY, target));
  });
  const height = legendY + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(10, 20, title, 'font-size="14" font-weight="bold"'),
    ...parts,
    '</svg>',
  ].join('\n');
}

function escape(s: string): string {
  return s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
