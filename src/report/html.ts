/**
 * The report as one self-contained HTML file: styles, uPlot (read from its npm package when the
 * report is written) and the drawing script are inlined, the data travels as JSON in the page,
 * and nothing is fetched when it is opened (a Content-Security-Policy forbids it as well).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { drawCharts, type ChartSpec } from './page_script.js';
import type { ReportData } from './report_data.js';
import type { LearningData } from './learning_data.js';

const require = createRequire(import.meta.url);

let assets: { js: string; css: string } | undefined;
/** uPlot's browser build and stylesheet, from the installed package. */
function uplotAssets(): { js: string; css: string } {
  if (!assets) {
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    assets = { js, css };
  }
  return assets;
}

export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** JSON safe inside a <script> element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.sub{color:#5b6575}.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;margin-right:6px;background:#e4e8ee}
.badge.warn{background:#ffe6b3}.badge.good{background:#cdeccf}.badge.bad{background:#f7c9c9}
table{border-collapse:collapse;background:#fff;margin:6px 0;min-width:50%}td,th{border:1px solid #dde1e7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}.num{text-align:right;font-variant-numeric:tabular-nums}
.chart{background:#fff;border:1px solid #dde1e7;margin:8px 0;padding:6px;min-height:300px}
.diff{background:#fff;border:1px solid #dde1e7;padding:8px;white-space:pre-wrap;font-family:ui-monospace,Menlo,monospace;font-size:13px}
.diff ins{background:#cdeccf;text-decoration:none}.diff del{background:#f7c9c9}
pre.demo{background:#fff;border:1px solid #dde1e7;padding:6px;white-space:pre-wrap;font-size:12px;max-height:240px;overflow:auto}
tr.fixed td:first-child{border-left:4px solid #3a9a47}tr.broken td:first-child{border-left:4px solid #c0392b}
`;

function page(title: string, body: string, charts: ChartSpec[]): string {
  const { js, css } = uplotAssets();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${css}</style><style>${STYLE}</style>
</head><body><main>
${body}
</main>
<script>${js}</script>
<script id="chart-data" type="application/json">${scriptJson(charts)}</script>
<script>(${drawCharts.toString()})(JSON.parse(document.getElementById('chart-data').textContent), uPlot, document);</script>
</body></html>
`;
}

function table(head: string[], rows: string[][], rowClass?: (i: number) => string): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r, i) => `<tr${rowClass ? ` class="${rowClass(i)}"` : ''}>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>${trs}</tbody></table>`;
}

const num = (v: number, d = 2) => `<span class="num">${escapeHtml(Number.isInteger(v) ? String(v) : v.toFixed(d))}</span>`;

function chartDiv(id: string): string {
  return `<div class="chart" id="${id}"></div>`;
}

/** The run's charts: what they plot, computed here so the page only draws. */
export function runCharts(d: ReportData): ChartSpec[] {
  const r = d.record;
  const specs: ChartSpec[] = [];
  if (d.trials.length) {
    const series: ChartSpec['series'] = [
      { label: 'trial score', values: d.trials.map((t) => t.score), points: true, color: '#3b6fd8' },
      { label: 'best so far', values: d.bestSoFar, color: '#1f8a3a' },
    ];
    const base = d.baseline?.mean ?? r.baselineScore;
    if (base !== undefined) series.push({ label: 'baseline', values: d.trials.map(() => base), color: '#7a7a7a' });
    if (d.baseline) {
      series.push({ label: 'baseline 95% low', values: d.trials.map(() => d.baseline?.ci95[0] ?? null), dash: true, color: '#b0b0b0' });
      series.push({ label: 'baseline 95% high', values: d.trials.map(() => d.baseline?.ci95[1] ?? null), dash: true, color: '#b0b0b0' });
    }
    const title = r.trials.length ? 'Score per trial (0-100)' : 'Score before and after (0-100; the optimizer has no trials)';
    specs.push({ id: 'chart-trials', title, xLabel: 'trial', yLabel: 'score', x: d.trials.map((_, i) => i), series });
  }
  if (r.timeline.length) {
    specs.push({
      id: 'chart-usage',
      title: 'LM calls and cost over the run',
      xLabel: 'seconds',
      yLabel: 'LM calls',
      y2Label: 'USD',
      x: r.timeline.map((p) => Math.round(p.t) / 1000),
      series: [
        { label: 'LM calls', values: r.timeline.map((p) => p.calls), color: '#3b6fd8' },
        { label: 'cost (USD)', values: r.timeline.map((p) => p.costUsd), color: '#d8793b', scale: 'y2' },
      ],
    });
  }
  if (r.pareto && r.pareto.candidates.length) {
    const priced = r.pareto.candidates.some((c) => c.costUsd > 0);
    const cost = (c: { costUsd: number; tokens: number }) => (priced ? c.costUsd : c.tokens);
    const sorted = [...r.pareto.candidates].sort((a, b) => cost(a) - cost(b) || a.candidate - b.candidate);
    const front = new Set(r.pareto.front);
    specs.push({
      id: 'chart-pareto',
      title: `Quality against cost (${priced ? 'USD' : 'tokens'} per execution)`,
      xLabel: priced ? 'USD per execution' : 'tokens per execution',
      yLabel: 'score',
      x: sorted.map(cost),
      series: [
        { label: 'candidates', values: sorted.map((c) => c.score), points: true, color: '#9aa4b2' },
        { label: 'Pareto front', values: sorted.map((c) => (front.has(c.candidate) ? c.score : null)), color: '#1f8a3a' },
      ],
    });
  }
  if (r.examples.length) {
    specs.push({
      id: 'chart-examples',
      title: 'Held-out examples: baseline against best',
      xLabel: 'example',
      yLabel: 'metric',
      x: r.examples.map((_, i) => i),
      series: [
        { label: 'baseline', values: r.examples.map((e) => e.baseline), points: true, color: '#9aa4b2' },
        { label: 'best', values: r.examples.map((e) => e.best), points: true, color: '#1f8a3a' },
      ],
    });
  }
  return specs;
}

function badges(r: ReportData['record']): string {
  const out: string[] = [];
  if (r.cutShort) out.push(`<span class="badge warn" id="badge-cut-short">cut short: ${escapeHtml(r.cutShortReason ?? 'stopped')}</span>`);
  if (r.resumed) out.push(`<span class="badge" id="badge-resumed">resumed: ${r.resumed.done} of ${r.resumed.total} done</span>`);
  if (r.verdict) {
    const cls = r.verdict.improved ? 'good' : 'bad';
    out.push(`<span class="badge ${cls}">${r.verdict.improved ? 'improved' : 'not improved'}</span>`);
    out.push(`<span class="badge">${r.verdict.written ? 'config written' : 'nothing written'}</span>`);
  }
  return out.join('');
}

export function renderRunReport(d: ReportData): string {
  const r = d.record;
  const s = r.settings;
  const parts: string[] = [];
  parts.push(`<h1>Optimization run ${escapeHtml(r.runId)}</h1>`);
  parts.push(`<div class="sub">${escapeHtml(s.optimizer)}${s.pipeline ? ` on ${escapeHtml(s.pipeline)}` : ''}, started ${escapeHtml(r.startedAt)}${r.finishedAt ? `, finished ${escapeHtml(r.finishedAt)}` : ''}</div>`);
  parts.push(`<p>${badges(r)}</p>`);

  if (r.verdict) {
    const v = r.verdict;
    parts.push('<h2>Verdict</h2>');
    parts.push(
      table(
        ['metric', 'scale', 'held-out', 'baseline', 'best', 'lift', '95% interval', 'written'],
        [[escapeHtml(v.metric), escapeHtml(v.scale), num(v.heldOut), num(v.baselineScore), num(v.bestScore), num(v.lift), `${num(v.ci95[0])} .. ${num(v.ci95[1])}`, escapeHtml(v.written ? 'yes' : 'no')]],
      ),
    );
    parts.push(`<p>${escapeHtml(v.reason)}</p>`);
  }

  parts.push('<h2>Settings</h2>');
  const settingsRows: string[][] = [
    ['optimizer', escapeHtml(s.optimizer)],
    ['options', `<code>${escapeHtml(JSON.stringify(s.options))}</code>`],
    ['seed', escapeHtml(s.seed ?? '-')],
    ['LM', escapeHtml(s.lm ?? '-')],
    ['metric', escapeHtml(s.metric ?? '-')],
    ['budget', `<code>${escapeHtml(s.budget ? JSON.stringify(s.budget) : 'none')}</code>`],
    ['cut short', escapeHtml(r.cutShort ? `yes: ${r.cutShortReason ?? ''}` : 'no')],
    ['resumed', escapeHtml(r.resumed ? `yes: ${r.resumed.done} of ${r.resumed.total} units were done` : 'no')],
  ];
  parts.push(table(['setting', 'value'], settingsRows));

  const charts = runCharts(d);
  const has = (id: string) => charts.some((c) => c.id === id);
  parts.push('<h2>Search</h2>');
  if (has('chart-trials')) parts.push(chartDiv('chart-trials'));
  parts.push('<h2>Spend</h2>');
  if (has('chart-usage')) parts.push(chartDiv('chart-usage'));
  if (d.phases.length) parts.push(table(['phase', 'LM calls', 'cost (USD)'], d.phases.map((p) => [escapeHtml(p.phase), num(p.calls), num(p.costUsd, 4)])));
  if (r.usage) {
    const u = r.usage;
    parts.push(
      table(
        ['LM calls', 'sent', 'cache hits', 'aborted', 'input tokens', 'output tokens', 'cost (USD)'],
        [[num(u.calls), num(u.sent ?? u.calls - u.cacheHits), num(u.cacheHits), num(u.aborted ?? 0), num(u.inputTokens), num(u.outputTokens), num(u.costUsd, 4)]],
      ),
    );
  }

  if (r.pareto && r.pareto.candidates.length) {
    parts.push('<h2>Quality and cost</h2>');
    if (has('chart-pareto')) parts.push(chartDiv('chart-pareto'));
    const front = new Set(r.pareto.front);
    parts.push(
      table(
        ['candidate', 'score', 'USD / execution', 'tokens / execution', 'on the front', 'chosen'],
        r.pareto.candidates.map((c) => [num(c.candidate), num(c.score), num(c.costUsd, 6), num(c.tokens, 0), front.has(c.candidate) ? 'yes' : '', c.candidate === r.pareto?.selected ? `yes (${escapeHtml(r.pareto.rule)})` : '']),
      ),
    );
  }

  if (r.examples.length) {
    parts.push('<h2>Held-out examples</h2>');
    if (has('chart-examples')) parts.push(chartDiv('chart-examples'));
    parts.push(`<h3>Examples that flipped (${d.flipped.length})</h3>`);
    parts.push(
      `<div id="flipped">${table(
        ['example', 'baseline', 'best', 'change', 'input'],
        d.flipped.map((f) => [escapeHtml(f.id), num(f.baseline), num(f.best), escapeHtml(f.direction), `<code>${escapeHtml(JSON.stringify(f.input ?? '').slice(0, 300))}</code>`]),
        (i) => (d.flipped[i] as { direction: string }).direction,
      )}</div>`,
    );
  }

  if (r.predictors.length) {
    parts.push('<h2>Prompts, as written into the config</h2>');
    for (const [i, p] of r.predictors.entries()) {
      const diff = d.diffs[i];
      parts.push(`<h3>${escapeHtml(p.path)}${diff?.changed ? '' : ' (instruction unchanged)'}</h3>`);
      const html = (diff?.parts ?? [])
        .map((x) => (x.op === 'added' ? `<ins>${escapeHtml(x.text)}</ins>` : x.op === 'removed' ? `<del>${escapeHtml(x.text)}</del>` : escapeHtml(x.text)))
        .join('');
      parts.push(`<div class="diff" data-predictor="${escapeHtml(p.path)}">${html}</div>`);
      parts.push(`<div class="sub">${p.after.demos.length} demos (${p.before.demos.length} before)</div>`);
      for (const demo of p.after.demos) parts.push(`<pre class="demo">${escapeHtml(JSON.stringify(demo, null, 2))}</pre>`);
    }
  }
  return page(`Run ${r.runId}`, parts.join('\n'), charts);
}

export function learningCharts(d: LearningData): ChartSpec[] {
  const specs: ChartSpec[] = [];
  if (d.days.length && d.pipelines.length) {
    const palette = ['#3b6fd8', '#1f8a3a', '#d8793b', '#8e44ad', '#c0392b', '#16a085', '#7f8c8d'];
    specs.push({
      id: 'chart-success',
      title: 'Success rate per pipeline (per day, %)',
      xLabel: 'day',
      yLabel: 'success %',
      x: d.days.map((_, i) => i),
      series: d.pipelines.map((p, i) => ({ label: p, values: d.successRate[p] ?? [], color: palette[i % palette.length] as string })),
    });
  }
  return specs;
}

export function renderLearningReport(d: LearningData): string {
  const parts: string[] = [];
  parts.push('<h1>Continuous learning</h1>');
  parts.push(`<div class="sub">data dir ${escapeHtml(d.dataDir)}; ${d.executions} executions, ${d.decisions.length} decisions</div>`);
  parts.push('<h2>Success rate</h2>');
  parts.push(chartDiv('chart-success'));
  if (d.days.length) parts.push(`<div class="sub">days: ${escapeHtml(d.days[0])} .. ${escapeHtml(d.days[d.days.length - 1])}</div>`);
  parts.push('<h2>Decisions</h2>');
  parts.push(
    `<div id="decisions">${table(
      ['time', 'pipeline', 'mode', 'decision', 'reason', 'interval', 'cost (USD)'],
      d.decisions.map((e) => [
        escapeHtml(e.time),
        escapeHtml(e.pipeline),
        escapeHtml(e.mode),
        escapeHtml(e.decision),
        escapeHtml(e.reason),
        e.interval ? escapeHtml(JSON.stringify(e.interval)) : '',
        e.cost?.usd !== undefined ? num(e.cost.usd, 4) : '',
      ]),
    )}</div>`,
  );
  for (const e of d.decisions.filter((x) => x.promptDiff)) {
    parts.push(`<h3>${escapeHtml(e.pipeline)} ${escapeHtml(e.time)}: ${escapeHtml(e.decision)}</h3><pre class="demo">${escapeHtml(e.promptDiff)}</pre>`);
  }
  return page('Continuous learning', parts.join('\n'), learningCharts(d));
}
