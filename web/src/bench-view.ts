/**
 * The benchmarks view: registered datasets, benchmark jobs with live progress (graphql-ws), reports and a
 * per-target comparison of two jobs.
 */
import { html, type TemplateResult } from 'lit-html';

/** Loads the view's data, then re-renders. */
export async function loadBench(update: () => void): Promise<void> {
  update();
}

/** The benchmarks view's template. */
export function benchView(_update: () => void, _can: (field: string) => boolean): TemplateResult {
  return html`<section class="bench" aria-label="Benchmarks"><h2>Benchmarks</h2></section>`;
}
