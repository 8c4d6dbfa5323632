/**
 * The SAM session: turns images and prompts into masks through any KServe v2 backend (Triton or the embedded
 * server). It resolves a model name to its encoder, decoder and profile, preprocesses images as the profile
 * says, caches embeddings (content-addressed, single flight), maps prompts into the model frame exactly as
 * SAM's predictor does, batches decoder calls across concurrent requests, and post-processes the outputs.
 */
import { createHash } from 'node:crypto';
import {
  EVERYTHING_DEFAULTS,
  filterEverythingMasks,
  gridPoints,
  stabilityScore,
} from '../core/everything.ts';
import { maskArea, type BinaryMask } from '../core/mask.ts';
import { postprocessToMask } from '../core/sam-postprocess.ts';
import type { Raster } from '../core/raster.ts';
import {
  longestSideSize,
  mapPointStretched,
  mapPointToModel,
  preprocessMedSam,
  preprocessSam,
} from '../core/sam-transform.ts';
import type {
  DecodeOptions,
  EmbeddingHandle,
  LowResLogits,
  MaskCandidate,
  PromptSet,
  Segmenter,
} from '../core/segmenter.ts';
import { DecodeBatcher, type DecoderOutput } from './decode-batcher.ts';
import type { EmbeddingCache } from './embedding-cache.ts';
import type { ModelConfig } from './model-config.ts';
import { ProfileError, profileFromConfig, validateProfile, type SamModel } from './model-profile.ts';
import type { InferRequest, InferResponse, ModelMetadata, RepositoryModel } from './types.ts';

/** What the session needs from an inference backend (the KServe client satisfies it). */
export interface SamBackend {
  repositoryIndex(): Promise<RepositoryModel[]>;
  modelReady(name: string, version?: string): Promise<boolean>;
  modelConfig(name: string, version?: string): Promise<ModelConfig>;
  modelMetadata(name: string, version?: string): Promise<ModelMetadata>;
  infer(request: InferRequest, options?: { deadlineMs?: number }): Promise<InferResponse>;
}

/** A failure the API maps to a public error code (`code`). */
export class SessionError extends Error {
  constructor(
    readonly code: 'MODEL_NOT_FOUND' | 'MODEL_NOT_READY' | 'EMBEDDING_NOT_FOUND' | 'BAD_PROMPT' | 'INTERNAL',
    message: string,
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

/** A model as listed to clients. */
export interface ModelListing {
  name: string;
  version: string;
  ready: boolean;
  reason: string;
  platform: string;
  encoder: string;
  decoder: string;
  model: SamModel | undefined;
}

/** An embedding handle with its expiry. */
export interface EmbeddingInfo extends EmbeddingHandle {
  expiresAtMs: number;
}

/** Options of the everything mode; defaults are SAM's automatic mask generator's. */
export interface EverythingOptions {
  pointsPerSide?: number;
  pointsPerBatch?: number;
  predIouThresh?: number;
  stabilityScoreThresh?: number;
  stabilityScoreOffset?: number;
  boxNmsThresh?: number;
  minMaskRegionArea?: number;
}

/** Options of the session. */
export interface SamSessionOptions {
  cache: EmbeddingCache;
  /** Decoder coalescing window in milliseconds. */
  batchWindowMs: number;
  /** Deadline of one backend call in milliseconds. */
  deadlineMs: number;
  /** Receives timings and failures of backend calls (metrics). */
  observer?: SessionObserver;
  /** Prompt sets per decoder call for decoders that batch prompts inside the model (default 64). */
  maxPromptBatch?: number;
}

/** Hooks for metrics: durations in seconds, error codes as the inference layer's table names them. */
export interface SessionObserver {
  encoder(model: string, seconds: number): void;
  decoder(model: string, seconds: number, batchSize: number): void;
  backendError(code: string): void;
}

function errorCodeOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : 'INTERNAL';
}

/** Counters for tests, benchmarks and metrics. */
export interface SessionStats {
  encoderCalls: number;
  decoderRequests: number;
  decoderCalls: number;
}

function samParams(config: ModelConfig): { encoder?: string; decoder?: string; profile?: string } {
  const p = config.parameters ?? {};
  return {
    encoder: p['sam.encoder']?.stringValue,
    decoder: p['sam.decoder']?.stringValue,
    profile: p['sam.profile']?.stringValue,
  };
}

/** Scales any raster to 8-bit (0-255) as SAM expects: 8-bit passes through, others are min-max scaled. */
export function toUint8(raster: Raster): Raster {
  if (raster.data instanceof Uint8Array) return raster;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of raster.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = hi > lo ? hi - lo : 1;
  const out = new Uint8Array(raster.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(((raster.data[i] - lo) / range) * 255);
  return { ...raster, data: out };
}

/** The SAM session over one backend. */
export class SamSession implements Segmenter {
  private readonly models = new Map<string, Promise<SamModel>>();
  private readonly resolvedModels = new Map<string, SamModel>();
  private readonly inflight = new Map<string, Promise<EmbeddingInfo>>();
  private readonly batchers = new Map<string, DecodeBatcher>();
  private encoderCalls = 0;

  constructor(
    private readonly backend: SamBackend,
    private readonly options: SamSessionOptions,
  ) {}

  /**
   * Every SAM model the backend serves: ensembles and encoders that declare `sam.*` parameters (an encoder
   * that an ensemble presents is listed under the ensemble only), plus models the backend could not load,
   * whose configuration it cannot show, listed as not ready with the backend's reason.
   */
  async listModels(): Promise<ModelListing[]> {
    const index = await this.backend.repositoryIndex();
    const names = [...new Set(index.map((m) => m.name))].sort();
    const rows: Array<ModelListing & { params: ReturnType<typeof samParams> }> = [];
    for (const name of names) {
      const row =
        index.find((m) => m.name === name && m.state === 'READY') ?? index.find((m) => m.name === name)!;
      let config: ModelConfig | undefined;
      try {
        config = await this.backend.modelConfig(name);
      } catch {
        config = undefined;
      }
      const params = config ? samParams(config) : {};
      if (config && params.profile === undefined && params.encoder === undefined) continue;
      let model: SamModel | undefined;
      let ready = row.state === 'READY';
      let reason = row.reason;
      if (ready) {
        try {
          model = await this.resolve(name);
        } catch (err: unknown) {
          ready = false;
          reason = err instanceof Error ? err.message : String(err);
        }
      }
      rows.push({
        name,
        version: row.version,
        ready,
        reason,
        platform: config?.platform || config?.backend || '',
        encoder: model?.encoder ?? params.encoder ?? (params.profile ? name : ''),
        decoder: model?.decoder ?? params.decoder ?? '',
        model,
        params,
      });
    }
    const presented = new Set(
      rows.filter((r) => r.params.encoder).flatMap((r) => [r.params.encoder, r.params.decoder]),
    );
    return rows.filter((r) => !presented.has(r.name)).map(({ params: _params, ...listing }) => listing);
  }

  /** Resolves a model name to encoder, decoder and validated profile (cached; failures are not cached). */
  resolve(name: string): Promise<SamModel> {
    let found = this.models.get(name);
    if (!found) {
      found = this.load(name);
      this.models.set(name, found);
      found.then(
        (model) => this.resolvedModels.set(name, model),
        () => this.models.delete(name),
      );
    }
    return found;
  }

  /** A model {@link resolve} has already resolved, or undefined (no backend call). */
  resolved(name: string): SamModel | undefined {
    return this.resolvedModels.get(name);
  }

  private async load(name: string): Promise<SamModel> {
    const config = await this.backend.modelConfig(name);
    const params = samParams(config);
    let encoderName: string;
    let decoderName: string;
    if (params.encoder && params.decoder) {
      encoderName = params.encoder;
      decoderName = params.decoder;
    } else if (params.profile && params.decoder) {
      encoderName = name;
      decoderName = params.decoder;
    } else {
      throw new SessionError(
        'MODEL_NOT_FOUND',
        `model '${name}' is not a SAM model: its config declares no sam.* parameters`,
      );
    }
    const encoderConfig = encoderName === name ? config : await this.backend.modelConfig(encoderName);
    const [decoderConfig, encoderMeta, decoderMeta] = await Promise.all([
      this.backend.modelConfig(decoderName),
      this.backend.modelMetadata(encoderName),
      this.backend.modelMetadata(decoderName),
    ]);
    const profile = profileFromConfig(encoderConfig);
    const problems = validateProfile(profile, encoderMeta, decoderMeta);
    const image = encoderMeta.inputs.find((t) => t.name === profile.imageInput);
    const coords = decoderMeta.inputs.find((t) => t.name === 'point_coords');
    if (problems.length > 0)
      throw new ProfileError(`model '${name}' does not match its profile: ${problems.join('; ')}`);
    return {
      name,
      platform: config.platform || config.backend,
      encoder: encoderName,
      decoder: decoderName,
      encoderVersion: encoderMeta.versions[encoderMeta.versions.length - 1] ?? '1',
      profile,
      decoderMaxBatch: decoderConfig.maxBatchSize,
      decoderInputs: decoderMeta.inputs.map((t) => t.name),
      imageInputRank: image?.shape.length ?? 4,
      imageInputDatatype: image?.datatype === 'UINT8' ? 'UINT8' : 'FP32',
      // A decoder without Triton batching whose point_coords leads with a free dimension batches prompt sets
      // itself (see triton-models/mobilesam_decoder).
      decoderPromptBatch:
        decoderConfig.maxBatchSize === 0 &&
        coords !== undefined &&
        coords.shape.length === 3 &&
        coords.shape[0] === -1
          ? (this.options.maxPromptBatch ?? 64)
          : 1,
    };
  }

  /** Computes the content-addressed embedding id of an image for a model. */
  embeddingId(image: Raster, model: SamModel): string {
    const h = createHash('sha256');
    // The model's own name too: decode() uses the embedding's model, and models that share an encoder (a
    // fine-tuned decoder beside its base) must each decode with their own decoder.
    h.update(JSON.stringify({ n: model.name, m: model.encoder, v: model.encoderVersion, p: model.profile }));
    h.update(`${image.width}x${image.height}x${image.channels}:${image.data.constructor.name}`);
    h.update(new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength));
    return h.digest('base64url').slice(0, 32);
  }

  /** Computes or finds the embedding of an image; identical concurrent requests run the encoder once. */
  async encode(image: Raster, modelName: string): Promise<EmbeddingInfo> {
    const model = await this.resolve(modelName);
    const id = this.embeddingId(image, model);
    const hit = this.options.cache.lookup(id);
    if (hit) return { ...this.handle(hit.meta), cached: true, expiresAtMs: hit.expiresAtMs };
    const running = this.inflight.get(id);
    if (running) return running;
    const job = this.runEncoder(id, image, model).finally(() => this.inflight.delete(id));
    this.inflight.set(id, job);
    return job;
  }

  private handle(meta: {
    id: string;
    model: string;
    modelVersion: string;
    width: number;
    height: number;
  }): EmbeddingHandle {
    return {
      id: meta.id,
      model: meta.model,
      modelVersion: meta.modelVersion,
      width: meta.width,
      height: meta.height,
      cached: false,
    };
  }

  private async runEncoder(id: string, image: Raster, model: SamModel): Promise<EmbeddingInfo> {
    const { profile } = model;
    let data: Float32Array | Uint8Array;
    let shape: number[];
    switch (profile.resize) {
      case 'inside': {
        // Preprocessing happens in the graph: raw RGB 0-255 as [H, W, 3], the bytes themselves when the model
        // takes UINT8 (a quarter of the FP32 size and no float conversion here).
        const rgb = toUint8(image);
        data =
          model.imageInputDatatype === 'UINT8'
            ? new Uint8Array(image.width * image.height * 3)
            : new Float32Array(image.width * image.height * 3);
        for (let i = 0; i < image.width * image.height; i++) {
          for (let c = 0; c < 3; c++)
            data[i * 3 + c] = rgb.data[i * rgb.channels + (rgb.channels === 3 ? c : 0)];
        }
        shape =
          model.imageInputRank === 4 ? [1, image.height, image.width, 3] : [image.height, image.width, 3];
        break;
      }
      case 'longest_side':
      case 'stretch': {
        const input =
          profile.normalize === 'minmax01' || profile.resize === 'stretch'
            ? preprocessMedSam(toUint8(image), profile.inputSize)
            : preprocessSam(toUint8(image), profile.inputSize, {
                mean: profile.pixelMean,
                std: profile.pixelStd,
              });
        data = input.data;
        // A batch dimension (Triton's max_batch_size > 0, or the official export's fixed leading 1) gets a batch
        // of one; an encoder declared as [3, S, S] takes the image alone.
        shape = model.imageInputRank === 3 ? [...input.dims] : [1, ...input.dims];
        break;
      }
      default: {
        const never: never = profile.resize;
        throw new SessionError('INTERNAL', `unknown resize ${String(never)}`);
      }
    }
    this.encoderCalls += 1;
    const started = performance.now();
    let response: InferResponse;
    try {
      response = await this.backend.infer(
        {
          modelName: model.encoder,
          inputs: [{ name: profile.imageInput, datatype: model.imageInputDatatype, shape, data }],
          outputs: ['image_embeddings'],
        },
        { deadlineMs: this.options.deadlineMs },
      );
    } catch (err: unknown) {
      this.options.observer?.backendError(errorCodeOf(err));
      throw err;
    }
    this.options.observer?.encoder(model.encoder, (performance.now() - started) / 1000);
    const out = response.outputs.find((t) => t.name === 'image_embeddings') ?? response.outputs[0];
    if (!out || !(out.data instanceof Float32Array)) {
      throw new SessionError('INTERNAL', `encoder ${model.encoder} returned no FP32 image_embeddings`);
    }
    const meta = {
      id,
      model: model.name,
      modelVersion: response.modelVersion || model.encoderVersion,
      width: image.width,
      height: image.height,
      shape: profile.embeddingShape,
    };
    const expiresAtMs = this.options.cache.set(meta, out.data);
    return { ...this.handle(meta), cached: false, expiresAtMs };
  }

  /** The handle of a cached embedding, or undefined when unknown or expired. */
  embedding(id: string): EmbeddingInfo | undefined {
    const hit = this.options.cache.peek(id);
    return hit ? { ...this.handle(hit.meta), cached: true, expiresAtMs: hit.expiresAtMs } : undefined;
  }

  private batcher(model: SamModel): DecodeBatcher {
    let b = this.batchers.get(model.decoder);
    if (!b) {
      b = new DecodeBatcher({
        model: model.decoder,
        maxBatch: model.decoderMaxBatch,
        maxPromptBatch: model.decoderPromptBatch,
        windowMs: this.options.batchWindowMs,
        infer: (req) => this.backend.infer(req, { deadlineMs: this.options.deadlineMs }),
        onCall: (seconds, batchSize, error) => {
          if (error !== undefined) this.options.observer?.backendError(errorCodeOf(error));
          else this.options.observer?.decoder(model.decoder, seconds, batchSize);
        },
      });
      this.batchers.set(model.decoder, b);
    }
    return b;
  }

  /** Maps a point from original pixels to the model frame as the profile's preprocessing does. */
  private toModelFrame(model: SamModel, x: number, y: number, h: number, w: number): [number, number] {
    return model.profile.resize === 'stretch'
      ? mapPointStretched(x, y, h, w, model.profile.inputSize)
      : mapPointToModel(x, y, h, w, model.profile.inputSize);
  }

  /** Decodes prompt sets against a cached embedding: one candidate list per prompt set. */
  async decode(
    embeddingId: string,
    prompts: PromptSet[],
    options: DecodeOptions,
  ): Promise<MaskCandidate[][]> {
    const cached = this.options.cache.get(embeddingId);
    if (!cached)
      throw new SessionError(
        'EMBEDDING_NOT_FOUND',
        `embedding '${embeddingId}' is unknown or expired; encode the image again`,
      );
    const model = await this.resolve(cached.meta.model);
    const { width: w, height: h } = cached.meta;
    const threshold = options.maskThreshold ?? 0;
    const batcher = this.batcher(model);
    return Promise.all(
      prompts.map(async (prompt) => {
        const pts: Array<[number, number, number]> = prompt.points.map((p) => [
          ...this.toModelFrame(model, p.x, p.y, h, w),
          p.label,
        ]);
        if (prompt.box) {
          const [x0, y0, x1, y1] = prompt.box;
          pts.push(
            [...this.toModelFrame(model, x0, y0, h, w), 2],
            [...this.toModelFrame(model, x1, y1, h, w), 3],
          );
        } else {
          // SAM's ONNX export expects a padding point when no box is given.
          pts.push([0, 0, -1]);
        }
        if (prompt.points.length === 0 && !prompt.box && !prompt.maskInput) {
          throw new SessionError(
            'BAD_PROMPT',
            'a prompt set needs at least one point, a box or a previous mask',
          );
        }
        if (prompt.maskInput && prompt.maskInput.size !== model.profile.maskInputSize) {
          throw new SessionError(
            'BAD_PROMPT',
            `previous mask is ${prompt.maskInput.size}x${prompt.maskInput.size}, model ${model.name} expects ${model.profile.maskInputSize}x${model.profile.maskInputSize}`,
          );
        }
        const out = await batcher.decode({
          embeddingKey: embeddingId,
          embedding: cached.data,
          embeddingShape: model.profile.embeddingShape,
          coords: Float32Array.from(pts.flatMap((p) => [p[0], p[1]])),
          labels: Float32Array.from(pts.map((p) => p[2])),
          maskInput: prompt.maskInput?.data,
          maskInputSize: model.profile.maskInputSize,
          origSize: [h, w],
        });
        return this.candidates(model, out, w, h, threshold, options);
      }),
    );
  }

  /** Which decoder outputs a caller sees: SAM's 3 multimask outputs, or its single-mask output 0. */
  private candidates(
    model: SamModel,
    out: DecoderOutput,
    w: number,
    h: number,
    threshold: number,
    options: DecodeOptions,
  ): MaskCandidate[] {
    let indices =
      out.candidates === 1
        ? [0]
        : options.multimask
          ? out.candidates === 4
            ? [1, 2, 3]
            : [...Array(out.candidates).keys()]
          : [0];
    // Thresholding, stability and copies cost a pass over H x W each: only pay for what the caller keeps.
    const offset = options.stabilityOffset ?? 1.0;
    if (options.select === 'best')
      indices = [indices.reduce((best, i) => (out.iou[i] > out.iou[best] ? i : best))];
    const plane = w * h;
    const lowPlane = out.lowResSize * out.lowResSize;
    return indices.map((index) => {
      const low = out.lowRes.subarray(index * lowPlane, (index + 1) * lowPlane);
      let mask: BinaryMask;
      let stability: number;
      if (out.masks) {
        const logits = out.masks.subarray(index * plane, (index + 1) * plane);
        mask = { width: w, height: h, data: new Uint8Array(plane) };
        for (let i = 0; i < plane; i++) mask.data[i] = logits[i] > threshold ? 1 : 0;
        stability = stabilityScore(logits, threshold, offset);
      } else {
        // SAM's postprocess_masks on the kept candidate, thresholded and scored in the same pass.
        const post = postprocessToMask(low, out.lowResSize, h, w, {
          inputSize: model.profile.inputSize,
          resize: model.profile.resize === 'stretch' ? 'stretch' : 'longest_side',
          threshold,
          stabilityOffset: offset,
        });
        mask = { width: w, height: h, data: post.mask };
        stability = post.stabilityScore;
      }
      return {
        mask,
        predictedIou: out.iou[index],
        stabilityScore: stability,
        lowRes: { size: out.lowResSize, data: Float32Array.from(low) },
        index,
      };
    });
  }

  /**
   * SAM's automatic mask generator on a cached embedding: prompts a regular grid one point at a time
   * (multimask), keeps masks above the predicted-IoU and stability thresholds, then box NMS.
   */
  async everything(
    embeddingId: string,
    options: EverythingOptions = {},
  ): Promise<{ masks: MaskCandidate[]; pointsEvaluated: number; candidatesConsidered: number }> {
    // Absent and undefined options alike fall back to SAM's defaults.
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const o = { ...EVERYTHING_DEFAULTS, minMaskRegionArea: 0, ...given };
    const meta = this.options.cache.peek(embeddingId);
    if (!meta)
      throw new SessionError('EMBEDDING_NOT_FOUND', `embedding '${embeddingId}' is unknown or expired`);
    const grid = gridPoints(o.pointsPerSide, meta.meta.width, meta.meta.height);
    const survivors: MaskCandidate[] = [];
    let considered = 0;
    for (let i = 0; i < grid.length; i += o.pointsPerBatch) {
      const batch = grid.slice(i, i + o.pointsPerBatch);
      const results = await this.decode(
        embeddingId,
        batch.map(([x, y]) => ({ points: [{ x, y, label: 1 as const }] })),
        { multimask: true, stabilityOffset: o.stabilityScoreOffset },
      );
      for (const list of results) {
        for (const c of list) {
          considered += 1;
          // Filter per batch as SAM does, so memory holds only survivors.
          if (c.predictedIou > o.predIouThresh && c.stabilityScore >= o.stabilityScoreThresh)
            survivors.push(c);
        }
      }
    }
    const kept = filterEverythingMasks(survivors, {
      predIouThresh: o.predIouThresh,
      stabilityScoreThresh: o.stabilityScoreThresh,
      boxNmsThresh: o.boxNmsThresh,
    }).filter((c) => maskArea(c.mask) >= o.minMaskRegionArea);
    return { masks: kept, pointsEvaluated: grid.length, candidatesConsidered: considered };
  }

  /** Counters: encoder calls, decoder prompt sets and decoder ModelInfer calls. */
  stats(): SessionStats {
    let requests = 0;
    let calls = 0;
    for (const b of this.batchers.values()) {
      requests += b.stats.requests;
      calls += b.stats.calls;
    }
    return { encoderCalls: this.encoderCalls, decoderRequests: requests, decoderCalls: calls };
  }
}

/** Builds the low-res prior (SAM's mask_input) from a full-size binary mask, as logits of ±`magnitude`. */
export function maskToLowRes(mask: BinaryMask, model: SamModel, magnitude = 8): LowResLogits {
  const s = model.profile.maskInputSize;
  const frame = model.profile.inputSize;
  const [newH, newW] =
    model.profile.resize === 'stretch' ? [frame, frame] : longestSideSize(mask.height, mask.width, frame);
  const data = new Float32Array(s * s).fill(-magnitude);
  // Each low-res cell covers frame/s model pixels; sample the mask at the cell centre.
  const cell = frame / s;
  for (let y = 0; y < s; y++) {
    const my = (y + 0.5) * cell;
    if (my >= newH) break;
    const oy = Math.min(mask.height - 1, Math.floor((my * mask.height) / newH));
    for (let x = 0; x < s; x++) {
      const mx = (x + 0.5) * cell;
      if (mx >= newW) break;
      const ox = Math.min(mask.width - 1, Math.floor((mx * mask.width) / newW));
      if (mask.data[oy * mask.width + ox]) data[y * s + x] = magnitude;
    }
  }
  return { size: s, data };
}
