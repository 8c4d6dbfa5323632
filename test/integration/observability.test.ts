/** /metrics counters move with real requests; logs carry request ids and never pixel data. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../gateway/src/config.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import { startGateway } from '../../gateway/src/main.ts';
import { gql, REPO_ROOT } from '../helpers/gateway.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('metrics move with requests, and logs have request ids but no pixels', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const config = loadConfig({
    PORT: '0',
    DEFAULT_MODEL: 'sam_reference',
    MODEL_REPOSITORY: `${REPO_ROOT}triton-models`,
    STATE_DIR: tempDir('medseg-state-'),
  });
  const gw = await startGateway(config, pino({ level: 'info' }, sink));
  try {
    const scrape = async () => (await fetch(`${gw.url}/metrics`)).text();
    const before = await scrape();
    const b64 = Buffer.from(encodePng(generatePhantom({ seed: 5, width: 96, height: 96 }).image)).toString(
      'base64',
    );
    const query = `query Seg($i: ImageInput!) { segment(input: { image: $i, prompts: [{ box: { x0: 10, y0: 10, x1: 60, y1: 60 } }] }) { results { masks { area } } } }`;
    const r1 = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc-123' },
      body: JSON.stringify({ query, variables: { i: { encoded: { base64: b64 } } } }),
    });
    assert.equal(r1.status, 200);
    assert.equal(r1.headers.get('x-request-id'), 'req-abc-123');
    await gql(gw.url, query, { i: { encoded: { base64: b64 } } });
    const bad = await gql(gw.url, query.replace('Seg', 'Bad'), { i: { encoded: { base64: 'AAAA' } } });
    assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_IMAGE');
    const after = await scrape();

    const ok = 'operation="segment",outcome="ok"';
    assert.equal(
      metricValue(after, 'medseg_graphql_requests_total', ok) -
        metricValue(before, 'medseg_graphql_requests_total', ok),
      2,
    );
    assert.equal(
      metricValue(after, 'medseg_graphql_requests_total', 'operation="segment",outcome="BAD_IMAGE"'),
      1,
    );
    assert.equal(
      metricValue(after, 'medseg_encoder_duration_seconds_count', 'model="sam_reference_encoder"'),
      1,
    );
    assert.ok(
      metricValue(after, 'medseg_decoder_duration_seconds_count', 'model="sam_reference_decoder"') >= 1,
    );
    assert.ok(metricValue(after, 'medseg_decoder_batch_size_count', 'model="sam_reference_decoder"') >= 1);
    assert.equal(metricValue(after, 'medseg_embedding_cache_hits'), 1);
    assert.equal(metricValue(after, 'medseg_embedding_cache_hit_ratio'), 0.5);
    assert.match(after, /medseg_process_cpu_user_seconds_total/);

    const opLines = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'graphql operation');
    assert.ok(
      opLines.some((l) => l.requestId === 'req-abc-123' && l.operation === 'Seg' && l.outcome === 'ok'),
    );
    assert.ok(opLines.some((l) => l.operation === 'Bad' && l.outcome === 'BAD_IMAGE'));
    assert.ok(!lines.some((l) => l.includes(b64.slice(0, 40))), 'no pixel data in logs');
  } finally {
    await gw.close();
  }
});
