/**
 * Faults through real processes: the embedded KServe v2 server run as its own process (`medseg serve-models`)
 * is SIGKILLed under load and restarted on the same port (requests end with typed errors, never a crash or a
 * hang, and the gateway serves again within seconds); `medseg start` drains requests in flight on SIGTERM;
 * a benchmark job survives SIGKILL and SIGTERM of the gateway with every sample stored exactly once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { loadSecurityConfig } from '../../gateway/src/api/security-config.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { REPO_ROOT, startTestGateway } from '../helpers/gateway.ts';
import { freePort, spawnMedseg as spawnProcess } from '../helpers/medseg-process.ts';
import { writeSyntheticDataset } from '../helpers/synthetic-dataset.ts';

const MODELS = join(REPO_ROOT, 'triton-models');
const tmp = mkdtempSync(join(tmpdir(), 'medseg-faults-'));
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

const SEGMENT = `query ($id: ID!) { segment(input: { embeddingId: $id, prompts: [{ box: { x0: 10, y0: 10, x1: 60, y1: 60 } }] }) { results { masks { area } } } }`;
const ENCODE = `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('backend faults through real processes', () => {
  test('backend SIGKILLed under load and restarted: typed errors only, no hang, serving again in seconds', async (t) => {
    const port = await freePort();
    const serveArgs = ['serve-models', '--repository', MODELS, '--port', String(port)];
    let server = await spawnMedseg(serveArgs, {}, /listening on/);
    const gw = await startTestGateway({
      tritonUrl: `127.0.0.1:${port}`,
      backendDeadlineMs: 3000,
      security: loadSecurityConfig({ RATE_LIMIT_RPS: '0' }, tmp),
    });
    try {
      const png = encodePng(generatePhantom({ seed: 3, width: 96, height: 96 }).image);
      const enc = await gql(gw.url, ENCODE, {
        i: { encoded: { base64: Buffer.from(png).toString('base64') } },
      });
      const id = (enc.data?.encodeImage as { id: string }).id;
      assert.ok(id);

      const outcomes = new Map<string, number>();
      let stop = false;
      let okAfterRestart = 0;
      let restartedAt = 0;
      let firstOkAfterRestart = 0;
      const client = async () => {
        while (!stop) {
          let outcome: string;
          try {
            const r = await gql(gw.url, SEGMENT, { id }, 15_000);
            outcome = r.code ?? (r.status === 200 ? 'ok' : `http ${r.status}`);
          } catch (err: unknown) {
            outcome = (err as Error).name === 'TimeoutError' ? 'HANG' : `fetch ${(err as Error).message}`;
          }
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          if (outcome === 'ok' && restartedAt > 0) {
            okAfterRestart++;
            if (firstOkAfterRestart === 0) firstOkAfterRestart = performance.now();
          }
          if (outcome !== 'ok') await sleep(20);
        }
      };
      const clients = Array.from({ length: 8 }, client);
      await sleep(1000);
      const okBeforeKill = outcomes.get('ok') ?? 0;
      server.child.kill('SIGKILL');
      await exited(server.child);
      await sleep(1000);
      restartedAt = performance.now();
      server = await spawnMedseg(serveArgs, {}, /listening on/);
      const listeningAfterMs = performance.now() - restartedAt;
      const deadline = performance.now() + 20_000;
      while (okAfterRestart < 20 && performance.now() < deadline) await sleep(50);
      stop = true;
      await Promise.all(clients);

      const summary = Object.fromEntries(outcomes);
      const recoveryMs = firstOkAfterRestart - restartedAt;
      t.diagnostic(
        `outcomes ${JSON.stringify(summary)}; server listening ${Math.round(listeningAfterMs)} ms after restart, ` +
          `first ok ${Math.round(recoveryMs)} ms after restart`,
      );
      assert.ok(okBeforeKill > 0, 'served before the kill');
      const allowed = new Set(['ok', 'BACKEND_UNAVAILABLE', 'DEADLINE_EXCEEDED', 'MODEL_NOT_READY']);
      for (const k of outcomes.keys())
        assert.ok(allowed.has(k), `unexpected outcome ${k}: ${JSON.stringify(summary)}`);
      assert.ok((outcomes.get('BACKEND_UNAVAILABLE') ?? 0) + (outcomes.get('DEADLINE_EXCEEDED') ?? 0) > 0);
      assert.ok(okAfterRestart >= 20, `serving again after the restart (${okAfterRestart} ok)`);
      assert.ok(recoveryMs < 15_000, `recovered in ${Math.round(recoveryMs)} ms`);
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
    const gw = await startGatewayProcess(startEnv(join(tmp, 'drain')));
    const url = gw.match[1];
    const images = [11, 12, 13, 14].map((seed) =>
      Buffer.from(encodePng(generatePhantom({ seed, width: 400, height: 300 }).image)).toString('base64'),
    );
    const inflight = images.map((b64) => gql(url, ENCODE, { i: { encoded: { base64: b64 } } }));
    await sleep(150);
    gw.child.kill('SIGTERM');
    const results = await Promise.all(inflight);
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(r.code, undefined);
      assert.ok((r.data?.encodeImage as { id: string }).id);
    }
    const { code } = await exited(gw.child);
    assert.equal(code, 0, gw.output());
    assert.match(gw.output(), /shutting down \(grace 10000 ms\)/);
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
    const waitFor = async (pred: (p: Awaited<ReturnType<typeof progress>>) => boolean, ms: number) => {
      const end = performance.now() + ms;
      for (;;) {
        const p = await progress();
        if (pred(p)) return p;
        if (performance.now() > end) throw new Error(`timed out; last ${JSON.stringify(p)}`);
        await sleep(20);
      }
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

    const first = await waitFor((p) => p.progress.done >= 5, 60_000);
    assert.equal(first.progress.total, total);
    gw.child.kill('SIGKILL');
    await exited(gw.child);
    const atKill = stored().n;
    assert.ok(atKill < total, `${atKill} of ${total} stored at the SIGKILL`);

    gw = await startGatewayProcess(startEnv(state));
    url = gw.match[1];
    const resumed = await waitFor((p) => p.progress.done >= atKill + 5 || p.status === 'completed', 60_000);
    assert.notEqual(resumed.status, 'queued');
    gw.child.kill('SIGTERM');
    const { code } = await exited(gw.child);
    assert.equal(code, 0, gw.output());
    const atTerm = stored().n;
    if (atTerm < total) assert.match(gw.output(), new RegExp(`queued to resume on next start: ${jobId}`));

    gw = await startGatewayProcess(startEnv(state));
    url = gw.match[1];
    const done = await waitFor((p) => p.status === 'completed', 120_000);
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
