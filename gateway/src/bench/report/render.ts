/** One entry point for every report format. */
import { buildReport, type BenchmarkReport } from './build-report.ts';
import { renderCsv } from './csv.ts';
import { renderHtml } from './html.ts';
import { renderJson } from './json.ts';
import { renderMarkdown } from './markdown.ts';
import type { JobStore } from '../job-store.ts';

/** Report formats. */
export const REPORT_FORMATS = ['md', 'csv', 'json', 'html'] as const;
/** One report format. */
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** Renders a built report in a format. */
export function renderReport(report: BenchmarkReport, format: ReportFormat): string {
  switch (format) {
    case 'md':
      return renderMarkdown(report);
    case 'csv':
      return renderCsv(report);
    case 'json':
      return renderJson(report);
    case 'html':
      return renderHtml(report);
    default: {
      const never: never = format;
      throw new Error(`unknown report format ${String(never)}`);
    }
  }
}

/** Builds and renders the report of a stored job. */
export async function reportJob(store: JobStore, jobId: string, format: ReportFormat): Promise<string> {
  return renderReport(await buildReport(store, jobId), format);
}
