/**
 * DICOM SEG outputs of the API: BINARY segmentations of masks over DICOM source slices (the imaging layer's
 * writer), returned as bytes and optionally stored to a configured PACS by STOW-RS.
 */
import type { BinaryMask } from '../../core/mask.ts';
import { SEGMENTATION_CODES, type CodedConcept } from '../../imaging/coded-concept.ts';
import {
  longStringProblem,
  LO_MAX_CHARS,
  writeDicomSeg,
  type SegPatientStudy,
  type SegSourceImage,
} from '../../imaging/dicom-seg.ts';
import { ApiError } from '../errors.ts';
import { imaging } from './input.ts';
import { pacsCall, type PacsRegistry } from './pacs.ts';

/** The SegmentType enum of the schema. */
export type SegmentTypeArg = 'TISSUE' | 'LIVER' | 'LUNG' | 'KIDNEY' | 'HEART' | 'NEOPLASM';

/** SegOptionsInput: what the segment is called and where the SEG goes. */
export interface SegOptionsArg {
  label?: string | null;
  type?: SegmentTypeArg | null;
  seriesDescription?: string | null;
  storeToPacs?: boolean | null;
  pacs?: string | null;
}

const TYPES: Record<SegmentTypeArg, { category: CodedConcept; type: CodedConcept }> = {
  TISSUE: { category: SEGMENTATION_CODES.tissue, type: SEGMENTATION_CODES.tissue },
  LIVER: { category: SEGMENTATION_CODES.anatomicalStructure, type: SEGMENTATION_CODES.liver },
  LUNG: { category: SEGMENTATION_CODES.anatomicalStructure, type: SEGMENTATION_CODES.lung },
  KIDNEY: { category: SEGMENTATION_CODES.anatomicalStructure, type: SEGMENTATION_CODES.kidney },
  HEART: { category: SEGMENTATION_CODES.anatomicalStructure, type: SEGMENTATION_CODES.heart },
  NEOPLASM: {
    category: SEGMENTATION_CODES.morphologicallyAbnormalStructure,
    type: SEGMENTATION_CODES.neoplasm,
  },
};

/** The DicomSegExport GraphQL object. */
export interface DicomSegOut {
  base64: string;
  sopInstanceUID: string;
  seriesInstanceUID: string;
  studyInstanceUID: string;
  frames: number;
  stored: { pacs: string; sopInstanceUID: string; retrieveUrl: string | null } | null;
}

/**
 * Writes a one-segment BINARY SEG with one frame per non-empty mask (by source index), and stores it when
 * asked (to `options.pacs`, else `defaultPacs`, the PACS the sources came from).
 */
export async function exportSeg(
  sources: SegSourceImage[],
  context: SegPatientStudy,
  masks: ReadonlyArray<{ sourceIndex: number; mask: BinaryMask }>,
  options: SegOptionsArg | null | undefined,
  model: string,
  pacs: PacsRegistry,
  defaultPacs?: string,
): Promise<DicomSegOut> {
  const o = options ?? {};
  const frames = masks.filter((m) => m.mask.data.some((v) => v !== 0));
  if (frames.length === 0)
    throw new ApiError('BAD_REQUEST', 'every mask is empty: a DICOM SEG needs at least one segmented frame');
  for (const f of frames) {
    const s = sources[f.sourceIndex];
    if (!s)
      throw new ApiError(
        'BAD_REQUEST',
        `mask source index ${f.sourceIndex} is outside 0..${sources.length - 1}`,
      );
    if (f.mask.width !== s.columns || f.mask.height !== s.rows) {
      throw new ApiError(
        'BAD_REQUEST',
        `mask for source ${f.sourceIndex} is ${f.mask.width}x${f.mask.height}, the image is ${s.columns}x${s.rows}`,
      );
    }
  }
  // The caller's texts go into LO elements: refused when they break LO's rules, never cut or mangled.
  for (const [what, value] of [
    ['label', o.label],
    ['seriesDescription', o.seriesDescription],
  ] as const) {
    const problem = value == null ? undefined : longStringProblem(value);
    if (problem !== undefined) throw new ApiError('BAD_REQUEST', `${what} ${problem}`);
  }
  const label = o.label ?? 'Segment 1';
  const codes = TYPES[o.type ?? 'TISSUE'];
  const storeTo = o.storeToPacs ? (o.pacs ?? defaultPacs) : undefined;
  if (o.storeToPacs && !storeTo)
    throw new ApiError('BAD_REQUEST', 'storeToPacs needs seg.pacs (the sources did not come from a PACS)');
  const client = storeTo ? pacs.client(storeTo) : undefined;
  const seg = imaging('DICOM SEG', () =>
    writeDicomSeg({
      sources,
      context,
      segments: [
        {
          label,
          algorithmType: 'SEMIAUTOMATIC',
          algorithmName: [...`medseg-gateway ${model}`].slice(0, LO_MAX_CHARS).join(''),
          category: codes.category,
          type: codes.type,
        },
      ],
      frames: frames.map((f) => ({ segmentNumber: 1, sourceIndex: f.sourceIndex, mask: f.mask })),
      // The derived default is cut at a character boundary, never inside a surrogate pair.
      seriesDescription: o.seriesDescription ?? [...`SAM ${label}`].slice(0, LO_MAX_CHARS).join(''),
      manufacturer: 'medseg-gateway',
      manufacturerModelName: [...model].slice(0, LO_MAX_CHARS).join(''),
    }),
  );
  let stored: DicomSegOut['stored'] = null;
  if (client && storeTo) {
    const result = await pacsCall(`STOW-RS to '${storeTo}'`, () =>
      client.store([seg.bytes], sources[0].studyInstanceUid),
    );
    const mine = result.stored.find((s) => s.sopInstanceUid === seg.sopInstanceUid);
    if (!mine) throw new ApiError('PACS_ERROR', `STOW-RS to '${storeTo}' did not report the SEG as stored`);
    stored = { pacs: storeTo, sopInstanceUID: seg.sopInstanceUid, retrieveUrl: mine.retrieveUrl ?? null };
  }
  return {
    base64: Buffer.from(seg.bytes).toString('base64'),
    sopInstanceUID: seg.sopInstanceUid,
    seriesInstanceUID: seg.seriesInstanceUid,
    studyInstanceUID: sources[0].studyInstanceUid,
    frames: frames.length,
    stored,
  };
}
