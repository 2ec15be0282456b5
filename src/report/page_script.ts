/**
 * The one script the report page runs: it draws the charts with uPlot from the JSON the page
 * carries. Written as a plain function so the type-checker sees it; html.ts inlines its source
 * (`drawCharts.toString()`), so it must use nothing but its parameters and browser globals.
 */
/** The parts of the DOM and of uPlot the script uses (the project is type-checked without the DOM lib). */
interface PageElement {
  clientWidth: number;
  setAttribute(name: string, value: string): void;
}
interface PageDocument {
  getElementById(id: string): PageElement | null;
}
type UPlotCtor = new (opts: Record<string, unknown>, data: unknown[], target: PageElement) => unknown;

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
  /** Draw points only (no line). */
  points?: boolean;
  dash?: boolean;
  color: string;
  /** Which y scale: 'y' (default) or 'y2'. */
  scale?: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  y2Label?: string;
  /** 'time' formats x as seconds. */
  x: number[];
  series: ChartSeries[];
}

export function drawCharts(specs: ChartSpec[], uPlot: UPlotCtor, doc: PageDocument): void {
  for (const spec of specs) {
    const el = doc.getElementById(spec.id);
    if (!el) continue;
    const width = Math.max(320, Math.min(960, el.clientWidth || 900));
    const scales: Record<string, Record<string, unknown>> = { x: { time: false } };
    const axes: Array<Record<string, unknown>> = [{ label: spec.xLabel }, { label: spec.yLabel, scale: 'y' }];
    if (spec.series.some((s) => s.scale === 'y2')) {
      scales.y2 = {};
      axes.push({ label: spec.y2Label ?? '', scale: 'y2', side: 1, grid: { show: false } });
    }
    const opts: Record<string, unknown> = {
      title: spec.title,
      width,
      height: 280,
      scales,
      axes,
      series: [
        { label: spec.xLabel },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.points ? 0 : 2,
          scale: s.scale ?? 'y',
          ...(s.dash ? { dash: [6, 4] } : {}),
          ...(s.points ? { paths: () => null, points: { show: true, size: 7, fill: s.color, stroke: s.color } } : { points: { show: false } }),
          spanGaps: !s.points,
        })),
      ],
    };
    const data: unknown[] = [spec.x, ...spec.series.map((s) => s.values)];
    el.setAttribute('data-drawn', 'pending');
    new uPlot(opts, data, el);
    el.setAttribute('data-drawn', 'yes');
  }
}
