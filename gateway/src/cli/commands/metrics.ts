/** `medseg metrics`: every segmentation metric of the benchmark protocol for one prediction/ground-truth pair. */
import { METRICS, labelList, labelsByUnit, type MetricTable } from '../../bench/metric-table.ts';
import { MetricsError, computeMetrics, type EmptyConvention } from '../../core/metrics.ts';
import { parseCliArgs, CliError, EXIT, type CliCommand } from '../command.ts';
import { maskRule, readMaskFile } from '../mask-files.ts';

const TABLE: MetricTable = METRICS;
const UNITS = labelsByUnit(TABLE);

const USAGE = `usage: medseg metrics --pred PRED.png --gt GT.png [--spacing SY,SX] [--tau T]
                      [--value V | --threshold T] [--convention paper|nan] [--json]

${labelList(TABLE)} between two masks of one size (PNG, GIF, JPEG or TIFF); NSD at tolerance T
(default 2), ASD from the prediction to the ground truth. Each mask must be binary (0 and one other value)
unless --value picks the pixels equal to V of label images or --threshold the pixels above T of greyscale
or lossy masks; anything else (a photograph, a multi-class label) is refused. ${UNITS.x100} are fractions;
${UNITS.px} are in pixels, or in the units of --spacing (row spacing SY, column spacing SX, e.g.
millimetres). Empty masks follow --convention (paper: 0; nan: NaN where undefined).`;

function parseSpacing(text: string): [number, number] {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 2 || !parts.every((v) => Number.isFinite(v) && v > 0)) {
    throw new CliError(`--spacing must be SY,SX with two numbers > 0, got '${text}'`);
  }
  return [parts[0], parts[1]];
}

export const command: CliCommand = {
  name: 'metrics',
  summary: `${labelList(TABLE)} between two mask PNGs`,
  usage: USAGE,
  async run(args, io) {
    const { values } = parseCliArgs(
      args,
      {
        options: {
          pred: { type: 'string' },
          gt: { type: 'string' },
          spacing: { type: 'string' },
          tau: { type: 'string' },
          value: { type: 'string' },
          threshold: { type: 'string' },
          convention: { type: 'string' },
          json: { type: 'boolean' },
        },
      },
      USAGE,
    );
    if (values.pred === undefined || values.gt === undefined)
      throw new CliError(`--pred and --gt are required\n${USAGE}`);
    const spacing = values.spacing === undefined ? undefined : parseSpacing(values.spacing);
    const tau = values.tau === undefined ? undefined : Number(values.tau);
    if (tau !== undefined && !(Number.isFinite(tau) && tau >= 0)) {
      throw new CliError(`--tau must be a number >= 0, got '${values.tau}'`);
    }
    const convention = (values.convention ?? 'paper') as EmptyConvention;
    if (convention !== 'paper' && convention !== 'nan') {
      throw new CliError(`--convention must be paper or nan, got '${values.convention}'`);
    }
    const rule = maskRule(values);
    const pred = await readMaskFile(values.pred, 'prediction', rule);
    const gt = await readMaskFile(values.gt, 'ground truth', rule);
    if (pred.width !== gt.width || pred.height !== gt.height) {
      throw new CliError(
        `size mismatch: prediction is ${pred.width}x${pred.height} but ground truth is ${gt.width}x${gt.height} (width x height)`,
      );
    }
    let m;
    try {
      m = computeMetrics(pred, gt, { spacing, nsdTolerance: tau, convention });
    } catch (err: unknown) {
      if (err instanceof MetricsError) throw new CliError(err.message);
      throw err;
    }
    if (values.json) {
      // JSON has no NaN: undefined values print as null.
      io.stdout(JSON.stringify({ ...m, spacing: spacing ?? [1, 1], tau: tau ?? 2, convention }) + '\n');
      return EXIT.ok;
    }
    const unit = spacing ? '(spacing units)' : 'px';
    // One line per metric of the table: fractions as they are (the CLI does not scale), distances with units.
    const lines = TABLE.map((d) => {
      const name = d.usesTolerance ? `${d.name}@${tau ?? 2}` : d.name;
      const v = d.extract(m);
      return `${name.padEnd(11)} ${d.unit === 'px' ? `${v.toFixed(4)} ${unit}` : v.toFixed(6)}`;
    });
    lines.push(
      `areas       prediction ${m.predArea}, ground truth ${m.gtArea}, intersection ${m.intersection}`,
    );
    io.stdout(lines.join('\n') + '\n');
    return EXIT.ok;
  },
};
