/**
 * The paper's findings ("Segment Anything Model for Medical Images?", Huang et al. 2024, §4 and §5) tested
 * against the numbers of one or more benchmark jobs: for each finding the data can test, what the run shows;
 * for the others, what run would test them. Pure: reads built reports only.
 */
import { HEADLINE_METRIC, isBetter, scaledValue, statOf } from '../metric-table.ts';
import { findRow, type BenchmarkReport } from './build-report.ts';
import type { SelectionName } from '../types.ts';

// Findings compare the headline metric (Dice), in its direction, and show it in its report units.
const HEAD = HEADLINE_METRIC;
/** Half the last digit shown (0.1 report units), in stored units: smaller differences count as none. */
const SHOWN_MARGIN = 0.05 / HEAD.scale;

/** What the data says of one finding. */
export type Verdict = 'supported' | 'not supported' | 'not testable';

/** One finding of the paper and what the run shows. */
export interface Finding {
  id: 'box-beats-points' | 'everything-below-prompts' | 'randomness-costs' | 'clicks-improve' | 'factors';
  /** The paper's claim, in short. */
  claim: string;
  verdict: Verdict;
  /** The numbers behind the verdict (the headline metric, Dice x100), or what run would test the finding. */
  evidence: string;
}

const pts = (d: number | null | undefined): string => scaledValue(HEAD, d)?.toFixed(1) ?? 'n/a';

function overallDice(
  r: BenchmarkReport,
  model: string,
  strategy: string,
  selection: SelectionName,
): number | null {
  const row = findRow(r.aggregate.rows, { model, strategy, selection, scope: 'overall' });
  return row ? statOf(row.metrics, HEAD).mean : null;
}

/** Which finding claims what, in the paper's words (shortened). */
const CLAIMS: Record<Finding['id'], string> = {
  'box-beats-points': 'box prompts give higher Dice than point prompts (S5 > S2, S6 > S3)',
  'everything-below-prompts': "the 'everything' mode (S1) falls below prompted modes",
  'randomness-costs': 'moving the centre point or enlarging the tight box at random costs Dice',
  'clicks-improve': 'simulated corrective clicks raise Dice as their number grows',
  factors: 'object size, boundary complexity and intensity difference correlate with Dice',
};

/**
 * Tests the paper's findings on the given jobs' reports (the first job with no randomness is the baseline;
 * jobs with randomness are compared with it). Dice is the selection each job shows first.
 */
export function paperFindings(reports: readonly BenchmarkReport[], model?: string): Finding[] {
  const base = reports.find((r) => r.job.config.randomness === 'none') ?? reports[0];
  // A job with no stored sample yet (queued, or cancelled at once) has nothing to test.
  const m = model ?? base?.aggregate.models[0];
  if (!base || m === undefined || !base.aggregate.models.includes(m)) return [];
  const sel = base.job.config.selection;
  const dice = (r: BenchmarkReport, s: string) => overallDice(r, m, s, sel);
  const findings: Finding[] = [];
  const finding = (id: Finding['id'], verdict: Verdict, evidence: string) =>
    findings.push({ id, claim: CLAIMS[id], verdict, evidence });

  // 1. Box beats points.
  const pairs: Array<[string, string]> = [
    ['S5', 'S2'],
    ['S6', 'S3'],
  ];
  const compared = pairs
    .map(([box, point]) => [box, point, dice(base, box), dice(base, point)] as const)
    .filter(([, , b, p]) => b !== null && p !== null);
  if (compared.length === 0) {
    finding('box-beats-points', 'not testable', 'run S2 and S5 (or S3 and S6) in one job');
  } else {
    const wins = compared.filter(([, , b, p]) => isBetter(HEAD, b!, p!)).length;
    finding(
      'box-beats-points',
      wins === compared.length ? 'supported' : 'not supported',
      compared.map(([b, p, db, dp]) => `${b} ${pts(db)} vs ${p} ${pts(dp)}`).join('; '),
    );
  }

  // 2. Everything mode below prompts.
  const s1 = dice(base, 'S1');
  const prompted = ['S2', 'S3', 'S4', 'S5', 'S6']
    .map((s) => [s, dice(base, s)] as const)
    .filter(([, d]) => d !== null) as Array<readonly [string, number]>;
  if (s1 === null || prompted.length === 0) {
    finding('everything-below-prompts', 'not testable', 'run S1 with at least one prompted strategy');
  } else {
    const best = prompted.reduce((a, b) => (isBetter(HEAD, b[1], a[1]) ? b : a));
    const below = prompted.filter(([, d]) => isBetter(HEAD, d, s1)).map(([s]) => s);
    finding(
      'everything-below-prompts',
      isBetter(HEAD, best[1], s1) ? 'supported' : 'not supported',
      `S1 ${pts(s1)} vs best prompt ${best[0]} ${pts(best[1])}; S1 is below ${below.join(', ') || 'none'}`,
    );
  }

  // 3. Randomness costs Dice: each perturbed job against the baseline, for the centre point and the box.
  const perturbed = reports.filter((r) => r.job.config.randomness !== 'none');
  if (base.job.config.randomness !== 'none' || perturbed.length === 0) {
    finding(
      'randomness-costs',
      'not testable',
      'needs a job without randomness and jobs with --randomness 0-10, 10-20 or 20-30 on the same data',
    );
  } else {
    // Supported when no perturbation raises Dice above the unperturbed prompt and at least one lowers it (a
    // small band can leave a centre point where it was).
    const parts: string[] = [];
    let raised = 0;
    let lowered = 0;
    for (const r of perturbed) {
      for (const s of ['S2', 'S5']) {
        const d0 = dice(base, s);
        const d1 = dice(r, s);
        if (d0 === null || d1 === null) continue;
        // Differences below the 0.1 points shown count as none.
        if (isBetter(HEAD, d1, d0, SHOWN_MARGIN)) raised += 1;
        if (isBetter(HEAD, d0, d1, SHOWN_MARGIN)) lowered += 1;
        parts.push(`${s} ${r.job.config.randomness} px: ${pts(d1)} vs ${pts(d0)}`);
      }
    }
    finding(
      'randomness-costs',
      parts.length === 0 ? 'not testable' : raised === 0 && lowered > 0 ? 'supported' : 'not supported',
      parts.join('; ') || 'no S2 or S5 in the perturbed jobs',
    );
  }

  // 4. Clicks improve Dice.
  const curve = reports
    .flatMap((r) => r.aggregate.curves)
    .find((c) => c.model === m && c.meanDice.length > 1);
  if (!curve) {
    finding('clicks-improve', 'not testable', 'run with --interactive errorRegion --clicks N');
  } else {
    const d = curve.meanDice;
    const rises = d.slice(1).filter((v, i) => v >= d[i]).length;
    finding(
      'clicks-improve',
      d[d.length - 1] > d[0] ? 'supported' : 'not supported',
      `${curve.protocol}: Dice ${pts(d[0])} after interaction 1, ${pts(d[d.length - 1])} after ${d.length}; ` +
        `${rises} of ${d.length - 1} steps do not lower it`,
    );
  }

  // 5. Factors: significant Spearman correlations with Dice, for the box prompt when it ran.
  const strategy = dice(base, 'S5') !== null ? 'S5' : base.aggregate.strategies.find((s) => s !== 'S1');
  const corr = base.aggregate.correlations.filter(
    (c) => c.model === m && c.selection === sel && c.strategy === strategy,
  );
  if (corr.length === 0) {
    finding('factors', 'not testable', 'too few samples with factors for a correlation');
  } else {
    const significant = corr.filter((c) => Number.isFinite(c.p) && c.p < 0.05);
    finding(
      'factors',
      significant.length > 0 ? 'supported' : 'not supported',
      `${strategy}, n=${corr[0].n}: ` +
        corr
          .map(
            (c) =>
              `${c.factor} rho ${Number.isFinite(c.rho) ? c.rho.toFixed(2) : 'n/a'} (p ${Number.isFinite(c.p) ? c.p.toPrecision(2) : 'n/a'})`,
          )
          .join(', '),
    );
  }
  return findings;
}
