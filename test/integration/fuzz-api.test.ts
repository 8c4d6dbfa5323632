/**
 * Seeded fuzzing through the whole GraphQL API: mutated PNG, JPEG, TIFF, DICOM and NIfTI inputs, mutated RLE
 * masks, and malformed GraphQL requests. Every answer must come back in time, with a typed code, and never
 * as INTERNAL or a 5xx. (Decoder-level mutations of the sample files are in test/unit/imaging/mutated-inputs;
 * this adds TIFF, the time bound, and the path through HTTP, GraphQL, the resolvers and error mapping.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadSecurityConfig } from '../../gateway/src/security/security-config.ts';
import { generatePhantom } from '../../gateway/src/core/phantoms.ts';
import { createRng, type Rng } from '../../gateway/src/core/random.ts';
import { countsToString, encodeRle } from '../../gateway/src/core/rle.ts';
import { encodePng } from '../../gateway/src/imaging/encode-png.ts';
import type { RunningGateway } from '../../gateway/src/main.ts';
import { SAMPLES, startTestGateway } from '../helpers/gateway.ts';
import { makeTiff } from '../unit/imaging/synthetic-images.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** Codes a bad input may earn; anything else (INTERNAL above all) fails the test. */
const TYPED = new Set([
  'BAD_IMAGE',
  'UNSUPPORTED_FORMAT',
  'UNSUPPORTED_TRANSFER_SYNTAX',
  'IMAGE_TOO_LARGE',
  'BAD_PROMPT',
  'BAD_REQUEST',
  'LIMIT_EXCEEDED',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'MODEL_NOT_FOUND',
  'EMBEDDING_NOT_FOUND',
  'OPERATION_RESOLUTION_FAILURE',
]);

interface Answer {
  status: number;
  code: string | undefined;
  ms: number;
  text: string;
}

let gw: RunningGateway;

async function send(body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { errors?: Array<{ extensions?: { code?: string } }> }).errors?.[0]
      ?.extensions?.code;
  } catch {
    code = 'NOT_JSON';
  }
  return { status: res.status, code, ms: performance.now() - started, text };
}

const gqlBody = (query: string, variables: Record<string, unknown> = {}) =>
  JSON.stringify({ query, variables });

function assertTyped(a: Answer, what: string): void {
  assert.ok(a.status < 500, `${what}: HTTP ${a.status} ${a.text.slice(0, 300)}`);
  if (a.code !== undefined) assert.ok(TYPED.has(a.code), `${what}: code ${a.code} ${a.text.slice(0, 300)}`);
  // Not a speed figure: only a request stuck far beyond any busy machine's pace counts as a hang.
  assert.ok(a.ms < 120_000, `${what}: took ${Math.round(a.ms)} ms`);
}

/** One seeded mutation: truncation, header byte flips, random flips, a spliced duplicate, or garbage. */
function mutate(rng: Rng, original: Uint8Array, k: number): Uint8Array {
  const bytes = Uint8Array.from(original);
  switch (k % 5) {
    case 0:
      return bytes.subarray(0, rng.int(Math.max(1, bytes.length)));
    case 1:
    case 2: {
      const span = k % 5 === 1 ? Math.min(bytes.length, 512) : bytes.length;
      for (let j = 0; j < 1 + rng.int(8); j++) bytes[rng.int(span)] = rng.int(256);
      return bytes;
    }
    case 3: {
      const at = rng.int(bytes.length);
      const len = rng.int(Math.min(4096, bytes.length - at) + 1);
      return Uint8Array.from([...bytes.subarray(0, at + len), ...bytes.subarray(at)]);
    }
    default:
      return Uint8Array.from({ length: 16 + rng.int(2048) }, () => rng.int(256));
  }
}

const SEGMENT = `query ($image: ImageInput!) {
  segment(input: { image: $image, prompts: [{ box: { x0: 2, y0: 2, x1: 20, y1: 20 } }] }) { results { masks { area } } }
}`;

before(async () => {
  gw = await startTestGateway({
    security: loadSecurityConfig({ RATE_LIMIT_RPS: '0' }, tempDir('medseg-test-state-')),
    maxPixels: 4_000_000,
  });
});
after(async () => gw?.close());

describe('mutated images through the API', () => {
  const phantom = generatePhantom({ seed: 9, width: 64, height: 48 }).image;
  const grey = Array.from(phantom.data as Uint8Array);
  const formats: Array<[string, Uint8Array, (b64: string) => Record<string, unknown>]> = [
    [
      'PNG',
      new Uint8Array(readFileSync(join(SAMPLES, 'ct-multiorgan/images/s0619_32.png'))),
      (b) => ({ encoded: { base64: b } }),
    ],
    [
      'JPEG',
      new Uint8Array(readFileSync(join(SAMPLES, 'xray-lungs/images/1.jpg'))),
      (b) => ({ encoded: { base64: b } }),
    ],
    [
      'TIFF',
      makeTiff({ width: 64, height: 48, bits: 8, samplesPerPixel: 1, photometric: 1, samples: grey }),
      (b) => ({ encoded: { base64: b, mediaType: 'image/tiff' } }),
    ],
    [
      'DICOM',
      new Uint8Array(readFileSync(join(SAMPLES, 'dicom/small-ct-mr/CT_small.dcm'))),
      (b) => ({ dicom: { base64: b } }),
    ],
    [
      'NIfTI',
      new Uint8Array(readFileSync(join(SAMPLES, 'nifti/tiny-mri-fixture/anatomical.nii'))),
      (b) => ({ nifti: { base64: b, slice: 0 } }),
    ],
  ];
  for (const [name, original, input] of formats) {
    test(`${name}: the original and 16 seeded mutations answer in time with typed codes only`, async () => {
      const orig = await send(gqlBody(SEGMENT, { image: input(Buffer.from(original).toString('base64')) }));
      assert.equal(orig.code, undefined, `${name} original: ${orig.text.slice(0, 300)}`);
      const rng = createRng(4242 + name.length);
      const seen = new Map<string, number>();
      for (let k = 0; k < 16; k++) {
        const b64 = Buffer.from(mutate(rng, original, k)).toString('base64');
        const a = await send(gqlBody(SEGMENT, { image: input(b64) }));
        assertTyped(a, `${name} variant ${k}`);
        seen.set(a.code ?? 'ok', (seen.get(a.code ?? 'ok') ?? 0) + 1);
      }
      assert.ok(
        [...seen.keys()].some((c) => c !== 'ok'),
        `${name}: some variants must be refused`,
      );
    });
  }
});

describe('mutated RLE masks through the API', () => {
  test('previousMask.rle and exportDicomSeg masks: random and hostile counts give BAD_PROMPT/BAD_REQUEST', async () => {
    const image = {
      encoded: {
        base64: Buffer.from(encodePng(generatePhantom({ seed: 2, width: 40, height: 30 }).image)).toString(
          'base64',
        ),
      },
    };
    const good = encodeRle({ width: 40, height: 30, data: new Uint8Array(1200).fill(1, 100, 400) });
    const q = `query ($image: ImageInput!, $rle: RleInput!) {
      segment(input: { image: $image, prompts: [{ box: { x0: 2, y0: 2, x1: 30, y1: 20 }, previousMask: { rle: $rle } }] }) { results { masks { area } } } }`;
    const ok = await send(gqlBody(q, { image, rle: good }));
    assert.equal(ok.code, undefined, ok.text.slice(0, 300));
    const rng = createRng(77);
    const alphabet = String.fromCharCode(...Array.from({ length: 80 }, (_, i) => 40 + i));
    const hostile: Array<{ size: number[]; counts: string }> = [
      { size: [30, 40], counts: '' },
      { size: [30, 40], counts: countsToString([1199]) },
      { size: [30, 40], counts: countsToString([1200, 5]) },
      { size: [30, 40], counts: '\u0000\u00ff' },
      { size: [30, 40], counts: '~~~~~~~~~~' },
      { size: [30], counts: good.counts },
      { size: [30, 40, 1], counts: good.counts },
      { size: [-30, -40], counts: good.counts },
      { size: [50_000, 50_000], counts: countsToString([2_500_000_000]) },
      { size: [100_000, 100_000], counts: countsToString([10_000_000_000]) },
    ];
    for (let k = 0; k < 30; k++) {
      const len = rng.int(40);
      let counts = '';
      for (let i = 0; i < len; i++) counts += alphabet[rng.int(alphabet.length)];
      hostile.push({ size: [30, 40], counts });
    }
    for (const [i, rle] of hostile.entries()) {
      const a = await send(gqlBody(q, { image, rle }));
      assertTyped(a, `rle ${i} ${JSON.stringify(rle).slice(0, 80)}`);
      assert.ok(a.code !== undefined, `rle ${i} must be refused: ${a.text.slice(0, 200)}`);
    }
    const dicom = Buffer.from(readFileSync(join(SAMPLES, 'dicom/small-ct-mr/CT_small.dcm'))).toString(
      'base64',
    );
    const seg = `mutation ($d: String!, $rle: RleInput!) { exportDicomSeg(input: { source: { dicom: [$d] }, masks: [{ sourceIndex: 0, rle: $rle }] }) { __typename } }`;
    for (const [i, rle] of hostile.slice(0, 12).entries()) {
      const a = await send(gqlBody(seg, { d: dicom, rle }));
      assertTyped(a, `seg rle ${i} ${JSON.stringify(rle).slice(0, 80)}`);
      // A short RLE claiming billions of pixels must be refused before it is decoded: decoding it would take
      // tens of gigabytes and far longer than assertTyped's hang bound, so the typed refusal above shows it.
      assert.ok(a.code !== undefined, `seg rle ${i} must be refused: ${a.text.slice(0, 200)}`);
    }
  });
});

describe('malformed GraphQL', () => {
  const cases: Array<[string, string | Uint8Array, Record<string, string>?]> = [
    ['syntax error', gqlBody('{ models { name ')],
    ['unknown field', gqlBody('{ modelz { name } }')],
    ['unknown argument', gqlBody('{ models(first: 1) { name } }')],
    ['wrong variable type', gqlBody('query ($n: String!) { model(name: $n) { name } }', { n: 42 } as never)],
    ['missing variable', gqlBody('query ($n: String!) { model(name: $n) { name } }')],
    ['variables not an object', JSON.stringify({ query: '{ models { name } }', variables: [1, 2] })],
    ['query not a string', JSON.stringify({ query: 42 })],
    ['no query', JSON.stringify({ variables: {} })],
    ['JSON array (batch) body', JSON.stringify([{ query: '{ models { name } }' }])],
    ['not JSON', '{"query": "{ models { name } }"'],
    ['invalid UTF-8', Uint8Array.from([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ['empty body', ''],
    [
      'operationName that matches nothing',
      JSON.stringify({ query: 'query A { models { name } }', operationName: 'B' }),
    ],
    ['two anonymous operations', gqlBody('{ models { name } } { cacheStats { hits } }')],
    [
      'Int overflow',
      gqlBody(
        '{ session(id: "x") { id } segmentEverything(image: { path: "x" }, options: { pointsPerSide: 99999999999 }) { __typename } }',
      ),
    ],
    [
      'huge string argument (4 MiB)',
      gqlBody(
        'query ($n: String!) { segment(input: { embeddingId: "x", model: $n, prompts: [] }) { __typename } }',
        {
          n: 'x'.repeat(4 * 1024 * 1024),
        } as never,
      ),
    ],
    [
      'deep nesting',
      gqlBody(
        `{ ${'__schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } }'} }`,
      ),
    ],
    [
      'thousands of aliases',
      gqlBody(`{ ${Array.from({ length: 3000 }, (_, i) => `a${i}: __typename`).join(' ')} }`),
    ],
    ['token flood', gqlBody(`{ ${'__typename '.repeat(50_000)} }`)],
    ['directive on unknown', gqlBody('{ models @nope { name } }')],
    ['fragment cycle', gqlBody('{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }')],
    ['text/plain content type', gqlBody('{ models { name } }'), { 'content-type': 'text/plain' }],
    [
      'oneOf input with two members',
      gqlBody(
        '{ segment(input: { image: { path: "a", encoded: { base64: "" } }, prompts: [] }) { __typename } }',
      ),
    ],
  ];
  for (const [name, body, headers] of cases) {
    test(`${name}: 4xx with a code, never INTERNAL`, async () => {
      const a = await send(body, headers);
      assertTyped(a, name);
      assert.ok(
        a.status >= 400 || a.code !== undefined,
        `${name}: expected a refusal, got ${a.status} ${a.text.slice(0, 200)}`,
      );
      assert.ok(a.code !== undefined && a.code !== 'NOT_JSON', `${name}: no code in ${a.text.slice(0, 200)}`);
      assert.ok(
        a.text.length < 100_000,
        `${name}: the answer must not echo the input (${a.text.length} bytes)`,
      );
    });
  }

  test('300 seeded character mutations of valid operations: never INTERNAL, never 5xx', async () => {
    const seeds = [
      '{ models { name ready profile { name inputSize } } }',
      'query ($id: ID!) { embedding(id: $id) { id width height } }',
      'mutation { closeSession(session: "abc") }',
      '{ segment(input: { embeddingId: "x", prompts: [{ points: [{ x: 1, y: 2, positive: true }] }] }) { results { masks { area } } } }',
    ];
    const rng = createRng(31337);
    const noise = '{}()[]:$!@#"\\ \n,.=0123456789abcxyz…\u0000';
    for (let k = 0; k < 300; k++) {
      const chars = [...seeds[k % seeds.length]];
      for (let j = 0; j < 1 + rng.int(4); j++) {
        const at = rng.int(chars.length);
        switch (rng.int(3)) {
          case 0:
            chars.splice(at, 1);
            break;
          case 1:
            chars.splice(at, 0, noise[rng.int(noise.length)]);
            break;
          default:
            chars[at] = noise[rng.int(noise.length)];
        }
      }
      const a = await send(gqlBody(chars.join(''), { id: 'x' }));
      assertTyped(a, `mutation ${k}: ${chars.join('')}`);
    }
  });
});
