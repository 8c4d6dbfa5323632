/**
 * The one table of evaluation metrics of the benchmark (DESIGN.md "Benchmark protocol", Metrics): each
 * metric's name, label, unit, scale and how it is read from the core metrics. Candidate scoring, the samples
 * table's columns (and their migration), aggregates, every report format, the paper findings, the GraphQL
 * results and the CLI all read it, so none of them spells a metric or a unit rule of its own.
 *
 * Adding a metric: add an entry to {@link METRICS}; add its field, with the description
 * {@link metricDoc} gives, to `BenchmarkAggregate` in schema/benchmark.graphql; extend the tests. The store
 * adds its two columns to existing databases on open (store/migrations.ts `metricColumnAdditions`).
 */
import type { SegmentationMetrics } from '../core/metrics.ts';

/** How a report shows a metric: `x100` for fractions shown as percentages, `px` for distances. */
export type MetricUnit = 'x100' | 'px';

/** One evaluation metric. */
export interface MetricDef {
  /**
   * Key in {@link MetricValues}, suffix of the samples table's `oracle_`/`deploy_` columns, GraphQL field of
   * `BenchmarkAggregate`, CSV and JSON key: lower-case letters and digits, starting with a letter.
   */
  readonly name: string;
  /** Short display name ("Dice", "HD95"). */
  readonly label: string;
  /** What it measures, in words, for the SDL and the CLI. */
  readonly description: string;
  /** Report unit: `x100` (stored as a fraction in [0, 1]) or `px` (pixels, or spacing units such as mm). */
  readonly unit: MetricUnit;
  /** Stored value times `scale` is the reported value: 100 for `x100`, 1 for `px`. */
  readonly scale: number;
  /** Whether a larger value is a better segmentation (Dice yes, Hausdorff distance no). */
  readonly higherIsBetter: boolean;
  /** Whether the value depends on the NSD tolerance tau (the CLI shows it as `name@tau`). */
  readonly usesTolerance?: boolean;
  /** Reads the metric from the core metrics of one mask pair (fraction, or spacing units). */
  readonly extract: (m: SegmentationMetrics) => number;
}

/** A metric table: the metrics a run stores and reports, in report order. */
export type MetricTable = readonly MetricDef[];

/** The benchmark's metrics, in report order (the paper's: Dice, IoU, HD, HD95, ASD, ASSD, NSD). */
export const METRICS = [
  {
    name: 'dice',
    label: 'Dice',
    description: 'Dice coefficient',
    unit: 'x100',
    scale: 100,
    higherIsBetter: true,
    extract: (m) => m.dice,
  },
  {
    name: 'iou',
    label: 'IoU',
    description: 'Intersection over union',
    unit: 'x100',
    scale: 100,
    higherIsBetter: true,
    extract: (m) => m.iou,
  },
  {
    name: 'hd',
    label: 'HD',
    description: 'Hausdorff distance',
    unit: 'px',
    scale: 1,
    higherIsBetter: false,
    extract: (m) => m.hausdorff,
  },
  {
    name: 'hd95',
    label: 'HD95',
    description: '95th percentile Hausdorff distance',
    unit: 'px',
    scale: 1,
    higherIsBetter: false,
    extract: (m) => m.hd95,
  },
  {
    name: 'asd',
    label: 'ASD',
    description: 'Average surface distance from the prediction to the ground truth',
    unit: 'px',
    scale: 1,
    higherIsBetter: false,
    extract: (m) => m.asd,
  },
  {
    name: 'assd',
    label: 'ASSD',
    description: 'Average symmetric surface distance',
    unit: 'px',
    scale: 1,
    higherIsBetter: false,
    extract: (m) => m.assd,
  },
  {
    name: 'nsd',
    label: 'NSD',
    description: 'Normalized surface Dice at the job tolerance',
    unit: 'x100',
    scale: 100,
    higherIsBetter: true,
    usesTolerance: true,
    extract: (m) => m.nsd,
  },
] as const satisfies MetricTable;

/** One metric name of {@link METRICS}. */
export type MetricName = (typeof METRICS)[number]['name'];

/** Names of {@link METRICS}, in report order. */
export const METRIC_NAMES: readonly MetricName[] = METRICS.map((m) => m.name);

/** Metric values of one mask against the ground truth, as stored: fractions or pixels; null when undefined. */
export type MetricValues = Record<MetricName, number | null>;

/** Mean, population std and count of one metric over the samples where it is defined. */
export interface MetricStat {
  mean: number | null;
  std: number | null;
  n: number;
}

/** The entry of `name` in {@link METRICS}. */
export function metricDef(name: MetricName): MetricDef {
  return METRICS.find((m) => m.name === name)!;
}

/** The metric the paper's tables, charts and findings lead with: Dice. */
export const HEADLINE_METRIC: MetricDef = metricDef('dice');

/** The statistic of `def` in per-metric statistics keyed by name; n = 0 when the metric is absent. */
export function statOf(stats: Readonly<Record<string, MetricStat>>, def: MetricDef): MetricStat {
  return stats[def.name] ?? { mean: null, std: null, n: 0 };
}

/** The value of `def` in `values` (null when absent or not finite): values keyed by a table's names. */
export function metricValue(values: MetricValues, def: MetricDef): number | null {
  const v = (values as Readonly<Record<string, number | null | undefined>>)[def.name];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The stored values of every metric of `table`, read from core metrics; non-finite values become null. */
export function extractMetrics(m: SegmentationMetrics, table: MetricTable = METRICS): MetricValues {
  const out: Record<string, number | null> = {};
  for (const def of table) {
    const v = def.extract(m);
    out[def.name] = Number.isFinite(v) ? v : null;
  }
  return out as MetricValues;
}

/** A value in report units (x100 for `x100` metrics); null stays null. */
export function scaledValue(def: MetricDef, v: number | null | undefined): number | null {
  return v === null || v === undefined ? null : v * def.scale;
}

/** A statistic in report units: mean and std times the scale, n as is. */
export function scaledStat(def: MetricDef, s: MetricStat | undefined): MetricStat {
  return { mean: scaledValue(def, s?.mean), std: scaledValue(def, s?.std), n: s?.n ?? 0 };
}

/** Every metric of `table` from per-metric statistics, in report units, keyed by name (the API's shape). */
export function scaledStats(
  stats: Readonly<Record<string, MetricStat>>,
  table: MetricTable = METRICS,
): Record<string, MetricStat> {
  return Object.fromEntries(table.map((def) => [def.name, scaledStat(def, stats[def.name])]));
}

/** Display label with the unit: "Dice (x100)", "HD95 (px)". */
export function metricLabel(def: MetricDef): string {
  return `${def.label} (${def.unit})`;
}

/** The unit in words: "x100" or "in pixels". */
export function unitWords(def: MetricDef): string {
  return def.unit === 'x100' ? 'x100' : 'in pixels';
}

/** The SDL description of the metric's `BenchmarkAggregate` field: "Dice coefficient x100." */
export function metricDoc(def: MetricDef): string {
  return `${def.description} ${unitWords(def)}.`;
}

/** Whether `a` is a better value than `b` of the metric (strictly, beyond `margin` in stored units). */
export function isBetter(def: MetricDef, a: number, b: number, margin = 0): boolean {
  return def.higherIsBetter ? a > b + margin : a < b - margin;
}

/** The labels of `table` as prose: "Dice, IoU and NSD" (empty for no metric). */
export function labelList(table: MetricTable): string {
  const names = table.map((d) => d.label);
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** The x100 and the pixel metrics' labels, for prose ("Dice, IoU and NSD are shown x100"). */
export function labelsByUnit(table: MetricTable = METRICS): Record<MetricUnit, string> {
  return {
    x100: labelList(table.filter((d) => d.unit === 'x100')),
    px: labelList(table.filter((d) => d.unit === 'px')),
  };
}

/** Thrown by {@link checkMetricTable} for a table a store or schema could not carry. */
export class MetricTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricTableError';
  }
}

/**
 * Names a metric cannot take: `oracle_index` and `deploy_index` are samples columns already, and the others
 * are fields of the aggregate rows (and of GraphQL's `BenchmarkAggregate`) beside the metrics.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'index',
  'model',
  'strategy',
  'selection',
  'scope',
  'target',
  'modality',
  'dataset',
  'samples',
  'failed',
  'metrics',
]);

/**
 * Checks a table: names are distinct SQL- and GraphQL-safe identifiers that clash with no other column or
 * field, and unit and scale agree (x100 is scale 100, px is scale 1). Throws MetricTableError saying which
 * entry is wrong.
 */
export function checkMetricTable(table: MetricTable): void {
  const seen = new Set<string>();
  for (const def of table) {
    if (!/^[a-z][a-z0-9]{0,30}$/.test(def.name)) {
      throw new MetricTableError(
        `metric name must be 1 to 31 lower-case letters or digits starting with a letter, got '${def.name}'`,
      );
    }
    if (RESERVED_NAMES.has(def.name)) {
      throw new MetricTableError(
        `metric name '${def.name}' is taken by a samples column or an aggregate field (${[...RESERVED_NAMES].join(', ')})`,
      );
    }
    if (seen.has(def.name)) throw new MetricTableError(`metric '${def.name}' appears twice`);
    seen.add(def.name);
    const expected = def.unit === 'x100' ? 100 : def.unit === 'px' ? 1 : undefined;
    if (expected === undefined) {
      throw new MetricTableError(`metric '${def.name}': unit must be x100 or px, got '${String(def.unit)}'`);
    }
    if (def.scale !== expected) {
      throw new MetricTableError(
        `metric '${def.name}': unit ${def.unit} needs scale ${expected}, got ${def.scale}`,
      );
    }
  }
}
