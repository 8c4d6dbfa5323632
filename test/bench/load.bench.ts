/**
 * `npm run bench -- load`: the gateway under load on loopback, run as real processes (`medseg start`, and
 * `medseg serve-models` for the backend) so that the peak RSS is the gateway's own (VmHWM from /proc).
 * (a) 32 concurrent clients for 30 s of `segment` on a cached embedding: p50, p99, throughput, errors, peak RSS,
 *     with 1 client for 5 s beside it for the per-request cost;
 * (b) backend SIGKILLed after 3 s of load (16 clients) and restarted on the same port 1 s later: outcomes by
 *     code, time from restart to the first success, and p99 of the requests that succeeded.
 * Environment: LOAD_SECONDS (default 30) and LOAD_CLIENTS (default 32) shorten or widen (a).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { REPO_ROOT } from '../helpers/gateway.ts';
import { freePort, spawnMedseg } from '../helpers/medseg-process.ts';
import { driveLoad, graphqlRequest, peakRssBytes, percentile, type LoadResult } from '../helpers/load.ts';

const MODELS = join(REPO_ROOT, 'triton-models');
const SEGMENT = `query ($id: ID!) { segment(input: { embeddingId: $id, prompts: [{ box: { x0: 40, y0: 40, x1: 200, y1: 180 } }] }) { results { masks { rle { counts } area predictedIou } } } }`;
const ENCODE = `mutation ($i: ImageInput!) { encodeImage(image: $i) { id } }`;

const stop = (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });

async function encode(url: string): Promise<string> {
  const b64 = Buffer.from(encodePng(generatePhantom({ seed: 17, width: 256, height: 256 }).image)).toString(
    'base64',
  );
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: ENCODE, variables: { i: { encoded: { base64: b64 } } } }),
  });
  const body = (await res.json()) as { data?: { encodeImage?: { id: string } } };
  if (!body.data?.encodeImage) throw new Error(`encodeImage failed: ${JSON.stringify(body)}`);
  return body.data.encodeImage.id;
}

const fmt = (r: LoadResult) =>
  `${r.ok} ok in ${r.seconds.toFixed(1)} s, ${r.throughput.toFixed(1)} req/s, p50 ${percentile(r.latenciesMs, 50).toFixed(1)} ms, ` +
  `p99 ${percentile(r.latenciesMs, 99).toFixed(1)} ms, errors ${JSON.stringify(r.errors)}`;

export async function run(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'medseg-load-'));
  const seconds = Number(process.env.LOAD_SECONDS ?? 30);
  const clients = Number(process.env.LOAD_CLIENTS ?? 32);
  // Rate limiting off: this measures the gateway, not the limiter (one loopback caller would share a bucket).
  const common = { PORT: '0', STATE_DIR: tmp, RATE_LIMIT_RPS: '0' };
  const gatewayReady = /listening on (http:\/\/[\d.:]+)\/graphql/;
  try {
    // (a) steady load, embedded backend in the gateway process.
    const gw = await spawnMedseg(['start'], common, gatewayReady);
    const url = gw.match[1];
    const id = await encode(url);
    const request = graphqlRequest(url, SEGMENT, { id });
    const rssBefore = await peakRssBytes(gw.child.pid!);
    const single = await driveLoad({ clients: 1, durationMs: 5000, request });
    console.log(`(a) 1 client, 5 s:            ${fmt(single)}`);
    const loaded = await driveLoad({ clients, durationMs: seconds * 1000, request });
    const rssPeak = await peakRssBytes(gw.child.pid!);
    console.log(`(a) ${clients} clients, ${seconds} s:        ${fmt(loaded)}`);
    console.log(
      `    throughput ratio ${clients} clients / 1 client: ${(loaded.throughput / single.throughput).toFixed(2)}x; ` +
        `p50 ratio ${(percentile(loaded.latenciesMs, 50) / percentile(single.latenciesMs, 50)).toFixed(1)}x`,
    );
    console.log(
      `    gateway peak RSS (VmHWM): ${rssPeak ? (rssPeak / 2 ** 20).toFixed(0) : '?'} MiB ` +
        `(after start and one encode: ${rssBefore ? (rssBefore / 2 ** 20).toFixed(0) : '?'} MiB)`,
    );
    await stop(gw.child);

    // (b) backend killed and restarted under load.
    const port = await freePort();
    const serveArgs = ['serve-models', '--repository', MODELS, '--port', String(port)];
    let server = await spawnMedseg(serveArgs, {}, /listening on/);
    const gw2 = await spawnMedseg(
      ['start'],
      { ...common, TRITON_URL: `127.0.0.1:${port}`, BACKEND_DEADLINE_MS: '3000' },
      gatewayReady,
    );
    const url2 = gw2.match[1];
    const id2 = await encode(url2);
    let restartedAt = 0;
    let firstOkAfter = 0;
    let killedAt = 0;
    let lastOkBeforeKill = 0;
    const timeline: Record<string, number> = {};
    const scenario = driveLoad({
      clients: 16,
      durationMs: 12_000,
      request: graphqlRequest(url2, SEGMENT, { id: id2 }, {}, 15_000),
      onOutcome: (o) => {
        const now = performance.now();
        const phase = killedAt === 0 ? 'before kill' : restartedAt === 0 ? 'backend down' : 'after restart';
        timeline[`${phase}: ${o}`] = (timeline[`${phase}: ${o}`] ?? 0) + 1;
        if (o === 'ok' && killedAt === 0) lastOkBeforeKill = now;
        if (o === 'ok' && restartedAt > 0 && firstOkAfter === 0) firstOkAfter = now;
      },
    });
    await new Promise((r) => setTimeout(r, 3000));
    killedAt = performance.now();
    await stop(server.child, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = performance.now();
    server = await spawnMedseg(serveArgs, {}, /listening on/);
    const listeningMs = performance.now() - t0;
    restartedAt = t0;
    const result = await scenario;
    console.log(`(b) 16 clients, 12 s, backend SIGKILL at 3 s, restarted 1 s later:`);
    for (const [k, v] of Object.entries(timeline)) console.log(`    ${k.padEnd(40)} ${v}`);
    console.log(
      `    restarted backend listening after ${listeningMs.toFixed(0)} ms; restart -> first ok: ${firstOkAfter ? (firstOkAfter - restartedAt).toFixed(0) : 'never'} ms; ` +
        `outage seen by clients (last ok before kill -> first ok after): ${firstOkAfter ? (firstOkAfter - lastOkBeforeKill).toFixed(0) : '?'} ms`,
    );
    console.log(`    whole run: ${fmt(result)}`);
    await stop(gw2.child);
    await stop(server.child);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
