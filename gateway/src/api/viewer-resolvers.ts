/**
 * Resolvers the web app needs to present the API to a person: who is calling (`viewer`), the image as the
 * model sees it (`renderImage`), so browsers can display TIFF, DICOM and NIfTI inputs they cannot decode, the
 * decoder file and fp16 embedding for decoding in the browser, and PACS browsing by QIDO-RS.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GraphQLResolveInfo } from 'graphql';
import { dicomJsonString, type DicomJson, type QidoQuery } from '../imaging/dicomweb-client.ts';
import { toFp16Array } from '../protocol/tensor-codec.ts';
import { encodePng } from '../imaging/encode-png.ts';
import { toUint8 } from '../sam/session.ts';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';
import { readImageInput, type ImageInputArg } from './image-input.ts';
import { pacsCall } from './medical/pacs.ts';
import { requirementOf, satisfies } from '../security/roles.ts';

/** A model or repository folder name: no path separators, no dot files. */
const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The last decoder file read, by path, size and modification time: its bytes base64 and their digest. */
let decoderFile: { key: string; onnx: string; sha256: string } | undefined;

/** The newest numeric version folder of `dir` that holds a model.onnx, or undefined. */
async function newestVersion(dir: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  const versions = names.filter((n) => /^[0-9]{1,9}$/.test(n)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const s = await stat(join(dir, v, 'model.onnx')).catch(() => undefined);
    if (s?.isFile()) return v;
  }
  return undefined;
}

/** A QIDO filter value: one DICOM value (no backslash, no control characters), at most 64 characters. */
function qidoValue(name: string, v: string | null | undefined): string | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  // eslint-disable-next-line no-control-regex
  if (v.length > 64 || /[\\\x00-\x1f\x7f]/.test(v))
    throw new ApiError('BAD_REQUEST', `${name} must be one DICOM value of at most 64 characters`);
  return v;
}

function limitOf(v: number | null | undefined, max: number, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new ApiError('BAD_REQUEST', `limit must be an integer from 1 to ${max}, got ${n}`);
  return n;
}

function intOf(d: DicomJson, tag: string): number | null {
  const s = dicomJsonString(d, tag);
  const n = s === undefined ? NaN : Number(s);
  return Number.isFinite(n) ? Math.trunc(n) : null;
}

function strOf(d: DicomJson, tag: string): string | null {
  return dicomJsonString(d, tag) ?? null;
}

/** The UID of a QIDO answer, or an error naming the attribute the PACS left out. */
function uidOf(d: DicomJson, tag: string, what: string): string {
  const v = dicomJsonString(d, tag);
  if (!v) throw new ApiError('PACS_ERROR', `the PACS answered a ${what} without its UID (${tag})`);
  return v;
}

/** The resolver map of `viewer` and `renderImage` (merged into Query by resolvers.ts). */
export const viewerResolvers = {
  Query: {
    viewer: (_: unknown, __: unknown, ctx: ApiContext, info: GraphQLResolveInfo) => {
      const p = ctx.principal;
      // The auth plugin refuses anonymous operations before resolvers run; this guards a future bypass.
      if (!p) throw new ApiError('UNAUTHENTICATED', 'no credential');
      const roots = [
        info.schema.getQueryType(),
        info.schema.getMutationType(),
        info.schema.getSubscriptionType(),
      ];
      const allowedFields = roots
        .flatMap((t) => (t ? Object.keys(t.getFields()) : []))
        .filter((f) => satisfies(p.roles, requirementOf(f)))
        .sort();
      return { kind: p.kind, id: p.id, roles: [...p.roles], allowedFields };
    },
    renderImage: async (_: unknown, args: { image: ImageInputArg }, ctx: ApiContext) => {
      const { config, medical } = ctx.services;
      const raster = await readImageInput(args.image, {
        maxBytes: config.maxBodyBytes,
        maxPixels: config.maxPixels,
        dataRoots: config.dataRoots,
        pacs: medical.pacs,
      });
      // The same 8-bit conversion the encoder applies, so the picture is exactly what was segmented.
      const png = Buffer.from(encodePng(toUint8(raster))).toString('base64');
      return { png, width: raster.width, height: raster.height, spacing: raster.spacing ?? null };
    },
    browserDecoder: async (_: unknown, args: { model: string }, ctx: ApiContext) => {
      const m = await ctx.loaders.model.load(args.model);
      const p = m.profile;
      // The browser maps prompts by SAM's longest-side rule and feeds one embedding tensor; anything else
      // stays on the gateway.
      if (p.name !== 'sam' || p.resize !== 'longest_side' || m.embeddingTensors.length !== 1) return null;
      if (m.embeddingTensors[0].input !== 'image_embeddings' || !MODEL_NAME.test(m.decoder)) return null;
      const dir = join(ctx.services.config.modelRepository, m.decoder);
      const version = await newestVersion(dir);
      if (version === undefined) return null;
      const path = join(dir, version, 'model.onnx');
      const s = await stat(path);
      const key = `${path}\0${s.size}\0${s.mtimeMs}`;
      if (decoderFile?.key !== key) {
        const bytes = await readFile(path);
        decoderFile = {
          key,
          onnx: bytes.toString('base64'),
          sha256: createHash('sha256').update(bytes).digest('hex'),
        };
      }
      return {
        model: m.name,
        decoder: m.decoder,
        decoderVersion: version,
        sha256: decoderFile.sha256,
        onnx: decoderFile.onnx,
        inputSize: p.inputSize,
        maskInputSize: p.maskInputSize,
        batchDimension: m.decoderMaxBatch > 0,
      };
    },
    embeddingTensor: async (_: unknown, args: { id: string }, ctx: ApiContext) => {
      await ctx.services.handles?.ensureEmbedding(args.id);
      const cached = ctx.services.cache.get(args.id);
      if (!cached || cached.tensors.length !== 1) return null;
      const t = cached.tensors[0];
      const meta = cached.meta.tensors[0];
      const half = toFp16Array(t.data);
      return {
        id: cached.meta.id,
        model: cached.meta.model,
        width: cached.meta.width,
        height: cached.meta.height,
        name: meta.name,
        shape: [1, ...meta.shape],
        // Little-endian: the byte order of every platform Node runs the gateway on (x64, arm64).
        fp16: Buffer.from(half.buffer, half.byteOffset, half.byteLength).toString('base64'),
      };
    },
    pacsStudies: async (
      _: unknown,
      args: {
        pacs: string;
        filter?: Record<string, string | null | undefined> | null;
        limit?: number | null;
      },
      ctx: ApiContext,
    ) => {
      const client = ctx.services.medical.pacs.client(args.pacs);
      const f = args.filter ?? {};
      const query: QidoQuery = { limit: limitOf(args.limit, 500, 50) };
      const keys: Array<[string, string]> = [
        ['patientName', 'PatientName'],
        ['patientId', 'PatientID'],
        ['studyDate', 'StudyDate'],
        ['modality', 'ModalitiesInStudy'],
        ['accessionNumber', 'AccessionNumber'],
      ];
      for (const [arg, attr] of keys) {
        const v = qidoValue(arg, f[arg]);
        if (v !== undefined) query[attr] = v;
      }
      query.includefield = [
        'StudyDescription',
        'ModalitiesInStudy',
        'NumberOfStudyRelatedSeries',
        'NumberOfStudyRelatedInstances',
      ];
      const found = await pacsCall('QIDO-RS studies', () => client.searchStudies(query));
      return found
        .map((d) => ({
          studyUID: uidOf(d, '0020000D', 'study'),
          patientName: strOf(d, '00100010'),
          patientId: strOf(d, '00100020'),
          studyDate: strOf(d, '00080020'),
          description: strOf(d, '00081030'),
          modalities: (d['00080061']?.Value ?? []).map(String),
          seriesCount: intOf(d, '00201206'),
          instanceCount: intOf(d, '00201208'),
        }))
        .sort((a, b) => (b.studyDate ?? '').localeCompare(a.studyDate ?? ''));
    },
    pacsSeries: async (_: unknown, args: { pacs: string; studyUID: string }, ctx: ApiContext) => {
      const client = ctx.services.medical.pacs.client(args.pacs);
      const found = await pacsCall('QIDO-RS series', () =>
        client.searchSeries(args.studyUID, {
          includefield: ['SeriesDescription', 'NumberOfSeriesRelatedInstances'],
        }),
      );
      return found
        .map((d) => ({
          studyUID: args.studyUID,
          seriesUID: uidOf(d, '0020000E', 'series'),
          modality: strOf(d, '00080060'),
          description: strOf(d, '0008103E'),
          seriesNumber: intOf(d, '00200011'),
          instanceCount: intOf(d, '00201209'),
        }))
        .sort((a, b) => (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0));
    },
    pacsInstances: async (
      _: unknown,
      args: { pacs: string; studyUID: string; seriesUID: string; limit?: number | null },
      ctx: ApiContext,
    ) => {
      const client = ctx.services.medical.pacs.client(args.pacs);
      const limit = limitOf(args.limit, 5000, 500);
      const found = await pacsCall('QIDO-RS instances', () =>
        client.searchInstances(args.studyUID, args.seriesUID, {
          limit,
          includefield: ['InstanceNumber', 'Rows', 'Columns'],
        }),
      );
      return found
        .map((d) => ({
          studyUID: args.studyUID,
          seriesUID: args.seriesUID,
          instanceUID: uidOf(d, '00080018', 'instance'),
          instanceNumber: intOf(d, '00200013'),
          rows: intOf(d, '00280010'),
          columns: intOf(d, '00280011'),
        }))
        .sort((a, b) => (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0));
    },
  },
};
