/**
 * Faults through real processes: the embedded KServe v2 server run as its own process (`medseg serve-models`)
 * is SIGKILLed under load and restarted on the same port (requests end with typed errors, never a crash or a
 * hang, and the gateway serves again within seconds); `medseg start` drains requests in flight on SIGTERM;
 * a benchmark job survives SIGKILL and SIGTERM of the gateway with every sample stored exactly once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';
import { freePort, spawnMedseg as spawnProcess } from '../helpers/medseg-process.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { pause, waitFor } from '../helpers/wait.ts';

const MODELS = join(REPO_ROOT, 'triton-models');
const tmp = tempDir('medseg-faults-');
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** Spawns `medseg <args>` and tracks the child for cleanup. */
function spawnMedseg(args: string[], env: Record<string, string>, ready: RegExp) {
  return spawnProcess(args, env, ready, (child) => children.add(child));
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

async function gql(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  timeoutMs = 30_000,
): Promise<{ status: number; data?: Record<string, unknown>; code?: string }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json()) as {
    data?: Record<string, unknown>;
    errors?: Array<{ extensions?: { code?: string } }>;
  };
  return { status: res.status, data: body.data ?? undefined, code: body.errors?.[0]?.extensions?.code };
}

/**
 * A POST whose headers go out at once with `Expect: 100-continue` and whose body waits for `send()`:
 * `continued` resolves when the server has answered "100 Continue", i.e. holds the request.
 */
function heldRequest(url: string, body: string) {
  let onContinue: () => void = () => undefined;
  const continued = new Promise<void>((resolve) => (onContinue = resolve));
  const req = httpRequest(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      expect: '100-continue',
    },
  });
  req.once('continue', onContinue);
  const response = new Promise<{
    status: number;
    body: { data?: Record<string, unknown>; errors?: unknown };
  }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
      );
      res.once('error', reject);
    });
  });
  req.flushHeaders();
  return {
    continued,
    send() {
      req.end(body);
      return response;
    },
  };
}

const SEGMENT = `query ($id: ID!) { segment(input: { embeddingId: $id, prompts: [{ box: { x0: 10, y0: 10, x1: 60, y1: 60 } }] }) { results { masks { area } } } }`;
const ENCODE = `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`;

describe('backend faults through real processes', () => {
  test('backend SIGKILLed under load and restarted: typed errors only, no hang, serving again', async (t) => {
    const port = await freePort();
    const serveArgs = ['serve-models', '--repository', MODELS, '--port', String(port)];
    let server = await spawnMedseg(serveArgs, {}, /listening on/);
    const gw = await startTestGateway({
      tritonUrl: `127.0.0.1:${port}`,
      // Generous: while the backend is down calls fail at once (bounded retries), so no deadline is needed
      // for that; a short one only turned slow successes on a busy machine into DEADLINE_EXCEEDED.
      backendDeadlineMs: 120_000,
      security: loadSecurityConfig({ RATE_LIMIT_RPS: '0' }, tmp),
    });
    try {
      const png = encodePng(generatePhantom({ seed: 3, width: 96, height: 96 }).image);
      const enc = await gql(gw.url, ENCODE, {
        i: { encoded: { base64: Buffer.from(png).toString('base64') } },
      });
      const id = (enc.data?.encodeImage as { id: string }).id;
      assert.ok(id);

      // Each phase waits for the outcome it needs (a success, a failure, a success again), however long a busy
      // machine takes; counts per unit of time are figures for `npm run bench -- load`, not assertions.
      type Phase = 'before' | 'killed' | 'restarted';
      let phase: Phase = 'before';
      const outcomes: Record<Phase, Map<string, number>> = {
        before: new Map(),
        killed: new Map(),
        restarted: new Map(),
      };
      const count = (p: Phase, outcome: string) => outcomes[p].get(outcome) ?? 0;
      let stop = false;
      let restartedAt = 0;
      let firstOkAfterRestart = 0;
      const client = async () => {
        while (!stop) {
          const at = phase;
          let outcome: string;
          try {
            // Far longer than the backend deadline (2 min) plus queueing: a request still open then has hung.
            const r = await gql(gw.url, SEGMENT, { id }, 300_000);
            outcome = r.code ?? (r.status === 200 ? 'ok' : `http ${r.status}`);
          } catch (err: unknown) {
            outcome = (err as Error).name === 'TimeoutError' ? 'HANG' : `fetch ${(err as Error).message}`;
          }
          // A request counts in the phase it started in.
          const p = at;
          outcomes[p].set(outcome, count(p, outcome) + 1);
          if (outcome === 'ok' && p === 'restarted' && firstOkAfterRestart === 0)
            firstOkAfterRestart = performance.now();
          if (outcome !== 'ok') await pause(20);
        }
      };
      const summary = () =>
        JSON.stringify(
          Object.fromEntries(Object.entries(outcomes).map(([k, m]) => [k, Object.fromEntries(m)])),
        );
      const clients = Array.from({ length: 8 }, client);
      try {
        await waitFor('a request served before the kill', () => count('before', 'ok') > 0, {
          describe: summary,
        });
        phase = 'killed';
        server.child.kill('SIGKILL');
        await exited(server.child);
        await waitFor(
          'a typed failure while the backend is down',
          () => count('killed', 'BACKEND_UNAVAILABLE') + count('killed', 'DEADLINE_EXCEEDED') > 0,
          { describe: summary },
        );
        restartedAt = performance.now();
        server = await spawnMedseg(serveArgs, {}, /listening on/);
        phase = 'restarted';
        await waitFor('5 requests served after the restart', () => count('restarted', 'ok') >= 5, {
          describe: summary,
        });
      } finally {
        stop = true;
        await Promise.all(clients);
      }

      t.diagnostic(
        `outcomes ${summary()}; first ok ${Math.round(firstOkAfterRestart - restartedAt)} ms after restart`,
      );
      const allowed = new Set(['ok', 'BACKEND_UNAVAILABLE', 'DEADLINE_EXCEEDED', 'MODEL_NOT_READY']);
      for (const m of Object.values(outcomes))
        for (const k of m.keys()) assert.ok(allowed.has(k), `unexpected outcome ${k}: ${summary()}`);
    } finally {
      await gw.close();
      server.child.kill('SIGTERM');
      await exited(server.child);
    }
  });
});

describe('graceful stop and durable benchmark jobs of `medseg start`', () => {
  const startEnv = (state: string, extra: Record<string, string> = {}) => ({
    PORT: '0',
    STATE_DIR: state,
    DATA_ROOTS: tmp,
    RATE_LIMIT_RPS: '0',
    ...extra,
  });
  const startGatewayProcess = (env: Record<string, string>) =>
    spawnMedseg(['start'], env, /listening on (http:\/\/[\d.:]+)\/graphql[\s\S]*authentication:/);

  test('SIGTERM: requests in flight complete, then the process exits 0 and stops accepting', async () => {
    // A grace period far beyond any healthy drain, so that a busy machine cannot turn the drain into a timeout.
    const gw = await startGatewayProcess(startEnv(join(tmp, 'drain'), { SHUTDOWN_GRACE_MS: '300000' }));
    const url = gw.match[1];
    const images = [11, 12, 13, 14].map((seed) =>
      Buffer.from(encodePng(generatePhantom({ seed, width: 400, height: 300 }).image)).toString('base64'),
    );
    // Each request sends its headers with `Expect: 100-continue` and holds its body back: the server's
    // "100 Continue" proves it has the request, so the SIGTERM below finds all four in flight, on any machine.
    const inflight = images.map((b64) =>
      heldRequest(
        `${url}/graphql`,
        JSON.stringify({ query: ENCODE, variables: { i: { encoded: { base64: b64 } } } }),
      ),
    );
    await Promise.all(inflight.map((r) => r.continued));
    gw.child.kill('SIGTERM');
    await waitFor('the shutdown to start', () => /shutting down/.test(gw.output()));
    const results = await Promise.all(inflight.map((r) => r.send()));
    for (const r of results) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.errors, undefined);
      assert.ok((r.body.data?.encodeImage as { id: string }).id);
    }
    const { code } = await exited(gw.child);
    assert.equal(code, 0, gw.output());
    assert.match(gw.output(), /shutting down \(grace 300000 ms\)/);
    await assert.rejects(fetch(`${url}/healthz`), 'no longer accepting');
  });

  test('benchmark job: SIGKILL and SIGTERM of the gateway, restarts resume, every sample stored exactly once', async (t) => {
    const state = join(tmp, 'bench-state');
    const synth = writeSyntheticDataset({ dir: join(tmp, 'bench-data'), images: 8, seed: 21 });
    const total = synth.objects.length * 3;
    let gw = await startGatewayProcess(startEnv(state));
    let url = gw.match[1];
    const reg = await gql(
      url,
      `mutation ($p: String!) { registerDataset(input: { path: $p, id: "synth" }) { id objects } }`,
      {
        p: synth.dir,
      },
    );
    assert.equal(reg.code, undefined, JSON.stringify(reg));
    const started = await gql(
      url,
      `mutation { startBenchmark(input: { dataset: "synth", models: ["sam_reference"], strategies: [S2, S3, S5] }) { id } }`,
    );
    const jobId = (started.data?.startBenchmark as { id: string }).id;
    const progress = async () =>
      (
        await gql(url, `query ($id: ID!) { benchmark(id: $id) { status progress { done total } } }`, {
          id: jobId,
        })
      ).data?.benchmark as { status: string; progress: { done: number; total: number } };
    const waitForJob = async (what: string, pred: (p: Awaited<ReturnType<typeof progress>>) => boolean) => {
      let last: Awaited<ReturnType<typeof progress>> | undefined;
      return waitFor(
        what,
        async () => {
          last = await progress();
          return pred(last) && last;
        },
        { describe: () => `last ${JSON.stringify(last)}` },
      );
    };
    const db = join(state, 'bench.sqlite');
    const stored = () => {
      const look = new Database(db, { readonly: true });
      try {
        return look.prepare('SELECT COUNT(*) AS n FROM samples WHERE job_id = ?').get(jobId) as { n: number };
      } finally {
        look.close();
      }
    };

    const first = await waitForJob('5 samples stored', (p) => p.progress.done >= 5);
    assert.equal(first.progress.total, total);
    gw.child.kill('SIGKILL');
    await exited(gw.child);
    const atKill = stored().n;
    assert.ok(atKill < total, `${atKill} of ${total} stored at the SIGKILL`);

    gw = await startGatewayProcess(startEnv(state));
    url = gw.match[1];
    const resumed = await waitForJob(
      '5 more samples after the restart',
      (p) => p.progress.done >= atKill + 5 || p.status === 'completed',
    );
    assert.notEqual(resumed.status, 'queued');
    gw.child.kill('SIGTERM');
    const { code } = await exited(gw.child);
    assert.equal(code, 0, gw.output());
    const atTerm = stored().n;
    if (atTerm < total) assert.match(gw.output(), new RegExp(`queued to resume on next start: ${jobId}`));

    gw = await startGatewayProcess(startEnv(state));
    url = gw.match[1];
    const done = await waitForJob('the job completed', (p) => p.status === 'completed');
    assert.equal(done.progress.done, total);
    gw.child.kill('SIGTERM');
    await exited(gw.child);
    t.diagnostic(`samples stored: ${atKill} at SIGKILL, ${atTerm} at SIGTERM, ${total} at the end`);

    const check = new Database(db, { readonly: true });
    const rows = check
      .prepare(
        'SELECT model, strategy, object_id, variant, COUNT(*) AS n FROM samples WHERE job_id = ? GROUP BY 1, 2, 3, 4',
      )
      .all(jobId) as Array<{ n: number }>;
    check.close();
    assert.equal(rows.length, total);
    assert.ok(
      rows.every((r) => r.n === 1),
      'every sample exactly once',
    );
  });
});
