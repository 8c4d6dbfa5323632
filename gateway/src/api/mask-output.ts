/** Shapes one mask candidate for the GraphQL `Mask` type: COCO RLE always, PNG and polygons on request. */
import { maskToPolygons } from '../core/polygons.ts';
import { encodeRle, rleArea, rleToBbox } from '../core/rle.ts';
import type { MaskCandidate } from '../core/segmenter.ts';
import type { BinaryMask } from '../core/mask.ts';
import { encodePng } from '../imaging/encode-png.ts';
import type { ApiContext } from './context.ts';

/** Extra encodings a client may ask for. */
export type MaskOutputForm = 'PNG' | 'POLYGONS';

/** Provenance of a mask as the schema's Provenance type. */
export interface ProvenanceInput {
  model: string;
  modelVersion: string;
  profile: string;
  encoder: string;
  decoder: string;
  points: Array<{ x: number; y: number; positive: boolean }>;
  box: { x0: number; y0: number; x1: number; y1: number } | null;
  usedPreviousMask: boolean;
  candidateIndex: number;
  createdAt: string;
}

/** Outer contours as flat coordinate lists. */
export function polygonsOf(mask: BinaryMask): number[][] {
  return maskToPolygons(mask);
}

/**
 * The GraphQL Mask object of a candidate. Its low-res logits are stored for refinement unless an existing
 * handle is passed.
 */
export function maskOutput(
  ctx: ApiContext,
  c: MaskCandidate,
  provenance: ProvenanceInput,
  outputs: readonly MaskOutputForm[],
  lowResId?: string,
) {
  const rle = encodeRle(c.mask);
  const [x, y, width, height] = rleToBbox(rle);
  return {
    rle: { size: rle.size, counts: rle.counts },
    png: outputs.includes('PNG') ? Buffer.from(encodePng(c.mask)).toString('base64') : null,
    polygons: outputs.includes('POLYGONS') ? polygonsOf(c.mask) : null,
    predictedIou: c.predictedIou,
    stabilityScore: Number.isFinite(c.stabilityScore) ? c.stabilityScore : 0,
    area: rleArea(rle),
    bbox: { x, y, width, height },
    lowResId: lowResId ?? ctx.services.lowRes.put(c.lowRes, provenance.model),
    provenance,
  };
}
