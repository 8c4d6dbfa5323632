import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listServableModels, type SamConfigParams } from '../../../gateway/src/sam/model-listing.ts';
import type { RepositoryModel } from '../../../gateway/src/protocol/types.ts';

const ready = (name: string): RepositoryModel => ({ name, version: '1', state: 'READY', reason: '' });
const missing = (name: string): RepositoryModel => ({
  name,
  version: '1',
  state: 'UNAVAILABLE',
  reason: `missing model file ${name}/1/model.onnx`,
});

/** A fake backend: configs of the READY models; counts every call by model. */
function deps(configs: Record<string, SamConfigParams>, unresolvable: Record<string, string> = {}) {
  const calls: string[] = [];
  return {
    calls,
    config: async (name: string) => {
      calls.push(`config ${name}`);
      const params = configs[name];
      if (!params) throw new Error(`no config for ${name}`);
      return { platform: params.encoder ? 'ensemble' : 'onnxruntime_onnx', params };
    },
    resolve: async (name: string) => {
      calls.push(`resolve ${name}`);
      if (unresolvable[name]) throw new Error(unresolvable[name]);
      const p = configs[name];
      return { encoder: p.encoder ?? name, decoder: p.decoder ?? '', id: name };
    },
  };
}

test('lists servable models only: ensembles and self-standing encoders, never their components', async () => {
  const index = [
    ready('sam_reference'),
    ready('sam_reference_encoder'),
    ready('sam_reference_decoder'),
    ready('sam_reference_hwc_encoder'),
    missing('medsam_vit_b'),
    missing('medsam_vit_b_encoder'),
    missing('medsam_vit_b_decoder'),
    // A pair without an ensemble: the encoder is what a request names.
    missing('solo_encoder'),
    missing('solo_decoder'),
    ready('not_sam'),
  ];
  const d = deps({
    sam_reference: { encoder: 'sam_reference_encoder', decoder: 'sam_reference_decoder' },
    sam_reference_encoder: { profile: 'sam', decoder: 'sam_reference_decoder' },
    sam_reference_decoder: {},
    sam_reference_hwc_encoder: { profile: 'sam_hwc', decoder: 'sam_reference_decoder' },
    not_sam: {},
  });
  const listed = await listServableModels(index, d);
  assert.deepEqual(
    listed.map((m) => [m.name, m.ready, m.encoder, m.decoder]),
    [
      ['medsam_vit_b', false, 'medsam_vit_b_encoder', 'medsam_vit_b_decoder'],
      ['sam_reference', true, 'sam_reference_encoder', 'sam_reference_decoder'],
      ['sam_reference_hwc_encoder', true, 'sam_reference_hwc_encoder', 'sam_reference_decoder'],
      ['solo_encoder', false, 'solo_encoder', 'solo_decoder'],
    ],
  );
  const medsam = listed.find((m) => m.name === 'medsam_vit_b')!;
  assert.match(medsam.reason, /medsam_vit_b_encoder unavailable: missing model file medsam_vit_b_encoder/);
  assert.match(medsam.reason, /medsam_vit_b_decoder unavailable/);
  assert.match(
    listed.find((m) => m.name === 'solo_encoder')!.reason,
    /^solo_encoder unavailable: missing model file .*; solo_decoder unavailable/,
  );
  // Not-ready models cost no backend call at all (no config lookups, so no retries of them).
  assert.deepEqual(
    d.calls.filter((c) => /medsam|solo/.test(c)),
    [],
  );
});

test('a READY model that cannot be resolved is listed not ready with the resolver reason', async () => {
  const d = deps(
    { broken: { encoder: 'broken_encoder', decoder: 'broken_decoder' } },
    { broken: 'bad profile' },
  );
  const listed = await listServableModels(
    [ready('broken'), ready('broken_encoder'), ready('broken_decoder')],
    d,
  );
  assert.deepEqual(
    listed.map((m) => [m.name, m.ready, m.reason]),
    [['broken', false, 'bad profile']],
  );
});
