/**
 * The web app served by the gateway at `/`: the segment, benchmark and model views behind one header, and
 * the API key prompt when the gateway has credentials configured. Views are lit-html templates re-rendered
 * from their own state on every change.
 */
import { html, nothing, render, type TemplateResult } from 'lit-html';
import './app.css';
import { AuthRequired, apiKey, fetchViewer, onAuthRequired, setApiKey, type Viewer } from './api.ts';
import { loadModels, onSegmentKey, openCase, segmentView } from './segment-view.ts';
import { benchView, loadBench, onGalleryOpen } from './bench-view.ts';
import { loadModelsView, modelsView } from './models-view.ts';
import { volumeView } from './volume-view.ts';

type View = 'segment' | 'volume' | 'bench' | 'models';

const app = {
  viewer: null as Viewer | null,
  /** True while the key prompt is shown. */
  needKey: false,
  keyError: '',
  view: 'segment' as View,
  error: '',
};

const root = document.getElementById('app')!;
// The static "Loading…" placeholder goes; lit-html renders into the emptied container from now on.
root.textContent = '';

function can(field: string): boolean {
  return app.viewer?.allowedFields.includes(field) ?? false;
}

function update(): void {
  render(template(), root);
}

async function start(): Promise<void> {
  try {
    app.viewer = await fetchViewer();
    app.needKey = false;
    if (can('models')) void loadModels();
    if (!can('segment') && can('startBenchmark')) app.view = 'bench';
    if (app.view === 'bench') void loadBench(update, can('models'));
  } catch (err: unknown) {
    if (err instanceof AuthRequired) app.needKey = true;
    else app.error = err instanceof Error ? err.message : String(err);
  }
  update();
  if (app.needKey) document.getElementById('api-key')?.focus();
}

// A gallery case opens in the segment view, with the job's model and the benchmark's prompt.
onGalleryOpen((c) => {
  // The bench view offers the click only to a credential that may segment; this holds if a role was lost.
  if (!can('segment')) return;
  app.view = 'segment';
  update();
  void openCase(c).then(update);
});

onAuthRequired(() => {
  // An expired or revoked key: back to the prompt, keeping whatever the views hold.
  app.viewer = null;
  app.needKey = true;
  app.keyError = 'The gateway did not accept the key (unknown, revoked or expired). Enter a key.';
  update();
  document.getElementById('api-key')?.focus();
});

async function submitKey(ev: Event): Promise<void> {
  ev.preventDefault();
  const input = document.getElementById('api-key') as HTMLInputElement;
  const key = input.value.trim();
  if (!key) return;
  setApiKey(key);
  app.keyError = '';
  try {
    app.viewer = await fetchViewer();
    app.needKey = false;
    input.value = '';
    if (can('models')) void loadModels();
    if (!can('segment') && can('startBenchmark')) app.view = 'bench';
    if (app.view === 'bench') void loadBench(update, can('models'));
  } catch (err: unknown) {
    app.keyError =
      err instanceof AuthRequired
        ? 'The gateway did not accept this key.'
        : err instanceof Error
          ? err.message
          : String(err);
  }
  update();
}

function keyPrompt(): TemplateResult {
  return html`<section class="key-prompt" aria-labelledby="key-title">
    <h2 id="key-title">API key required</h2>
    <p>
      This gateway requires a credential. The key is kept in this tab only (sessionStorage) and sent with
      every request.
    </p>
    <form @submit=${submitKey}>
      <label for="api-key">API key</label>
      <input id="api-key" type="password" autocomplete="off" spellcheck="false" required />
      <button type="submit">Use key</button>
    </form>
    ${app.keyError ? html`<p class="error" role="alert">${app.keyError}</p>` : nothing}
  </section>`;
}

function identity(): TemplateResult | typeof nothing {
  const v = app.viewer;
  if (!v) return nothing;
  const who =
    v.kind === 'loopback'
      ? 'Local access (no credentials configured)'
      : `${v.kind === 'jwt' ? 'Token' : 'Key'} ${v.id}`;
  const allows = [
    can('segment') ? 'segmentation' : '',
    can('startBenchmark') ? 'benchmarks' : '',
    can('cacheStats') ? 'administration' : '',
  ].filter(Boolean);
  return html`<div class="identity" id="identity">
    <span>${who}</span> · roles: <strong>${v.roles.join(', ') || 'none'}</strong> · allows:
    <span id="allows">${allows.join(', ') || 'nothing'}</span>
    ${
      v.kind !== 'loopback' && apiKey()
        ? html`<button
            type="button"
            @click=${() => {
              setApiKey(null);
              app.viewer = null;
              app.needKey = true;
              app.keyError = '';
              update();
            }}
          >
            Forget key
          </button>`
        : nothing
    }
  </div>`;
}

function nav(): TemplateResult {
  const tab = (view: View, label: string, field: string) =>
    can(field)
      ? html`<button
          type="button"
          id=${`tab-${view}`}
          aria-pressed=${app.view === view ? 'true' : 'false'}
          @click=${() => {
            app.view = view;
            if (view === 'bench') void loadBench(update, can('models'));
            if (view === 'models') void loadModelsView(update, can('cacheStats'));
            update();
          }}
        >
          ${label}
        </button>`
      : nothing;
  return html`<nav aria-label="Views">
    ${tab('segment', 'Segment', 'segment')} ${tab('volume', 'Volume', 'startVolumeSegmentation')}
    ${tab('bench', 'Benchmarks', 'startBenchmark')} ${tab('models', 'Models', 'models')}
    <a href="/graphql">GraphQL IDE</a>
  </nav>`;
}

function body(): TemplateResult | typeof nothing {
  if (app.error) return html`<p class="error" role="alert">${app.error}</p>`;
  if (app.needKey) return keyPrompt();
  if (!app.viewer) return html`<p>Connecting…</p>`;
  if (app.view === 'bench' && can('startBenchmark')) return benchView(update, can);
  if (app.view === 'models' && can('models')) return modelsView(update);
  if (app.view === 'volume' && can('startVolumeSegmentation')) return volumeView(update);
  if (can('segment')) return segmentView(update);
  return html`<p>This credential's roles allow none of the app's views.</p>`;
}

function template(): TemplateResult {
  return html`<header>
      <h1>medseg-gateway</h1>
      ${app.viewer ? nav() : nothing} ${identity()}
    </header>
    <main>${body()}</main>`;
}

document.addEventListener('keydown', (ev) => {
  if (app.view === 'segment' && app.viewer && !app.needKey) onSegmentKey(ev);
});

update();
void start();
