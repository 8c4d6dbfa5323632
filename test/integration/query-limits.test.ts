/**
 * Every operation limit (depth, cost, aliases, directives: graphql-armor's rules; tokens: the parser's) on
 * both transports of a running gateway: the same document is refused over HTTP and over WebSocket with the
 * same code and the same `extensions.limit`, and one just inside the limits passes both. The limits come
 * from the configuration (MAX_QUERY_DEPTH, MAX_QUERY_COST, MAX_QUERY_TOKENS), set low here so that small
 * documents reach them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import { loadConfig } from '../../gateway/src/config.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/main.ts';
import { createLogger } from '../../gateway/src/main.ts';
import { REPO_ROOT } from '../helpers/gateway.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { openWs, wsErrorCode, type WsConnection, type WsMessage } from '../helpers/ws-client.ts';

// The backend is never reached: every document here is refused (or answered) before a resolver calls it.
const DEAD_BACKEND = '127.0.0.1:1';
const DEPTH = 2;
const COST = 12;
const TOKENS = 600;

interface Refusal {
  code: string | undefined;
  limits: string[];
  messages: string[];
}

function refusalOf(errors: Array<{ message: string; extensions?: Record<string, unknown> }> = []): Refusal {
  return {
    code: errors[0]?.extensions?.code as string | undefined,
    limits: errors.flatMap((e) => (typeof e.extensions?.limit === 'string' ? [e.extensions.limit] : [])),
    messages: errors.map((e) => e.message),
  };
}

async function overHttp(url: string, query: string): Promise<{ status: number } & Refusal> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  const json = (await res.json()) as {
    data?: unknown;
    errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
  };
  assert.equal(json.data, undefined, 'a refused document never runs');
  return { status: res.status, ...refusalOf(json.errors) };
}

function wsRefusal(m: WsMessage): Refusal {
  assert.equal(m.type, 'error', JSON.stringify(m).slice(0, 300));
  return {
    ...refusalOf(m.payload as Array<{ message: string; extensions?: Record<string, unknown> }>),
    code: wsErrorCode(m),
  };
}

/** `n` copies of a selection: repeated fields merge in the result, but each one is a selection to price. */
const times = (n: number, s: string) => Array.from({ length: n }, () => s).join(' ');

describe('operation limits on HTTP and WebSocket', () => {
  let gw: RunningGateway;
  let ws: WsConnection;

  before(async () => {
    const stateDir = tempDir('medseg-limits-');
    const config = loadConfig(
      { PORT: '0', STATE_DIR: stateDir, MODEL_REPOSITORY: `${REPO_ROOT}triton-models`, LOG_LEVEL: 'silent' },
      {
        tritonUrl: DEAD_BACKEND,
        security: loadSecurityConfig(
          {
            RATE_LIMIT_RPS: '0',
            MAX_QUERY_DEPTH: String(DEPTH),
            MAX_QUERY_COST: String(COST),
            MAX_QUERY_TOKENS: String(TOKENS),
          },
          stateDir,
        ),
      },
    );
    gw = await startGateway(config, createLogger(config));
    const opened = await openWs(gw.url);
    assert.equal(opened.kind, 'open', JSON.stringify(opened));
    ws = (opened as { connection: WsConnection }).connection;
  });
  after(async () => {
    ws?.close();
    await gw?.close();
  });

  // Each case: a query for HTTP and a subscription for the WebSocket that break the same limit.
  const cases: Array<{ limit: string; code: string; query: string; subscription: string }> = [
    {
      limit: 'depth',
      code: 'GRAPHQL_VALIDATION_FAILED',
      // Introspection is priced like any other field: ofType nests as deep as a client likes.
      query: '{ __schema { types { name } } }',
      subscription: 'subscription { benchmarkProgress(id: "x") { progress { done } } }',
    },
    {
      limit: 'depth',
      code: 'GRAPHQL_VALIDATION_FAILED',
      // Fragments do not hide depth: the spread is measured where it is used.
      query: '{ ...Q } fragment Q on Query { __schema { types { name } } }',
      subscription: `subscription { ...S } fragment S on Subscription { benchmarkProgress(id: "x") { progress { ...P } } }
        fragment P on BenchmarkProgress { done }`,
    },
    {
      limit: 'cost',
      code: 'GRAPHQL_VALIDATION_FAILED',
      query: `{ models { ${times(COST, 'name')} } }`,
      subscription: `subscription { volumeProgress(jobId: "x") { ${times(COST, 'done')} } }`,
    },
    {
      limit: 'cost',
      code: 'GRAPHQL_VALIDATION_FAILED',
      // A fragment used twice is priced twice.
      query: `{ models { ...M ...M } } fragment M on Model { ${times(6, 'name')} }`,
      subscription: `subscription { volumeProgress(jobId: "x") { ...V ...V } }
        fragment V on VolumeProgressEvent { ${times(6, 'done')} }`,
    },
    {
      limit: 'aliases',
      code: 'GRAPHQL_VALIDATION_FAILED',
      query: `{ ${Array.from({ length: 51 }, (_, i) => `a${i}: models { name }`).join(' ')} }`,
      subscription: `subscription { volumeProgress(jobId: "x") { ${Array.from({ length: 51 }, (_, i) => `d${i}: done`).join(' ')} } }`,
    },
    {
      limit: 'directives',
      code: 'GRAPHQL_VALIDATION_FAILED',
      query: `{ __typename ${times(51, '@include(if: true)')} }`,
      subscription: `subscription { volumeProgress(jobId: "x") { done ${times(51, '@include(if: true)')} } }`,
    },
  ];

  for (const c of cases) {
    test(`${c.limit}: ${c.query.slice(0, 60)}... is refused on both transports`, async () => {
      const http = await overHttp(gw.url, c.query);
      assert.equal(http.status, 400);
      assert.equal(http.code, c.code, http.messages.join('; '));
      assert.ok(http.limits.includes(c.limit), `HTTP: ${http.messages.join('; ')}`);
      const sub = wsRefusal(await ws.subscribe(`${c.limit}-${Math.random()}`, c.subscription));
      assert.equal(sub.code, c.code, sub.messages.join('; '));
      assert.ok(sub.limits.includes(c.limit), `WebSocket: ${sub.messages.join('; ')}`);
    });
  }

  test('tokens: a document over MAX_QUERY_TOKENS fails to parse on both transports', async () => {
    // One token short of the limit parses (and is then refused for its cost); one over does not parse.
    const fields = (n: number) => `{ ${times(n, '__typename')} }`;
    const inside = await overHttp(gw.url, fields(TOKENS - 2));
    assert.equal(inside.code, 'GRAPHQL_VALIDATION_FAILED');
    const http = await overHttp(gw.url, fields(TOKENS));
    assert.equal(http.status, 400);
    assert.equal(http.code, 'GRAPHQL_PARSE_FAILED');
    assert.match(http.messages[0], new RegExp(`more tha[nt] ${TOKENS} tokens`));
    const sub = wsRefusal(
      await ws.subscribe('tokens', `subscription { volumeProgress(jobId: "x") ${fields(TOKENS)} }`),
    );
    assert.equal(sub.code, 'GRAPHQL_PARSE_FAILED');
    assert.match(sub.messages[0], new RegExp(`more tha[nt] ${TOKENS} tokens`));
  });

  test('documents just inside every limit pass both transports and reach their resolvers', async () => {
    const http = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ pacsEndpoints ${times(COST - 1, '__typename')} }` }),
    });
    assert.equal(http.status, 200);
    assert.deepEqual(((await http.json()) as { data: unknown }).data, {
      pacsEndpoints: [],
      __typename: 'Query',
    });
    // Depth and cost exactly at their limits: the subscription is authorized and its resolver answers.
    const m = await ws.subscribe(
      'inside',
      `subscription { benchmarkProgress(id: "x") { ${times(COST - 1, 'jobId')} } }`,
    );
    assert.equal(wsErrorCode(m), 'NOT_FOUND', JSON.stringify(m));
    assert.match(JSON.stringify(m.payload), /no benchmark job 'x'/);
  });
});
