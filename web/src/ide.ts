/**
 * The offline GraphQL IDE served at `GET /graphql` to browsers: an operation editor, variables, the API key
 * (shared with the app through this tab's sessionStorage), results, and the schema read by introspection and
 * shown as SDL with a field filter. Everything is bundled; it never loads from a CDN.
 */
import { buildClientSchema, getIntrospectionQuery, printSchema, type IntrospectionQuery } from 'graphql';
import { html, nothing, render } from 'lit-html';
import './ide.css';

const KEY_STORAGE = 'medseg.apiKey';
const QUERY_STORAGE = 'medseg.ide.query';

const state = {
  query: sessionStorage.getItem(QUERY_STORAGE) ?? '{\n  models {\n    name\n    ready\n  }\n}\n',
  variables: '{}',
  result: '',
  status: 0,
  sdl: '',
  filter: '',
  running: false,
  schemaError: '',
};

const root = document.getElementById('ide')!;

function headers(): Record<string, string> {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

async function post(body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch('/graphql', { method: 'POST', headers: headers(), body: JSON.stringify(body) });
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    json = { error: `HTTP ${res.status} without a JSON body` };
  }
  return { status: res.status, json };
}

async function loadSchema(): Promise<void> {
  state.schemaError = '';
  try {
    const { status, json } = await post({ query: getIntrospectionQuery() });
    const data = (json as { data?: IntrospectionQuery }).data;
    if (!data) {
      state.schemaError = `introspection failed (HTTP ${status}): ${JSON.stringify((json as { errors?: unknown }).errors ?? json)}`;
    } else state.sdl = printSchema(buildClientSchema(data));
  } catch (err: unknown) {
    state.schemaError = err instanceof Error ? err.message : String(err);
  }
  update();
}

async function run(): Promise<void> {
  let variables: unknown;
  try {
    variables = JSON.parse(state.variables || '{}');
  } catch (err: unknown) {
    state.result = `Variables are not valid JSON: ${(err as Error).message}`;
    update();
    return;
  }
  state.running = true;
  sessionStorage.setItem(QUERY_STORAGE, state.query);
  update();
  const { status, json } = await post({ query: state.query, variables }).catch((err: unknown) => ({
    status: 0,
    json: { error: String(err) },
  }));
  state.status = status;
  state.result = JSON.stringify(json, null, 2);
  state.running = false;
  update();
}

function schemaText(): string {
  if (!state.filter) return state.sdl;
  const f = state.filter.toLowerCase();
  // Whole type blocks that mention the filter text.
  return state.sdl
    .split(/\n\n/)
    .filter((block) => block.toLowerCase().includes(f))
    .join('\n\n');
}

function update(): void {
  render(
    html`<header>
        <h1>GraphQL IDE</h1>
        <a href="/">Back to the app</a>
      </header>
      <div class="panes">
        <section aria-label="Operation">
          <label for="query">Operation</label>
          <textarea
            id="query"
            spellcheck="false"
            .value=${state.query}
            @input=${(e: Event) => (state.query = (e.target as HTMLTextAreaElement).value)}
            @keydown=${(e: KeyboardEvent) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void run();
            }}
          ></textarea>
          <label for="variables">Variables (JSON)</label>
          <textarea
            id="variables"
            class="small"
            spellcheck="false"
            .value=${state.variables}
            @input=${(e: Event) => (state.variables = (e.target as HTMLTextAreaElement).value)}
          ></textarea>
          <label for="key">API key (kept in this tab only)</label>
          <input
            id="key"
            type="password"
            autocomplete="off"
            .value=${sessionStorage.getItem(KEY_STORAGE) ?? ''}
            @change=${(e: Event) => {
              const v = (e.target as HTMLInputElement).value.trim();
              if (v) sessionStorage.setItem(KEY_STORAGE, v);
              else sessionStorage.removeItem(KEY_STORAGE);
              void loadSchema();
            }}
          />
          <button type="button" id="run" ?disabled=${state.running} @click=${() => void run()}>
            Run (Ctrl+Enter)
          </button>
        </section>
        <section aria-label="Result">
          <h2>Result ${state.status ? html`<small>HTTP ${state.status}</small>` : nothing}</h2>
          <pre id="result" tabindex="0">${state.result}</pre>
        </section>
        <section aria-label="Schema">
          <h2>Schema</h2>
          <label for="filter">Filter types</label>
          <input
            id="filter"
            type="search"
            .value=${state.filter}
            @input=${(e: Event) => {
              state.filter = (e.target as HTMLInputElement).value;
              update();
            }}
          />
          ${state.schemaError ? html`<p class="error" role="alert">${state.schemaError}</p>` : nothing}
          <pre id="schema" tabindex="0">${schemaText()}</pre>
        </section>
      </div>`,
    root,
  );
}

update();
void loadSchema();
