/** The schema's DicomInput description names every transfer syntax the imaging layer decodes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { buildSchema, isInputObjectType } from 'graphql';
import { decodedTransferSyntaxes, type PixelEncoding } from '../../../gateway/src/imaging/transfer-syntax.ts';

/** The phrase the description must carry for each decoded encoding (a new encoding must be added here). */
const PHRASES: Record<Exclude<PixelEncoding, 'unsupported'>, RegExp[]> = {
  'native-le': [/Implicit VR Little Endian/, /Explicit VR Little Endian/],
  'native-be': [/Explicit VR Big Endian/],
  'deflate-le': [/Deflated/],
  rle: [/RLE Lossless/],
  'jpeg-baseline': [/JPEG Baseline/],
  'jpeg-lossless': [/JPEG Lossless/, /Process 14/],
  'jpeg-ls': [/JPEG-LS/, /near-lossless/],
  jpeg2000: [/JPEG 2000/, /lossy/],
};

test('DicomInput lists every decoded transfer syntax', () => {
  const sdl = ['schema/schema.graphql', 'schema/benchmark.graphql']
    .map((f) => readFileSync(new URL(`../../../${f}`, import.meta.url), 'utf8'))
    .join('\n');
  const type = buildSchema(sdl, { assumeValidSDL: true }).getType('DicomInput');
  assert.ok(type && isInputObjectType(type));
  const description = (type.description ?? '').replace(/\s+/g, ' ');
  const encodings = new Set(decodedTransferSyntaxes().map((s) => s.encoding));
  assert.ok(encodings.size >= 8, [...encodings].join(', '));
  for (const encoding of encodings) {
    const phrases = PHRASES[encoding as keyof typeof PHRASES];
    assert.ok(phrases, `no phrase for the decoded encoding ${encoding}: add it to the schema and this test`);
    for (const p of phrases) assert.match(description, p, `${encoding}: ${description}`);
  }
});
