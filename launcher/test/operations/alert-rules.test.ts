import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/processes.js';
import {
  familyServing,
  loadAlertRules,
  metricNamesIn,
  PROMETHEUS_DIR,
  RULES_FILE,
} from './support/alert-rules.js';
import { parsePrometheusText } from './support/prometheus-text.js';

/*
 * The alerting rules in deploy/prometheus as files: each is complete
 * (for, severity, summary and description), and Prometheus' own promtool
 * (Debian's `prometheus` package; .ci/run installs it) accepts the
 * configuration and the rules. That every metric a rule reads is one the
 * services export is checked against a real scrape in metrics.test.ts.
 */

const run = promisify(execFile);

describe('the alerting rules', () => {
  it('give every alert a unique name, a for: duration, a severity and a summary and description', async () => {
    const rules = await loadAlertRules();
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Realms[A-Z]\w+$/);
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical'], rule.alert).toContain(
        rule.labels?.['severity'],
      );
      expect(rule.annotations?.['summary'], rule.alert).toBeTruthy();
      expect(rule.annotations?.['description'], rule.alert).toBeTruthy();
    }
  });

  it('cover error rate, latency, sync latency, Redis down and subscription drop', async () => {
    const reads = new Map(
      (await loadAlertRules()).map((r) => [r.alert, metricNamesIn(r.expr)]),
    );
    const alertsReading = (metric: string) =>
      [...reads].filter(([, names]) => names.includes(metric));
    for (const metric of [
      'realms_graphql_requests_total',
      'realms_graphql_request_duration_seconds_bucket',
      'realms_state_sync_latency_seconds_bucket',
      'realms_redis_connected',
      'realms_subscriptions_active',
    ]) {
      expect(alertsReading(metric).length, metric).toBeGreaterThan(0);
    }
  });

  it('pass promtool check config and check rules', async () => {
    const dir = `${repoRoot}${PROMETHEUS_DIR}`;
    const config = await run(
      'promtool',
      ['check', 'config', 'prometheus.yml'],
      {
        cwd: dir,
      },
    );
    // The config names the rules file, so promtool checks it here too.
    expect(config.stdout).toMatch(/SUCCESS: 1 rule files found/);
    const rules = await run('promtool', [
      'check',
      'rules',
      `${repoRoot}${RULES_FILE}`,
    ]);
    const count = (await loadAlertRules()).length;
    expect(rules.stdout).toContain(`SUCCESS: ${count} rules found`);
  });
});

describe('metric names in a PromQL expression', () => {
  it('leaves out functions, aggregations, label names, strings, numbers and durations', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le, realm) (rate(a_seconds_bucket{service="gateway", code=~"X|Y"}[5m]))) > 1e-3',
      ),
    ).toEqual(['a_seconds_bucket']);
    expect(
      metricNamesIn(
        'sum without (instance) (b_total) / on (job) group_left (realm) c offset 10m and max(d) by (job) >= bool 0.5',
      ),
    ).toEqual(['b_total', 'c', 'd']);
    expect(metricNamesIn('increase(e_total[1h30m:1m]) > 3 unless f')).toEqual([
      'e_total',
      'f',
    ]);
  });

  it('refuses what it cannot read', () => {
    expect(() => metricNamesIn('a_total ? 1')).toThrow(/cannot read/);
  });

  it('finds a histogram through its _bucket, _sum and _count series, and nothing else', () => {
    const families = parsePrometheusText(
      [
        '# HELP h_seconds A histogram.',
        '# TYPE h_seconds histogram',
        'h_seconds_bucket{le="+Inf"} 2',
        'h_seconds_sum 0.5',
        'h_seconds_count 2',
        '# HELP c_total A counter.',
        '# TYPE c_total counter',
        'c_total{code="A \\"quoted\\" \\\\ value"} Nan',
      ].join('\n'),
    );
    for (const name of ['h_seconds_bucket', 'h_seconds_sum', 'h_seconds_count'])
      expect(familyServing(name, families)?.name, name).toBe('h_seconds');
    expect(familyServing('c_total', families)?.type).toBe('counter');
    expect(familyServing('c_total_count', families)).toBeUndefined();
    expect(familyServing('h_seconds_total', families)).toBeUndefined();
    expect(families.get('c_total')?.samples[0]?.labels['code']).toBe(
      'A "quoted" \\ value',
    );
  });
});
