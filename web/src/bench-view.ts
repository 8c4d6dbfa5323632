/**
 * The benchmarks view: register a dataset under the gateway's data roots, start a job (models, strategies,
 * mode), follow its progress live over graphql-ws, list jobs, open a job's HTML report, and compare two jobs,
 * or two models of one job, target by target (Dice and its difference), and browse a job's gallery (the best,
 * median and worst case of each model x strategy x target), a click opening a case in the segment view.
 */
import { html, nothing, type TemplateResult } from 'lit-html';
import { gql, subscribe } from './api.ts';

interface Progress {
  done: number;
  total: number;
  failed: number;
  rate: number;
  etaSeconds: number | null;
}

interface Job {
  id: string;
  dataset: string;
  models: string[];
  strategies: string[];
  status: string;
  error: string | null;
  progress: Progress;
  createdAt: string;
}

/** A case of a job's gallery as the API gives it. */
interface GalleryCase {
  model: string;
  strategy: string;
  target: string;
  ranks: string[];
  imageId: string;
  objectId: string;
  dice: number;
  prompt: { points: Array<{ x: number; y: number; label: number }>; box: number[] | null };
  thumbnail: string;
}

/** What a click on a gallery case hands to the segment view. */
export interface GalleryOpen {
  name: string;
  pngBase64: string;
  model: string;
  points: Array<{ x: number; y: number; positive: boolean }>;
  box: { x0: number; y0: number; x1: number; y1: number } | null;
}

interface Dataset {
  id: string;
  name: string;
  layout: string;
  modality: string;
  images: number;
  objects: number;
  problems: Array<{ file: string; problem: string }>;
}

interface Aggregate {
  model: string;
  strategy: string;
  selection: string;
  target: string | null;
  samples: number;
  dice: { mean: number | null; std: number | null; n: number };
}

const STRATEGIES = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6'] as const;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const JOB_FIELDS =
  'id dataset models strategies status error createdAt progress { done total failed rate etaSeconds }';

const state = {
  datasets: [] as Dataset[],
  jobs: [] as Job[],
  models: [] as string[],
  error: '',
  notice: '',
  form: {
    path: '',
    id: '',
    modality: '',
    classes: '',
    layout: '',
    dataset: '',
    models: new Set<string>(),
    strategies: new Set<string>(['S2', 'S5']),
    mode: 'FAITHFUL',
    limit: '',
  },
  /** Progress events received per job over the subscription (the dashboard shows the count). */
  events: new Map<string, number>(),
  watching: new Map<string, () => void>(),
  report: null as null | { id: string; html: string },
  gallery: null as null | { id: string; cases: GalleryCase[] | null },
  /** `jobs`: job A against job B; `models`: model A against model B inside one job. */
  compare: { mode: 'jobs' as 'jobs' | 'models', a: '', b: '', job: '', modelA: '', modelB: '' },
  comparison: null as null | Array<{
    key: string;
    target: string;
    model: string;
    strategy: string;
    selection: string;
    a: number | null;
    b: number | null;
  }>,
};

let requestUpdate: () => void = () => undefined;
/** Generation of loadBench calls: an answer that a later load or a registration overtook is dropped. */
let loads = 0;
let loaded = false;

function fail(err: unknown): void {
  state.error = err instanceof Error ? err.message : String(err);
  requestUpdate();
}

/** Whether the credential may list models (the segment role's field); without it names are typed in. */
let listModels = true;

/**
 * Loads datasets, jobs and (when `withModels`) the ready models, then re-renders; follows every job that is
 * still running.
 */
export async function loadBench(update: () => void, withModels = listModels): Promise<void> {
  requestUpdate = update;
  listModels = withModels;
  const generation = ++loads;
  try {
    const d = await gql<{
      datasets: Dataset[];
      benchmarks: Job[];
      models?: Array<{ name: string; ready: boolean }>;
    }>(
      `query Bench { datasets { id name layout modality images objects problems { file problem } } benchmarks { ${JOB_FIELDS} } ${withModels ? 'models { name ready }' : ''} }`,
    );
    if (generation !== loads) return;
    loaded = true;
    state.datasets = d.datasets;
    state.jobs = d.benchmarks;
    state.models = (d.models ?? []).filter((m) => m.ready).map((m) => m.name);
    if (state.form.models.size === 0 && state.models.length > 0) state.form.models.add(state.models[0]);
    if (!state.form.dataset && d.datasets.length > 0) state.form.dataset = d.datasets[0].id;
    for (const j of state.jobs) if (!TERMINAL.has(j.status)) watch(j.id);
  } catch (err: unknown) {
    fail(err);
  }
  update();
}

/** Follows one job's progress over graphql-ws until it stops. */
function watch(id: string): void {
  if (state.watching.has(id)) return;
  const stop = subscribe<{
    benchmarkProgress: {
      type: string;
      status: string | null;
      error: string | null;
      progress: Progress | null;
    };
  }>(
    'subscription Progress($id: ID!) { benchmarkProgress(id: $id) { type status error progress { done total failed rate etaSeconds } } }',
    { id },
    {
      next: ({ benchmarkProgress: e }) => {
        state.events.set(id, (state.events.get(id) ?? 0) + 1);
        const job = state.jobs.find((j) => j.id === id);
        if (job) {
          if (e.progress) job.progress = e.progress;
          if (e.status) job.status = e.status;
          if (e.error) job.error = e.error;
        }
        requestUpdate();
      },
      error: (err) => {
        state.watching.delete(id);
        fail(err);
      },
      complete: () => {
        state.watching.delete(id);
        void refreshJobs();
      },
    },
  );
  state.watching.set(id, stop);
}

async function refreshJobs(): Promise<void> {
  try {
    state.jobs = (await gql<{ benchmarks: Job[] }>(`query Jobs { benchmarks { ${JOB_FIELDS} } }`)).benchmarks;
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

function parseClasses(text: string): Array<{ value: number; name: string }> | undefined {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) return undefined;
  return parts.map((p) => {
    const m = /^(\d+)\s*=\s*(.+)$/.exec(p);
    if (!m) throw new Error(`class "${p}" is not value=name`);
    return { value: Number(m[1]), name: m[2].trim() };
  });
}

async function register(ev: Event): Promise<void> {
  ev.preventDefault();
  state.error = '';
  const f = state.form;
  try {
    const input: Record<string, unknown> = { path: f.path.trim() };
    if (f.id.trim()) input.id = f.id.trim();
    if (f.modality.trim()) input.modality = f.modality.trim();
    if (f.layout) input.layout = f.layout;
    const classes = parseClasses(f.classes);
    if (classes) input.classes = classes;
    const d = await gql<{ registerDataset: Dataset }>(
      'mutation Register($input: RegisterDatasetInput!) { registerDataset(input: $input) { id name layout modality images objects problems { file problem } } }',
      { input },
    );
    const ds = d.registerDataset;
    state.datasets = [...state.datasets.filter((x) => x.id !== ds.id), ds];
    f.dataset = ds.id;
    state.notice = `Registered ${ds.id}: ${ds.images} images, ${ds.objects} objects, ${ds.problems.length} problems.`;
    // A load still in flight predates the registration: a new one supersedes it.
    await loadBench(requestUpdate);
    f.dataset = ds.id;
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

async function startJob(ev: Event): Promise<void> {
  ev.preventDefault();
  state.error = '';
  const f = state.form;
  try {
    const input: Record<string, unknown> = {
      dataset: f.dataset,
      models: [...f.models],
      strategies: STRATEGIES.filter((s) => f.strategies.has(s)),
      mode: f.mode,
    };
    if (f.limit.trim()) input.limit = Number(f.limit);
    const d = await gql<{ startBenchmark: Job }>(
      `mutation Start($input: StartBenchmarkInput!) { startBenchmark(input: $input) { ${JOB_FIELDS} } }`,
      { input },
    );
    state.jobs = [d.startBenchmark, ...state.jobs.filter((j) => j.id !== d.startBenchmark.id)];
    state.notice = `Started job ${d.startBenchmark.id}.`;
    watch(d.startBenchmark.id);
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

async function jobAction(id: string, action: 'cancelBenchmark' | 'resumeBenchmark'): Promise<void> {
  try {
    await gql(`mutation Act($id: ID!) { ${action}(id: $id) { id status } }`, { id });
    if (action === 'resumeBenchmark') watch(id);
    await refreshJobs();
  } catch (err: unknown) {
    fail(err);
  }
}

async function openReport(id: string): Promise<void> {
  try {
    const d = await gql<{ benchmark: { report: string } | null }>(
      'query Report($id: ID!) { benchmark(id: $id) { report(format: "html") } }',
      { id },
    );
    state.report = d.benchmark ? { id, html: d.benchmark.report } : null;
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

let openInSegmentView: (c: GalleryOpen) => void = () => undefined;

/** Sets what a click on a gallery case does (the app switches to the segment view and opens it there). */
export function onGalleryOpen(open: (c: GalleryOpen) => void): void {
  openInSegmentView = open;
}

async function openGallery(id: string): Promise<void> {
  state.gallery = { id, cases: null };
  requestUpdate();
  try {
    const d = await gql<{ benchmark: { gallery: GalleryCase[] } | null }>(
      `query Gallery($id: ID!) { benchmark(id: $id) { gallery(limit: 60) {
        model strategy target ranks imageId objectId dice prompt { points { x y label } box } thumbnail } } }`,
      { id },
    );
    if (state.gallery?.id === id) state.gallery = { id, cases: d.benchmark?.gallery ?? [] };
  } catch (err: unknown) {
    state.gallery = null;
    fail(err);
  }
  requestUpdate();
}

async function openGalleryCase(jobId: string, c: GalleryCase): Promise<void> {
  try {
    const d = await gql<{ benchmark: { gallery: Array<{ image: string }> } | null }>(
      `query GalleryImage($id: ID!, $model: String!, $strategy: Strategy!, $target: String!, $objectId: ID!) {
        benchmark(id: $id) { gallery(model: $model, strategy: $strategy, target: $target, objectId: $objectId, limit: 1) { image } } }`,
      { id: jobId, model: c.model, strategy: c.strategy, target: c.target, objectId: c.objectId },
    );
    const image = d.benchmark?.gallery[0]?.image;
    if (!image) throw new Error(`case ${c.objectId} is no longer in the gallery`);
    const b = c.prompt.box;
    openInSegmentView({
      name: `${c.imageId} (${c.strategy} ${c.target} ${c.ranks.join('/')})`,
      pngBase64: image,
      model: c.model,
      points: c.prompt.points.map((p) => ({ x: p.x, y: p.y, positive: p.label === 1 })),
      box: b ? { x0: b[0], y0: b[1], x1: b[2], y1: b[3] } : null,
    });
  } catch (err: unknown) {
    fail(err);
  }
}

function gallerySection(canSegment: boolean): TemplateResult | typeof nothing {
  const g = state.gallery;
  if (!g) return nothing;
  const groups = new Map<string, GalleryCase[]>();
  for (const c of g.cases ?? []) {
    const key = `${c.model} · ${c.strategy} · ${c.target}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return html`<section aria-labelledby="gallery-title" id="gallery">
    <h3 id="gallery-title">Gallery of job ${g.id.slice(0, 8)}</h3>
    <p>
      Best, median and worst sample by the deployable Dice for each model, strategy and target: the image, the
      ground-truth contour (green), the predicted mask (orange), positive points (blue), negative points (red)
      and the box (yellow).
      ${
        canSegment
          ? 'Click a case to open it in the segment view with the same prompt.'
          : "Opening a case in the segment view needs the key's segment role."
      }
    </p>
    ${
      g.cases === null
        ? html`<p role="status">Re-creating the cases…</p>`
        : g.cases.length === 0
          ? html`<p>No case: the job has no successful point or box sample (S2–S6) yet.</p>`
          : [...groups].map(
              ([key, cases]) =>
                html`<div class="gallery-group">
                  <h4>${key}</h4>
                  ${cases.map((c) =>
                    !canSegment
                      ? html`<figure
                          class="gallery-case"
                          data-object=${c.objectId}
                          data-strategy=${c.strategy}
                        >
                          <img
                            src=${`data:image/png;base64,${c.thumbnail}`}
                            alt=${`${c.ranks.join(' and ')} case ${c.objectId} (${c.strategy}, Dice ${c.dice.toFixed(1)})`}
                          />
                          <figcaption>${c.ranks.join(' / ')} · Dice ${c.dice.toFixed(1)}</figcaption>
                        </figure>`
                      : html`<button
                          type="button"
                          class="gallery-case"
                          data-object=${c.objectId}
                          data-strategy=${c.strategy}
                          aria-label=${`Open ${c.ranks.join(' and ')} case ${c.objectId} (${c.strategy}, Dice ${c.dice.toFixed(1)}) in the segment view`}
                          @click=${() => void openGalleryCase(g.id, c)}
                        >
                          <img src=${`data:image/png;base64,${c.thumbnail}`} alt="" />
                          <span>${c.ranks.join(' / ')} · Dice ${c.dice.toFixed(1)}</span>
                        </button>`,
                  )}
                </div>`,
            )
    }
  </section>`;
}

async function compare(): Promise<void> {
  const c = state.compare;
  const byModels = c.mode === 'models';
  if (byModels ? !c.job || !c.modelA || !c.modelB : !c.a || !c.b) return;
  try {
    const q =
      'query Cmp($id: ID!) { benchmark(id: $id) { results(scope: "target") { model strategy selection target samples dice { mean std n } } } }';
    const [ra, rb] = byModels
      ? await gql<{ benchmark: { results: Aggregate[] } | null }>(q, { id: c.job }).then((r) => [r, r])
      : await Promise.all([
          gql<{ benchmark: { results: Aggregate[] } | null }>(q, { id: c.a }),
          gql<{ benchmark: { results: Aggregate[] } | null }>(q, { id: c.b }),
        ]);
    const rows = new Map<string, NonNullable<typeof state.comparison>[number]>();
    // Two models of one job pair up by target, strategy and selection; two jobs also by model.
    const key = (r: Aggregate) =>
      `${r.target}|${byModels ? `${c.modelA} vs ${c.modelB}` : r.model}|${r.strategy}|${r.selection}`;
    for (const [side, list] of [
      ['a', (ra.benchmark?.results ?? []).filter((r) => !byModels || r.model === c.modelA)],
      ['b', (rb.benchmark?.results ?? []).filter((r) => !byModels || r.model === c.modelB)],
    ] as const) {
      for (const r of list) {
        const k = key(r);
        const row = rows.get(k) ?? {
          key: k,
          target: r.target ?? '(all)',
          model: byModels ? `${c.modelA} vs ${c.modelB}` : r.model,
          strategy: r.strategy,
          selection: r.selection,
          a: null,
          b: null,
        };
        row[side] = r.dice.mean;
        rows.set(k, row);
      }
    }
    state.comparison = [...rows.values()].sort((x, y) => x.key.localeCompare(y.key));
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

const fmt = (v: number | null) => (v === null ? '–' : v.toFixed(1));

function jobsTable(): TemplateResult {
  return html`<table id="jobs">
    <caption>
      Benchmark jobs, newest first
    </caption>
    <thead>
      <tr>
        <th scope="col">Job</th>
        <th scope="col">Dataset</th>
        <th scope="col">Models × strategies</th>
        <th scope="col">Status</th>
        <th scope="col">Progress</th>
        <th scope="col">Actions</th>
      </tr>
    </thead>
    <tbody>
      ${state.jobs.map(
        (j) =>
          html`<tr
            data-job=${j.id}
            data-status=${j.status}
            data-events=${String(state.events.get(j.id) ?? 0)}
          >
            <th scope="row"><code>${j.id.slice(0, 8)}</code></th>
            <td>${j.dataset}</td>
            <td>${j.models.join(', ')} × ${j.strategies.join(', ')}</td>
            <td>${j.status}${j.error ? html` <span class="error">${j.error}</span>` : nothing}</td>
            <td>
              <progress
                max=${j.progress.total || 1}
                .value=${j.progress.done}
                aria-label=${`Progress of job ${j.id.slice(0, 8)}`}
              ></progress>
              ${j.progress.done}/${j.progress.total}${j.progress.failed ? `, ${j.progress.failed} failed` : ''}
              ${state.events.get(j.id) ? html`<small>(${state.events.get(j.id)} live events)</small>` : nothing}
            </td>
            <td>
              <button
                type="button"
                aria-label=${`Report of job ${j.id.slice(0, 8)}`}
                @click=${() => void openReport(j.id)}
              >
                Report
              </button>
              <button
                type="button"
                aria-label=${`Gallery of job ${j.id.slice(0, 8)}`}
                @click=${() => void openGallery(j.id)}
              >
                Gallery
              </button>
              ${
                j.status === 'running' || j.status === 'queued'
                  ? html`<button
                      type="button"
                      aria-label=${`Cancel job ${j.id.slice(0, 8)}`}
                      @click=${() => void jobAction(j.id, 'cancelBenchmark')}
                    >
                      Cancel
                    </button>`
                  : nothing
              }
              ${
                j.status === 'cancelled' || j.status === 'failed'
                  ? html`<button
                      type="button"
                      aria-label=${`Resume job ${j.id.slice(0, 8)}`}
                      @click=${() => void jobAction(j.id, 'resumeBenchmark')}
                    >
                      Resume
                    </button>`
                  : nothing
              }
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function compareSection(): TemplateResult {
  const options = (selected: string) =>
    state.jobs.map(
      (j) =>
        html`<option value=${j.id} ?selected=${selected === j.id}>
          ${j.id.slice(0, 8)} · ${j.dataset} · ${j.status}
        </option>`,
    );
  const c = state.compare;
  const job = state.jobs.find((j) => j.id === c.job);
  const modelOptions = (selected: string) =>
    (job?.models ?? []).map((m) => html`<option value=${m} ?selected=${selected === m}>${m}</option>`);
  const pick = (key: 'a' | 'b' | 'job' | 'modelA' | 'modelB') => (e: Event) => {
    c[key] = (e.target as HTMLSelectElement).value;
    if (key === 'job') {
      // A new job offers its own models: its first two, A and B.
      const models = state.jobs.find((j) => j.id === c.job)?.models ?? [];
      [c.modelA, c.modelB] = [models[0] ?? '', models[1] ?? models[0] ?? ''];
    }
    requestUpdate();
  };
  return html`<section aria-labelledby="cmp-title">
    <h3 id="cmp-title">Compare</h3>
    <fieldset class="cmp-mode">
      <legend>What to compare</legend>
      <label
        ><input
          type="radio"
          name="cmp-mode"
          id="cmp-mode-jobs"
          .checked=${c.mode === 'jobs'}
          @change=${() => ((c.mode = 'jobs'), (state.comparison = null), requestUpdate())}
        />Two jobs</label
      >
      <label
        ><input
          type="radio"
          name="cmp-mode"
          id="cmp-mode-models"
          .checked=${c.mode === 'models'}
          @change=${() => ((c.mode = 'models'), (state.comparison = null), requestUpdate())}
        />Two models of one job</label
      >
    </fieldset>
    ${
      c.mode === 'models'
        ? html`<label
              >Job
              <select id="cmp-job" @change=${pick('job')}>
                <option value="">–</option>
                ${options(c.job)}
              </select></label
            >
            <label
              >Model A
              <select id="cmp-model-a" @change=${pick('modelA')}>
                ${modelOptions(c.modelA)}
              </select></label
            >
            <label
              >Model B
              <select id="cmp-model-b" @change=${pick('modelB')}>
                ${modelOptions(c.modelB)}
              </select></label
            >`
        : html`<label
              >Job A
              <select
                id="cmp-a"
                @change=${(e: Event) => (state.compare.a = (e.target as HTMLSelectElement).value)}
              >
                <option value="">–</option>
                ${options(state.compare.a)}
              </select></label
            >
            <label
              >Job B
              <select
                id="cmp-b"
                @change=${(e: Event) => (state.compare.b = (e.target as HTMLSelectElement).value)}
              >
                <option value="">–</option>
                ${options(state.compare.b)}
              </select></label
            >`
    }
    <button type="button" id="cmp-run" @click=${() => void compare()}>Compare</button>
    ${
      state.comparison
        ? html`<table id="comparison">
            <caption>
              Mean Dice (×100) per target; delta = B − A
              ${c.mode === 'models' ? `(A: ${c.modelA}, B: ${c.modelB})` : '(A, B: jobs)'}
            </caption>
            <thead>
              <tr>
                <th scope="col">Target</th>
                <th scope="col">Model</th>
                <th scope="col">Strategy</th>
                <th scope="col">Selection</th>
                <th scope="col">Dice A</th>
                <th scope="col">Dice B</th>
                <th scope="col">Delta</th>
              </tr>
            </thead>
            <tbody>
              ${state.comparison.map(
                (r) =>
                  html`<tr>
                    <th scope="row">${r.target}</th>
                    <td>${r.model}</td>
                    <td>${r.strategy}</td>
                    <td>${r.selection}</td>
                    <td>${fmt(r.a)}</td>
                    <td>${fmt(r.b)}</td>
                    <td class="delta">
                      ${r.a !== null && r.b !== null ? (r.b - r.a >= 0 ? '+' : '') + (r.b - r.a).toFixed(1) : '–'}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : nothing
    }
  </section>`;
}

/** The benchmarks view's template; `can` says whether the credential may call a field. */
export function benchView(update: () => void, can: (field: string) => boolean): TemplateResult {
  requestUpdate = update;
  const f = state.form;
  const text = (key: 'path' | 'id' | 'modality' | 'classes' | 'limit') => (e: Event) => {
    f[key] = (e.target as HTMLInputElement).value;
  };
  return html`<section class="bench" aria-label="Benchmarks" data-loaded=${loaded ? 'true' : 'false'}>
    ${state.error ? html`<p class="error" role="alert">${state.error}</p>` : nothing}
    <p role="status" class="status">${state.notice}</p>
    ${
      can('registerDataset')
        ? html`<form id="register" @submit=${register}>
            <fieldset>
              <legend>Register a dataset</legend>
              <label
                >Folder under the data roots
                <input id="ds-path" required .value=${f.path} @input=${text('path')}
              /></label>
              <label>Id <input id="ds-id" .value=${f.id} @input=${text('id')} /></label>
              <label
                >Modality <input id="ds-modality" .value=${f.modality} @input=${text('modality')}
              /></label>
              <label
                >Classes (value=name, …) <input id="ds-classes" .value=${f.classes} @input=${text('classes')}
              /></label>
              <label
                >Layout
                <select @change=${(e: Event) => (f.layout = (e.target as HTMLSelectElement).value)}>
                  <option value="">Detect</option>
                  <option value="COSMOS">COSMOS</option>
                  <option value="PER_STRUCTURE">Per structure</option>
                  <option value="NIFTI">NIfTI</option>
                </select></label
              >
              <button type="submit">Register</button>
            </fieldset>
          </form>`
        : nothing
    }
    ${
      can('startBenchmark')
        ? html`<form id="start" @submit=${startJob}>
            <fieldset>
              <legend>Start a job</legend>
              <label
                >Dataset
                <select
                  id="job-dataset"
                  required
                  @change=${(e: Event) => (f.dataset = (e.target as HTMLSelectElement).value)}
                >
                  ${state.datasets.map(
                    (d) =>
                      html`<option value=${d.id} ?selected=${f.dataset === d.id}>
                        ${d.id} (${d.images} images, ${d.objects} objects)
                      </option>`,
                  )}
                </select></label
              >
              ${
                listModels
                  ? html`<fieldset>
                      <legend>Models</legend>
                      ${state.models.map(
                        (m) =>
                          html`<label
                            ><input
                              type="checkbox"
                              name="model"
                              value=${m}
                              .checked=${f.models.has(m)}
                              @change=${(e: Event) =>
                                (e.target as HTMLInputElement).checked ? f.models.add(m) : f.models.delete(m)}
                            />${m}</label
                          >`,
                      )}
                    </fieldset>`
                  : html`<label
                      >Models (comma-separated names)
                      <input
                        id="job-models"
                        required
                        .value=${[...f.models].join(', ')}
                        @input=${(e: Event) => {
                          f.models = new Set(
                            (e.target as HTMLInputElement).value
                              .split(',')
                              .map((x) => x.trim())
                              .filter(Boolean),
                          );
                        }}
                    /></label>`
              }
              <fieldset>
                <legend>Strategies</legend>
                ${STRATEGIES.map(
                  (s) =>
                    html`<label
                      ><input
                        type="checkbox"
                        name="strategy"
                        value=${s}
                        .checked=${f.strategies.has(s)}
                        @change=${(e: Event) => ((e.target as HTMLInputElement).checked ? f.strategies.add(s) : f.strategies.delete(s))}
                      />${s}</label
                    >`,
                )}
              </fieldset>
              <label
                >Mode
                <select @change=${(e: Event) => (f.mode = (e.target as HTMLSelectElement).value)}>
                  <option value="FAITHFUL" ?selected=${f.mode === 'FAITHFUL'}>faithful</option>
                  <option value="CORRECTED" ?selected=${f.mode === 'CORRECTED'}>corrected</option>
                </select></label
              >
              <label
                >At most objects
                <input id="job-limit" type="number" min="1" .value=${f.limit} @input=${text('limit')}
              /></label>
              <button type="submit" id="job-start" ?disabled=${state.datasets.length === 0}>Start</button>
            </fieldset>
          </form>`
        : nothing
    }
    <button type="button" @click=${() => void loadBench(update)}>Refresh</button>
    ${jobsTable()} ${compareSection()} ${gallerySection(can('segment'))}
    ${
      state.report
        ? html`<section aria-labelledby="report-title">
            <h3 id="report-title">Report of job ${state.report.id.slice(0, 8)}</h3>
            <iframe
              class="report"
              title=${`Report of job ${state.report.id}`}
              sandbox=""
              .srcdoc=${state.report.html}
            ></iframe>
          </section>`
        : nothing
    }
  </section>`;
}
