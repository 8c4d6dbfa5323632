/**
 * `npm run bench -- propagation`: 3-D propagation speed with the reference model on a synthetic 256x256x40
 * ellipsoid volume: slices per second through GraphQL `segmentVolume` (NIfTI in, NIfTI out), through the
 * propagate function directly on the SAM session (no HTTP, no NIfTI), and again with every slice's embedding
 * already cached (decoder only), measured side by side in one run; Dice against the known ellipsoid.
 */
import { writeNiftiLabels } from '../../gateway/src/api/medical/nifti-writer.ts';
import type { BinaryMask } from '../../gateway/src/core/mask.ts';
import { dice } from '../../gateway/src/core/metrics.ts';
import { decodeRle } from '../../gateway/src/core/rle.ts';
import { maskBox, nextBox, propagate } from '../../gateway/src/sam/propagation.ts';
import { gql, startTestGateway } from '../helpers/gateway.ts';

const NX = 256;
const NY = 256;
const NZ = 40;

function phantom(seed: number) {
  const image = new Uint8Array(NX * NY * NZ);
  const truth = new Uint8Array(NX * NY * NZ);
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let z = 0; z < NZ; z++)
    for (let y = 0; y < NY; y++)
      for (let x = 0; x < NX; x++) {
        const r = ((x - 128) / 80) ** 2 + ((y - 120) / 60) ** 2 + ((z - 19.5) / 19) ** 2;
        const i = x + NX * (y + NY * z);
        truth[i] = r <= 1 ? 1 : 0;
        image[i] = (r <= 1 ? 160 : 80) + Math.round((rnd() - 0.5) * 30);
      }
  return { image, truth };
}

const sliceMask = (v: Uint8Array, z: number): BinaryMask => ({
  width: NX,
  height: NY,
  data: v.subarray(NX * NY * z, NX * NY * (z + 1)),
});

export async function run(): Promise<void> {
  const gw = await startTestGateway({ maxVolumeSlices: NZ });
  try {
    const key = 20;
    const a = phantom(1);
    const box = maskBox(sliceMask(a.truth, key)).box!;
    const nii = Buffer.from(
      writeNiftiLabels({ dims: [NX, NY, NZ], spacing: [1, 1, 2.5], data: a.image }),
    ).toString('base64');
    let t = performance.now();
    const r = await gql<{
      segmentVolume: { slices: Array<{ slice: number; rle: { size: [number, number]; counts: string } }> };
    }>(
      gw.url,
      `mutation ($in: VolumeSegmentInput!) { segmentVolume(input: $in) { nifti slices { slice rle { size counts } } } }`,
      {
        in: {
          volume: { nifti: { base64: nii } },
          keySlice: key,
          prompt: { box: { x0: box[0], y0: box[1], x1: box[2] + 1, y1: box[3] + 1 } },
          outputs: ['NIFTI'],
        },
      },
    );
    const apiMs = performance.now() - t;
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    const slices = r.data!.segmentVolume.slices;
    const dices = slices.map((s) => dice(decodeRle(s.rle), sliceMask(a.truth, s.slice)));
    const apiRate = slices.length / (apiMs / 1000);

    // The same walk on another noise seed (no cached embeddings), straight on the SAM session.
    const b = phantom(2);
    const source = {
      depth: NZ,
      slice: (z: number) => ({
        width: NX,
        height: NY,
        channels: 1 as const,
        data: b.image.slice(NX * NY * z, NX * NY * (z + 1)),
      }),
    };
    const options = {
      model: 'sam_reference',
      keySlice: key,
      prompt: { box: nextBox(box, 0, NX, NY), points: [] },
      maxSlices: NZ,
      minArea: 20,
      boxMargin: 2,
    };
    t = performance.now();
    const direct = await propagate(gw.services.sam, source, options);
    const directMs = performance.now() - t;
    t = performance.now();
    const warm = await propagate(gw.services.sam, source, options);
    const warmMs = performance.now() - t;
    const directRate = direct.slices.length / (directMs / 1000);
    const warmRate = warm.slices.length / (warmMs / 1000);

    const mean = dices.reduce((x, y) => x + y, 0) / dices.length;
    console.log(`volume ${NX}x${NY}x${NZ}, key slice ${key}, reference model (embedded backend, CPU)`);
    console.log(
      `GraphQL segmentVolume:   ${slices.length} slices (${slices[0].slice}..${slices.at(-1)!.slice}) in ${apiMs.toFixed(0)} ms = ${apiRate.toFixed(2)} slices/s; Dice mean ${mean.toFixed(3)}, min ${Math.min(...dices).toFixed(3)}`,
    );
    console.log(
      `propagate (session):     ${direct.slices.length} slices in ${directMs.toFixed(0)} ms = ${directRate.toFixed(2)} slices/s`,
    );
    console.log(
      `propagate (cached emb.): ${warm.slices.length} slices in ${warmMs.toFixed(0)} ms = ${warmRate.toFixed(2)} slices/s`,
    );
    console.log(
      `ratios: API / session ${(apiRate / directRate).toFixed(2)}, cached / uncached ${(warmRate / directRate).toFixed(2)} (encoder share ${(100 * (1 - warmMs / directMs)).toFixed(0)}%)`,
    );
  } finally {
    await gw.close();
  }
}
