/**
 * Scans and loads a Triton model repository for the embedded server: `<model>/config.pbtxt` (the name
 * defaults to the folder name; a different name is an error), numeric version folders filtered by
 * version_policy (latest 1 by default), `<version>/model.onnx` (or default_model_filename). Each model loads
 * on its own: one that fails (bad config, missing file, config vs ONNX mismatch, unsupported platform) is
 * UNAVAILABLE with the reason, the others serve. Ensembles load last, against the ready models.
 * Spec: Triton docs/user_guide/model_repository.md
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../protocol/model-config.ts';
import type { RepositoryModel } from '../protocol/types.ts';
import { EnsembleModel, planEnsemble } from './ensemble.ts';
import { OnnxModel } from './onnx-model.ts';
import { parseModelConfig } from './pbtxt-parser.ts';
import type { ServedModel } from './served-model.ts';

/** The lifecycle of one model version. */
export type VersionState = { phase: 'ready'; model: ServedModel } | { phase: 'unavailable'; reason: string };

/** One model folder of the repository. */
export interface ModelEntry {
  name: string;
  /** Absent when config.pbtxt is missing or invalid. */
  config?: ModelConfig;
  /** Model-level failure (config, no versions); versions is then empty. */
  error?: string;
  /** Served versions by version string. */
  versions: Map<string, VersionState>;
}

/** Options of {@link ModelRepository.load}. */
export interface ModelRepositoryOptions {
  /** ONNX Runtime intra-op threads per instance (default 1). */
  intraOpThreads?: number;
  logger?: (line: string) => void;
}

/** The outcome of looking a model up for a request. */
export type Resolution =
  | { kind: 'ready'; model: ServedModel }
  | { kind: 'unknown'; message: string }
  | { kind: 'not-ready'; message: string };

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A loaded model repository. */
export class ModelRepository {
  private constructor(
    /** The repository folder. */
    readonly root: string,
    private readonly models: Map<string, ModelEntry>,
    private readonly options: ModelRepositoryOptions,
  ) {}

  /** Scans `root` and loads every model; never throws for a single bad model. */
  static async load(root: string, options: ModelRepositoryOptions = {}): Promise<ModelRepository> {
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      throw new Error(`model repository '${root}' is not a directory`);
    }
    const repo = new ModelRepository(root, new Map(), options);
    await repo.loadFolders(listFolders(root));
    for (const row of repo.index()) repo.logRow(row);
    return repo;
  }

  /**
   * Loads the model folders that appeared since the last scan (Triton's repository polling): a new model
   * serves without a restart. Folders already loaded are left alone, except ensembles that have no ready
   * version yet, which are placed again (their step models may have arrived since). A folder is expected to
   * appear complete (written elsewhere, then renamed in); hidden folders (`.name`) are never read. Returns the
   * names loaded. A repository that cannot be read leaves the served models as they are.
   */
  async refresh(): Promise<string[]> {
    let folders: string[];
    try {
      folders = listFolders(this.root);
    } catch {
      return [];
    }
    const fresh = folders.filter((f) => !this.models.has(f));
    const retry = this.entries().filter(
      (e) => e.config?.platform === 'ensemble' && ![...e.versions.values()].some((v) => v.phase === 'ready'),
    );
    if (fresh.length === 0 && retry.length === 0) return [];
    await this.loadFolders(fresh, retry);
    const ready = [...fresh, ...retry.map((e) => e.name)].filter((n) => this.resolve(n).kind === 'ready');
    // New folders are logged whatever their state; a retried ensemble only once it serves (no log every poll).
    const logged = new Set([...fresh, ...ready]);
    for (const row of this.index().filter((r) => logged.has(r.name))) this.logRow(row);
    return ready;
  }

  private logRow(row: RepositoryModel): void {
    (this.options.logger ?? (() => {}))(
      `model ${row.name}${row.version ? ` version ${row.version}` : ''}: ${row.state}${row.reason ? ` (${row.reason})` : ''}`,
    );
  }

  private async loadFolders(folders: string[], retryEnsembles: ModelEntry[] = []): Promise<void> {
    const { root, models, options } = this;
    const ensembles: Array<{ entry: ModelEntry; versions: string[] }> = retryEnsembles.map((entry) => {
      entry.versions.clear();
      entry.error = undefined;
      return { entry, versions: selectVersions(join(root, entry.name), entry.config!) };
    });
    for (const e of ensembles) if (e.versions.length === 0) e.versions.push('1');
    await Promise.all(
      folders.map(async (folder) => {
        const entry: ModelEntry = { name: folder, versions: new Map() };
        models.set(folder, entry);
        const dir = join(root, folder);
        const configFile = join(dir, 'config.pbtxt');
        if (!existsSync(configFile)) {
          entry.error = `missing ${configFile}`;
          return;
        }
        let config: ModelConfig;
        try {
          config = parseModelConfig(readFileSync(configFile, 'utf8'), configFile, folder);
        } catch (err: unknown) {
          entry.error = errorText(err);
          return;
        }
        if (config.name !== folder) {
          entry.error = `${configFile}: name '${config.name}' does not match the model folder '${folder}'`;
          return;
        }
        entry.config = config;
        const versions = selectVersions(dir, config);
        const isEnsemble = config.platform === 'ensemble';
        if (versions.length === 0) {
          if (!isEnsemble) {
            entry.error = `no numeric version folder in ${dir} matches the version policy`;
            return;
          }
          versions.push('1');
        }
        if (isEnsemble) {
          ensembles.push({ entry, versions });
          return;
        }
        if (!(
          config.platform === 'onnxruntime_onnx' ||
          (!config.platform && config.backend === 'onnxruntime')
        )) {
          entry.error = `platform '${config.platform || config.backend}' is not supported by the embedded server (ONNX Runtime on CPU and ensembles only)`;
          return;
        }
        for (const v of versions) {
          const file = join(dir, v, config.defaultModelFilename || 'model.onnx');
          if (!existsSync(file)) {
            entry.versions.set(v, { phase: 'unavailable', reason: `missing model file ${file}` });
            continue;
          }
          try {
            const model = await OnnxModel.load(readFileSync(file), config, v, versions, {
              intraOpThreads: options.intraOpThreads,
            });
            entry.versions.set(v, { phase: 'ready', model });
          } catch (err: unknown) {
            entry.versions.set(v, { phase: 'unavailable', reason: `${file}: ${errorText(err)}` });
          }
        }
      }),
    );
    // Ensembles may use other ensembles: load in rounds until no more can be placed.
    let pending = ensembles;
    while (pending.length > 0) {
      const next: typeof pending = [];
      for (const p of pending) {
        const waitsFor = (p.entry.config?.ensembleScheduling?.step ?? []).some((s) =>
          pending.some((q) => q !== p && q.entry.name === s.modelName),
        );
        if (waitsFor) next.push(p);
        else this.loadEnsemble(p.entry, p.versions);
      }
      if (next.length === pending.length) {
        for (const p of next) p.entry.error = 'ensemble steps form a cycle between ensembles';
        break;
      }
      pending = next;
    }
  }

  private loadEnsemble(entry: ModelEntry, versions: string[]): void {
    const config = entry.config as ModelConfig;
    const lookup = (name: string, version: number) => this.lookupForEnsemble(name, version);
    for (const v of versions) {
      try {
        const order = planEnsemble(config, lookup);
        entry.versions.set(v, {
          phase: 'ready',
          model: new EnsembleModel(v, config, order, lookup, versions),
        });
      } catch (err: unknown) {
        entry.versions.set(v, { phase: 'unavailable', reason: errorText(err) });
      }
    }
  }

  private lookupForEnsemble(name: string, version: number): ServedModel | string {
    const r = this.resolve(name, version >= 0 ? String(version) : '');
    return r.kind === 'ready' ? r.model : r.message;
  }

  /** Every model entry, sorted by name. */
  entries(): ModelEntry[] {
    return [...this.models.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Finds the model version a request names (empty version: the highest ready version). */
  resolve(name: string, version = ''): Resolution {
    const entry = this.models.get(name);
    if (!entry) return { kind: 'unknown', message: `Request for unknown model: '${name}' is not found` };
    if (entry.error)
      return { kind: 'not-ready', message: `Request for model '${name}' which is not ready: ${entry.error}` };
    if (version) {
      const state = entry.versions.get(version);
      if (!state)
        return {
          kind: 'unknown',
          message: `Request for unknown model: '${name}' version ${version} is not found`,
        };
      if (state.phase !== 'ready') {
        return {
          kind: 'not-ready',
          message: `Request for model '${name}' version ${version} which is not ready: ${state.reason}`,
        };
      }
      return { kind: 'ready', model: state.model };
    }
    const ready = [...entry.versions.entries()]
      .filter(([, s]) => s.phase === 'ready')
      .sort(([a], [b]) => Number(b) - Number(a));
    if (ready.length === 0) {
      const reasons = [...entry.versions.values()]
        .map((s) => (s.phase === 'unavailable' ? s.reason : ''))
        .filter(Boolean);
      return {
        kind: 'not-ready',
        message: `Request for model '${name}' which is not ready: ${reasons.join('; ') || 'no version loaded'}`,
      };
    }
    return { kind: 'ready', model: (ready[0][1] as { model: ServedModel }).model };
  }

  /** RepositoryIndex rows: one per version, or one without version for a model-level failure. */
  index(): RepositoryModel[] {
    const rows: RepositoryModel[] = [];
    for (const e of this.entries()) {
      if (e.error) {
        rows.push({ name: e.name, version: '', state: 'UNAVAILABLE', reason: e.error });
        continue;
      }
      for (const [v, s] of [...e.versions.entries()].sort(([a], [b]) => Number(a) - Number(b))) {
        rows.push(
          s.phase === 'ready'
            ? { name: e.name, version: v, state: 'READY', reason: '' }
            : { name: e.name, version: v, state: 'UNAVAILABLE', reason: s.reason },
        );
      }
    }
    return rows;
  }

  /** Every ready model version. */
  readyModels(): ServedModel[] {
    return this.entries().flatMap((e) =>
      [...e.versions.values()].flatMap((s) => (s.phase === 'ready' ? [s.model] : [])),
    );
  }

  /** True when every model of the repository is ready (Triton's strict readiness). */
  allReady(): boolean {
    return this.entries().every(
      (e) => !e.error && e.versions.size > 0 && [...e.versions.values()].every((s) => s.phase === 'ready'),
    );
  }

  /** Releases every ONNX Runtime session. */
  async close(): Promise<void> {
    await Promise.all(this.readyModels().map((m) => m.close()));
  }
}

/** The model folders of a repository (hidden ones skipped), sorted. */
function listFolders(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
}

/** Version folders of a model that its version_policy selects, as strings. */
export function selectVersions(dir: string, config: ModelConfig): string[] {
  const all = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^\d+$/.test(d.name) && Number(d.name) > 0)
    .map((d) => Number(d.name))
    .sort((a, b) => a - b);
  const policy = config.versionPolicy ?? { latest: { numVersions: 1 } };
  let chosen: number[];
  if ('latest' in policy) chosen = all.slice(-Math.max(1, policy.latest.numVersions));
  else if ('all' in policy) chosen = all;
  else chosen = all.filter((v) => policy.specific.versions.includes(v));
  return chosen.map(String);
}
