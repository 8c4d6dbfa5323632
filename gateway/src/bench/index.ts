/** The benchmark engine's public surface (issue 4): what the API and the CLI import. */
export { aggregateSamples, FACTOR_NAMES, metricStat } from './aggregate.ts';
export type {
  AggregateRow,
  AggregateScope,
  BenchmarkAggregate,
  CurveSummary,
  FactorCorrelation,
  MetricStat,
} from './aggregate.ts';
export { BenchmarkLimitError, BenchmarkService, checkRunningJobLimit } from './benchmark-service.ts';
export { DatasetError, MIN_OBJECT_PIXELS } from './datasets/dataset.ts';
export type {
  Dataset,
  DatasetImage,
  DatasetLayout,
  DatasetObject,
  DatasetOptions,
  DatasetProblem,
  DatasetStats,
  LoadedImage,
} from './datasets/dataset.ts';
export { loadDataset } from './datasets/load-dataset.ts';
export { openRegisteredDataset, registerDataset } from './datasets/registry.ts';
export { sampleKey } from './job-store.ts';
export type { DatasetRow, JobRow, JobStore, PromptKey, StoredPrompt } from './job-store.ts';
export { buildReport, ReportError } from './report/build-report.ts';
export type { BenchmarkReport } from './report/build-report.ts';
export { REPORT_FORMATS, renderReport, reportJob } from './report/render.ts';
export type { ReportFormat } from './report/render.ts';
export {
  BenchmarkError,
  LEASE_LOST,
  normalizeConfig,
  resumeBenchmark,
  resumeInterruptedJobs,
  selectObjects,
  startBenchmark,
} from './runner.ts';
export type {
  BenchmarkDeps,
  BenchmarkEvent,
  BenchmarkHandle,
  BenchmarkInput,
  EverythingSegmenter,
  JobLease,
  JobSummary,
  ProgressEvent,
  StatusEvent,
} from './runner.ts';
export * from './types.ts';
