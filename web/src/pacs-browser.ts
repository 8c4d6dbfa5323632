/**
 * PACS browsing for the segment view: the configured endpoints (names only, never URLs), a study search by
 * patient, date and modality (QIDO-RS through the gateway), the study's series, the series' instances, and
 * "Open" on one instance, which the segment view then reads by WADO-RS through the gateway.
 */
import { html, nothing, type TemplateResult } from 'lit-html';
import { ApiFailure, gql } from './api.ts';

/** An instance on a configured PACS, as the API's DicomWebInput names it. */
export interface PacsRef {
  pacs: string;
  studyUID: string;
  seriesUID: string;
  instanceUID: string;
}

interface Study {
  studyUID: string;
  patientName: string | null;
  patientId: string | null;
  studyDate: string | null;
  description: string | null;
  modalities: string[];
  seriesCount: number | null;
}

interface Series {
  seriesUID: string;
  modality: string | null;
  description: string | null;
  seriesNumber: number | null;
  instanceCount: number | null;
}

interface Instance {
  instanceUID: string;
  instanceNumber: number | null;
  rows: number | null;
  columns: number | null;
}

const state = {
  open: false,
  endpoints: [] as string[],
  pacs: '',
  filter: { patientName: '', patientId: '', studyDate: '', modality: '' },
  studies: null as Study[] | null,
  study: null as Study | null,
  series: null as Series[] | null,
  seriesUID: '',
  instances: null as Instance[] | null,
  busy: '',
  error: '',
};

let requestUpdate: () => void = () => undefined;
let openInstance: (ref: PacsRef, name: string) => void = () => undefined;

function fail(err: unknown): void {
  state.busy = '';
  state.error =
    err instanceof ApiFailure
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
  requestUpdate();
}

/** Loads the endpoint names (once the view may browse); an empty list hides the browser. */
export async function loadPacsEndpoints(): Promise<void> {
  try {
    state.endpoints = (await gql<{ pacsEndpoints: string[] }>('query { pacsEndpoints }')).pacsEndpoints;
    if (!state.pacs && state.endpoints.length > 0) state.pacs = state.endpoints[0];
  } catch {
    state.endpoints = [];
  }
  requestUpdate();
}

async function search(ev: Event): Promise<void> {
  ev.preventDefault();
  state.error = '';
  state.busy = 'Searching…';
  state.study = null;
  state.series = null;
  state.instances = null;
  requestUpdate();
  try {
    const filter = Object.fromEntries(Object.entries(state.filter).filter(([, v]) => v.trim() !== ''));
    const d = await gql<{ pacsStudies: Study[] }>(
      `query Studies($pacs: String!, $filter: PacsStudyFilter) {
        pacsStudies(pacs: $pacs, filter: $filter) {
          studyUID patientName patientId studyDate description modalities seriesCount
        }
      }`,
      { pacs: state.pacs, filter },
    );
    state.studies = d.pacsStudies;
    state.busy = '';
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

async function pickStudy(s: Study): Promise<void> {
  state.error = '';
  state.study = s;
  state.series = null;
  state.instances = null;
  state.busy = 'Loading series…';
  requestUpdate();
  try {
    const d = await gql<{ pacsSeries: Series[] }>(
      `query Series($pacs: String!, $study: String!) {
        pacsSeries(pacs: $pacs, studyUID: $study) { seriesUID modality description seriesNumber instanceCount }
      }`,
      { pacs: state.pacs, study: s.studyUID },
    );
    state.series = d.pacsSeries;
    state.busy = '';
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

async function pickSeries(s: Series): Promise<void> {
  if (!state.study) return;
  state.error = '';
  state.seriesUID = s.seriesUID;
  state.instances = null;
  state.busy = 'Loading instances…';
  requestUpdate();
  try {
    const d = await gql<{ pacsInstances: Instance[] }>(
      `query Instances($pacs: String!, $study: String!, $series: String!) {
        pacsInstances(pacs: $pacs, studyUID: $study, seriesUID: $series) { instanceUID instanceNumber rows columns }
      }`,
      { pacs: state.pacs, study: state.study.studyUID, series: s.seriesUID },
    );
    state.instances = d.pacsInstances;
    state.busy = '';
  } catch (err: unknown) {
    fail(err);
  }
  requestUpdate();
}

const dash = (v: string | number | null) => (v === null || v === '' ? '–' : String(v));

/**
 * The PACS browser's template (nothing when no PACS is configured); `open` receives the picked instance.
 * `update` re-renders the app.
 */
export function pacsBrowser(
  update: () => void,
  open: (ref: PacsRef, name: string) => void,
): TemplateResult | typeof nothing {
  requestUpdate = update;
  openInstance = open;
  if (state.endpoints.length === 0) return nothing;
  const text = (key: keyof typeof state.filter) => (e: Event) => {
    state.filter[key] = (e.target as HTMLInputElement).value;
  };
  return html`<details
    class="pacs"
    id="pacs-browser"
    ?open=${state.open}
    @toggle=${(e: Event) => (state.open = (e.target as HTMLDetailsElement).open)}
  >
    <summary>Browse a PACS</summary>
    <form id="pacs-search" @submit=${search}>
      <label
        >PACS
        <select
          id="pacs-endpoint"
          @change=${(e: Event) => (state.pacs = (e.target as HTMLSelectElement).value)}
        >
          ${state.endpoints.map((p) => html`<option value=${p} ?selected=${state.pacs === p}>${p}</option>`)}
        </select></label
      >
      <label
        >Patient name
        <input id="pacs-patient" .value=${state.filter.patientName} @input=${text('patientName')}
      /></label>
      <label>Patient ID <input .value=${state.filter.patientId} @input=${text('patientId')} /></label>
      <label
        >Study date
        <input placeholder="20240101-20241231" .value=${state.filter.studyDate} @input=${text('studyDate')}
      /></label>
      <label>Modality <input .value=${state.filter.modality} @input=${text('modality')} /></label>
      <button type="submit">Search</button>
    </form>
    ${state.busy ? html`<p role="status">${state.busy}</p>` : nothing}
    ${state.error ? html`<p class="error" role="alert">${state.error}</p>` : nothing}
    ${
      state.studies
        ? html`<table id="pacs-studies">
            <caption>
              Studies (${state.studies.length})
            </caption>
            <thead>
              <tr>
                <th scope="col">Patient</th>
                <th scope="col">Date</th>
                <th scope="col">Description</th>
                <th scope="col">Modalities</th>
                <th scope="col">Series</th>
              </tr>
            </thead>
            <tbody>
              ${state.studies.map(
                (s) =>
                  html`<tr
                    data-study=${s.studyUID}
                    class=${state.study?.studyUID === s.studyUID ? 'active' : ''}
                  >
                    <th scope="row">
                      <button type="button" @click=${() => void pickStudy(s)}>
                        ${dash(s.patientName)} (${dash(s.patientId)})
                      </button>
                    </th>
                    <td>${dash(s.studyDate)}</td>
                    <td>${dash(s.description)}</td>
                    <td>${s.modalities.join(', ') || '–'}</td>
                    <td>${dash(s.seriesCount)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : nothing
    }
    ${
      state.series
        ? html`<ul id="pacs-series" aria-label="Series of the study">
            ${state.series.map(
              (s) =>
                html`<li data-series=${s.seriesUID}>
                  <button
                    type="button"
                    aria-pressed=${state.seriesUID === s.seriesUID ? 'true' : 'false'}
                    @click=${() => void pickSeries(s)}
                  >
                    Series ${dash(s.seriesNumber)} · ${dash(s.modality)} · ${dash(s.description)} ·
                    ${dash(s.instanceCount)} instances
                  </button>
                </li>`,
            )}
          </ul>`
        : nothing
    }
    ${
      state.instances && state.study
        ? html`<ul id="pacs-instances" aria-label="Instances of the series">
            ${state.instances.map((i) => {
              const name = `instance ${dash(i.instanceNumber)}`;
              return html`<li data-instance=${i.instanceUID}>
                <button
                  type="button"
                  aria-label=${`Open ${name}`}
                  @click=${() =>
                    openInstance(
                      {
                        pacs: state.pacs,
                        studyUID: state.study!.studyUID,
                        seriesUID: state.seriesUID,
                        instanceUID: i.instanceUID,
                      },
                      `${state.study!.patientName ?? 'PACS'} ${name}`,
                    )}
                >
                  Open ${name} (${dash(i.columns)}×${dash(i.rows)})
                </button>
              </li>`;
            })}
          </ul>`
        : nothing
    }
  </details>`;
}
