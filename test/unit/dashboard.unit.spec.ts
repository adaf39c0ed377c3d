import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Histogram, Summary } from 'prom-client';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../infra/paths.ts';
import { createMetrics } from '../../shared/metrics.ts';

/**
 * The Grafana dashboard and the alert rules query only series the services export: a renamed
 * metric, a typo or a histogram named without its `_bucket`/`_count`/`_sum` would otherwise
 * draw an empty panel, or an alert that never fires, without any error.
 */

const PROMETHEUS_DIR = path.join(REPO_ROOT, 'infra', 'prometheus');
const DASHBOARD = path.join(REPO_ROOT, 'infra', 'grafana', 'dashboards', 'movie-catalogue.json');

/** Words of PromQL that are neither metrics nor followed by a parenthesis (functions are). */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers, ranges, `by (...)` and
 * the like (label names), Grafana variables and comments go first; of the words left, one before
 * `(` is a function or an aggregation, a keyword is a keyword, the rest name metrics. A
 * `__name__` matcher names one too.
 */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  for (const match of expr.matchAll(/__name__\s*=\s*"([^"\\]*)"/g)) names.add(match[1]!);
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/#[^\n]*/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  for (const match of stripped.matchAll(/[A-Za-z_:][\w:]*|\d[\w.]*/g)) {
    const word = match[0];
    if (/^\d/.test(word) || KEYWORDS.has(word.toLowerCase())) continue;
    if (
      stripped
        .slice(match.index + word.length)
        .trimStart()
        .startsWith('(')
    )
      continue;
    names.add(word);
  }
  return [...names].sort();
}

/** Every series name a service exports: what createMetrics registers (default process and Node metrics included), plus Prometheus's own `up`. */
function exportedSeries(): Set<string> {
  const series = new Set(['up']);
  for (const metric of createMetrics('test').registry.getMetricsAsArray()) {
    const name = metric.name;
    if (metric instanceof Histogram) for (const suffix of ['_bucket', '_count', '_sum']) series.add(`${name}${suffix}`);
    else if (metric instanceof Summary) for (const suffix of ['', '_count', '_sum']) series.add(`${name}${suffix}`);
    else series.add(name);
  }
  return series;
}

interface Panel {
  title?: string;
  type: string;
  panels?: Panel[];
  targets?: Array<{ expr?: string }>;
}

/** Every panel, those inside (collapsed) rows too, with its queries. */
function dashboardPanels(): Array<{ title: string; type: string; exprs: string[] }> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const flat = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...flat(p.panels ?? [])]);
  return flat(dashboard.panels).map((p) => ({
    title: p.title ?? '(untitled)',
    type: p.type,
    exprs: (p.targets ?? []).flatMap((t) => (t.expr ? [t.expr] : [])),
  }));
}

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
}

function alertRules(): Array<{ alert: string; expr: string }> {
  const config = parse(readFileSync(path.join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as { rule_files?: string[] };
  return (config.rule_files ?? []).flatMap((file) => {
    const rules = parse(readFileSync(path.resolve(PROMETHEUS_DIR, file), 'utf8')) as RuleFile;
    return rules.groups.flatMap((g) =>
      g.rules.map((r) => ({ alert: r.alert ?? r.record ?? '(unnamed)', expr: r.expr })),
    );
  });
}

/** The metrics of `exprs` that no service exports, as "where: name". */
function unknownMetrics(where: string, exprs: readonly string[], exported: ReadonlySet<string>): string[] {
  return exprs
    .flatMap((expr) => metricNames(expr).filter((name) => !exported.has(name)))
    .map((name) => `${where}: ${name}`);
}

describe('metricNames (PromQL)', () => {
  it('finds the metric under functions, aggregations, label matchers and ranges', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (service, route, le) (rate(http_request_duration_seconds_bucket{status=~"5..",route="/v1/{id}"}[$__rate_interval])))',
      ),
      ['http_request_duration_seconds_bucket'],
    );
  });

  it('leaves out label lists, keywords, numbers, durations and strings', () => {
    assert.deepEqual(
      metricNames(
        'sum(rate(a_total[5m:1m] offset 1h)) by (job) / on (job) group_left (instance) b_info > bool 1e3 unless c or label_replace(d, "dst", "rate(e)", "src", "(.*)")',
      ),
      ['a_total', 'b_info', 'c', 'd'],
    );
    assert.deepEqual(metricNames('x unless on (instance, code) max_over_time(y[10m] offset 10m) and z @ end()'), [
      'x',
      'y',
      'z',
    ]);
  });

  it('reads a __name__ matcher and a bare label selector', () => {
    assert.deepEqual(metricNames('{__name__="foo_total", job="a"}'), ['foo_total']);
  });

  it('names what no service exports: a typo, or a histogram without its suffix', () => {
    const exported = exportedSeries();
    assert.deepEqual(
      unknownMetrics(
        'test',
        ['rate(projection_event_total[5m])', 'http_request_duration_seconds > 1', 'up == 0'],
        exported,
      ),
      ['test: projection_event_total', 'test: http_request_duration_seconds'],
    );
  });
});

describe('Grafana dashboard', () => {
  it('queries only metrics the services export', () => {
    const exported = exportedSeries();
    assert.deepEqual(
      dashboardPanels().flatMap((p) => unknownMetrics(p.title, p.exprs, exported)),
      [],
    );
  });

  it('gives every panel but the rows a query', () => {
    assert.deepEqual(
      dashboardPanels()
        .filter((p) => p.type !== 'row' && p.exprs.length === 0)
        .map((p) => p.title),
      [],
    );
  });

  it('shows every metric an alert watches', () => {
    const shown = new Set(dashboardPanels().flatMap((p) => p.exprs.flatMap(metricNames)));
    const watched = alertRules().flatMap((rule) => metricNames(rule.expr).map((name) => `${rule.alert}: ${name}`));
    assert.deepEqual(
      watched.filter((entry) => !shown.has(entry.split(': ')[1]!)),
      [],
    );
  });
});

describe('alert rules', () => {
  it('are found through prometheus.yml, relative to it', () => {
    const config = parse(readFileSync(path.join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as {
      rule_files?: string[];
    };
    assert.deepEqual(config.rule_files, ['alerts.yml']);
    assert.ok(existsSync(path.join(PROMETHEUS_DIR, 'alerts.yml')));
  });

  it('query only metrics the services export', () => {
    const exported = exportedSeries();
    const rules = alertRules();
    assert.ok(rules.length >= 7, `${rules.length} rules`);
    assert.deepEqual(
      rules.flatMap((r) => unknownMetrics(r.alert, [r.expr], exported)),
      [],
    );
  });

  it('each have a promtool test where they fire and one where they do not', () => {
    interface RuleTests {
      rule_files: string[];
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
    }
    const tests = parse(readFileSync(path.join(PROMETHEUS_DIR, 'alerts.test.yml'), 'utf8')) as RuleTests;
    assert.deepEqual(tests.rule_files, ['alerts.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const untested = alertRules().flatMap(({ alert }) => {
      const mine = cases.filter((c) => c.alertname === alert);
      return [
        ...(mine.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${alert}: never fires`]),
        ...(mine.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : [`${alert}: never stays quiet`]),
      ];
    });
    assert.deepEqual(untested, []);
  });
});
