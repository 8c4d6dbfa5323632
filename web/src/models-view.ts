/**
 * The models view: every model the backend serves with readiness, preprocessing profile and where it comes
 * from (platform, encoder, decoder, version), and the embedding cache counters for admins.
 */
import { html, nothing, type TemplateResult } from 'lit-html';
import { gql } from './api.ts';

interface ModelRow {
  name: string;
  version: string;
  ready: boolean;
  reason: string;
  platform: string;
  encoder: string;
  decoder: string;
  profile: {
    name: string;
    inputSize: number;
    resize: string;
    normalize: string;
    embeddingShape: number[];
  } | null;
}

interface CacheStats {
  entries: number;
  bytes: number;
  capacityBytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

const state = { models: [] as ModelRow[], cache: null as CacheStats | null, error: '', loading: false };

/** Fetches the models (and cache statistics when `admin`), then re-renders. */
export async function loadModelsView(update: () => void, admin: boolean): Promise<void> {
  state.loading = true;
  state.error = '';
  update();
  try {
    const d = await gql<{ models: ModelRow[] }>(
      'query ModelsView { models { name version ready reason platform encoder decoder profile { name inputSize resize normalize embeddingShape } } }',
    );
    state.models = d.models;
    state.cache = admin
      ? (
          await gql<{ cacheStats: CacheStats }>(
            'query Cache { cacheStats { entries bytes capacityBytes hits misses evictions } }',
          )
        ).cacheStats
      : null;
  } catch (err: unknown) {
    state.error = err instanceof Error ? err.message : String(err);
  }
  state.loading = false;
  update();
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The models view's template. */
export function modelsView(update: () => void): TemplateResult {
  return html`<section class="models" aria-label="Models">
    <h2>Served models</h2>
    <button type="button" @click=${() => void loadModelsView(update, state.cache !== null)}>Refresh</button>
    ${state.error ? html`<p class="error" role="alert">${state.error}</p>` : nothing}
    ${state.loading ? html`<p role="status">Loading…</p>` : nothing}
    <table>
      <caption>
        Models, readiness, preprocessing profile and provenance
      </caption>
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col">Ready</th>
          <th scope="col">Version</th>
          <th scope="col">Platform</th>
          <th scope="col">Encoder / decoder</th>
          <th scope="col">Profile</th>
        </tr>
      </thead>
      <tbody>
        ${state.models.map(
          (m) =>
            html`<tr>
              <th scope="row">${m.name}</th>
              <td>${m.ready ? 'ready' : `not ready: ${m.reason}`}</td>
              <td>${m.version}</td>
              <td>${m.platform}</td>
              <td>${m.encoder} / ${m.decoder}</td>
              <td>
                ${
                  m.profile
                    ? `${m.profile.name}, ${m.profile.inputSize}px, resize ${m.profile.resize}, normalize ${m.profile.normalize}, embedding ${m.profile.embeddingShape.join('×')}`
                    : 'none declared'
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      state.cache
        ? html`<h2>Embedding cache</h2>
            <dl class="stats">
              <dt>Entries</dt>
              <dd>${state.cache.entries}</dd>
              <dt>Size</dt>
              <dd>${mib(state.cache.bytes)} of ${mib(state.cache.capacityBytes)}</dd>
              <dt>Hits / misses</dt>
              <dd>${state.cache.hits} / ${state.cache.misses}</dd>
              <dt>Evictions</dt>
              <dd>${state.cache.evictions}</dd>
            </dl>`
        : nothing
    }
  </section>`;
}
