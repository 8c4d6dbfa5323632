/**
 * The roles of the GraphQL API and the one table that says which role each top-level field needs. The auth
 * plugin (auth.ts) consults it for every operation, over HTTP and WebSocket alike. A field missing from the
 * table needs `admin`: a new field stays closed until someone decides who may call it.
 */

/** The roles a credential can carry. */
export const ROLES = ['segment', 'benchmark', 'train', 'admin'] as const;

/** One role. */
export type Role = (typeof ROLES)[number];

/** What a top-level field needs: a role, or `authenticated` (any valid credential, whatever its roles). */
export type Requirement = Role | 'authenticated';

/** True for a string that names a role. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/**
 * Field name -> required role, for Query, Mutation and Subscription fields together (names are unique across
 * the three in this schema). Only fields that exist are listed: anything else falls through to `admin` until
 * it is added here on purpose.
 */
export const ROLE_TABLE: Readonly<Record<string, Requirement>> = Object.freeze({
  // Introspection and __typename: harmless to anyone already authenticated, needed by every client tool.
  __schema: 'authenticated',
  __type: 'authenticated',
  __typename: 'authenticated',
  // Segmentation, models and interactive sessions.
  models: 'segment',
  model: 'segment',
  embedding: 'segment',
  segment: 'segment',
  segmentEverything: 'segment',
  encodeImage: 'segment',
  session: 'segment',
  startSession: 'segment',
  addClick: 'segment',
  setBox: 'segment',
  undo: 'segment',
  reset: 'segment',
  exportSession: 'segment',
  closeSession: 'segment',
  // Medical volumes and PACS: clinical segmentation work, so the segment role.
  volumeJob: 'segment',
  segmentVolume: 'segment',
  startVolumeSegmentation: 'segment',
  cancelVolume: 'segment',
  exportDicomSeg: 'segment',
  volumeProgress: 'segment',
  pacsEndpoints: 'segment',
  renderImage: 'segment',
  // The web app's browser decoding and PACS browsing (schema/web.graphql).
  browserDecoder: 'segment',
  embeddingTensor: 'segment',
  pacsStudies: 'segment',
  pacsSeries: 'segment',
  pacsInstances: 'segment',
  // The caller's own identity and roles: any credential may see what it is allowed to do.
  viewer: 'authenticated',
  // Benchmark jobs and datasets (schema/benchmark.graphql).
  datasets: 'benchmark',
  registerDataset: 'benchmark',
  benchmark: 'benchmark',
  benchmarks: 'benchmark',
  startBenchmark: 'benchmark',
  cancelBenchmark: 'benchmark',
  resumeBenchmark: 'benchmark',
  benchmarkProgress: 'benchmark',
  // Fine-tuning (schema/finetune.graphql): it writes new models into the repository, so a role of its own.
  fineTuneJobs: 'train',
  fineTuneJob: 'train',
  startFineTune: 'train',
  cancelFineTune: 'train',
  resumeFineTune: 'train',
  fineTuneProgress: 'train',
  // Operational views: admin only.
  cacheStats: 'admin',
});

/** The requirement of one top-level field; unknown fields need admin (fail closed). */
export function requirementOf(field: string): Requirement {
  return Object.prototype.hasOwnProperty.call(ROLE_TABLE, field) ? ROLE_TABLE[field] : 'admin';
}

/** True when a holder of `roles` meets `need`; admin meets everything. */
export function satisfies(roles: readonly Role[], need: Requirement): boolean {
  if (need === 'authenticated') return true;
  return roles.includes('admin') || roles.includes(need);
}

/** Parses a comma- or space-separated role list, rejecting unknown names with the list of valid ones. */
export function parseRoles(text: string): Role[] {
  const names = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const bad = names.filter((n) => !isRole(n));
  if (bad.length > 0)
    throw new Error(`unknown role(s) ${bad.join(', ')}; expected some of ${ROLES.join(', ')}`);
  if (names.length === 0) throw new Error(`at least one role is needed, one of ${ROLES.join(', ')}`);
  return [...new Set(names as Role[])];
}
