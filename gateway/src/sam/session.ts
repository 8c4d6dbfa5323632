/**
 * The SAM session: turns images and prompts into masks through any KServe v2 backend (Triton or the embedded
 * server). It resolves a model name to its encoder, decoder and profile, preprocesses images as the profile
 * says, caches embeddings (content-addressed, single flight), maps prompts into the model frame exactly as
 * SAM's predictor does, batches decoder calls across concurrent requests, and post-processes the outputs.
 */
import { createHash } from 'node:crypto';
import { EVERYTHING_DEFAULTS, everythingOnGrid, stabilityScore } from '../core/everything.ts';
import { maskArea, type BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
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
import type { ModelConfig } from '../protocol/model-config.ts';
import { ProfileError, profileFromConfig, type SamModel } from './contract.ts';
import { listServableModels } from './model-listing.ts';
import type { SamProfile } from './profile.ts';
import { profileOf } from './profiles/index.ts';
import { validateProfile } from './validate.ts';
import type { InferenceBackend, InferResponse } from '../protocol/types.ts';

/** What the session needs from an inference backend (the KServe client and its guard satisfy it). */
export type SamBackend = InferenceBackend;

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
  /** Stops the run before its next decoder batch (client gone, deadline passed); throws the signal's reason. */
  signal?: AbortSignal;
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
  /** Prompt sets per decoder call for decoders that batch prompts inside the model (default 16: most of the
   * throughput gain, while one call stays short enough for a backend deadline on a busy CPU). */
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

export { toUint8 } from './raster-input.ts';

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
   * Every model a client can name (an ensemble, or an encoder that declares its decoder), never a component,
   * each with its readiness and why it is not ready (model-listing.ts); models the index reports as not
   * ready cost no further backend call, so no retries.
   */
  async listModels(): Promise<ModelListing[]> {
    return listServableModels(await this.backend.repositoryIndex(), {
      config: async (name) => {
        const config = await this.backend.modelConfig(name);
        return { platform: config.platform || config.backend || '', params: samParams(config) };
      },
      resolve: (name) => this.resolve(name),
    });
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
    const embeddingTensors = profileOf(profile.name).embeddingTensors(encoderMeta, decoderMeta);
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
      embeddingTensors,
      // A decoder without Triton batching whose point_coords leads with a free dimension batches prompt sets
      // itself (see triton-models/mobilesam_decoder).
      decoderPromptBatch:
        decoderConfig.maxBatchSize === 0 &&
        coords !== undefined &&
        coords.shape.length === 3 &&
        coords.shape[0] === -1
          ? (this.options.maxPromptBatch ?? 16)
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

  /**
   * Computes or finds the embedding of an image; identical concurrent requests run the encoder once. The model
   * is a name, or one the caller has already resolved (a request's loader).
   */
  async encode(image: Raster, modelOrName: string | SamModel): Promise<EmbeddingInfo> {
    const model = typeof modelOrName === 'string' ? await this.resolve(modelOrName) : modelOrName;
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
    const family = this.family(model);
    const inputs = family.encoderInputs(image, model);
    this.encoderCalls += 1;
    const started = performance.now();
    let response: InferResponse;
    try {
      response = await this.backend.infer(
        { modelName: model.encoder, inputs, outputs: model.embeddingTensors.map((e) => e.output) },
        { deadlineMs: this.options.deadlineMs },
      );
    } catch (err: unknown) {
      this.options.observer?.backendError(errorCodeOf(err));
      throw err;
    }
    this.options.observer?.encoder(model.encoder, (performance.now() - started) / 1000);
    const tensors = model.embeddingTensors.map((e) => {
      const out = response.outputs.find((t) => t.name === e.output);
      if (!out || !(out.data instanceof Float32Array)) {
        throw new SessionError('INTERNAL', `encoder ${model.encoder} returned no FP32 '${e.output}'`);
      }
      // Shapes are kept without the batch dimension of one the encoder adds.
      const shape = out.shape.length > 3 && out.shape[0] === 1 ? out.shape.slice(1) : out.shape;
      return { name: e.input, shape, data: out.data };
    });
    const meta = {
      id,
      model: model.name,
      modelVersion: response.modelVersion || model.encoderVersion,
      width: image.width,
      height: image.height,
      tensors: tensors.map((t) => ({ name: t.name, shape: t.shape })),
    };
    const expiresAtMs = this.options.cache.set(
      meta,
      tensors.map((t) => t.data),
    );
    return { ...this.handle(meta), cached: false, expiresAtMs };
  }

  private family(model: SamModel): SamProfile {
    return profileOf(model.profile.name);
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
    return this.family(model).toModelFrame(x, y, h, w, model.profile);
  }

  /**
   * Decodes prompt sets against a cached embedding: one candidate list per prompt set. `resolved` is the
   * embedding's model when the caller has already resolved it (a request's loader); otherwise it is resolved.
   */
  async decode(
    embeddingId: string,
    prompts: PromptSet[],
    options: DecodeOptions,
    resolved?: SamModel,
  ): Promise<MaskCandidate[][]> {
    const cached = this.options.cache.get(embeddingId);
    if (!cached)
      throw new SessionError(
        'EMBEDDING_NOT_FOUND',
        `embedding '${embeddingId}' is unknown or expired; encode the image again`,
      );
    const model = resolved?.name === cached.meta.model ? resolved : await this.resolve(cached.meta.model);
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
          embeddings: cached.tensors,
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
        // The family's postprocess_masks on the kept candidate, thresholded and scored in the same pass.
        const post = this.family(model).postprocess(low, out.lowResSize, h, w, model.profile, {
          threshold,
          stabilityOffset: offset,
        });
        mask = post.mask;
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
   * SAM's automatic mask generator on a cached embedding (core/everything's `everythingOnGrid`, the one
   * implementation the benchmark's S1 uses too), then drops masks under `minMaskRegionArea` pixels.
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
    const grid = await everythingOnGrid(
      (points) =>
        this.decode(
          embeddingId,
          points.map(([x, y]) => ({ points: [{ x, y, label: 1 as const }] })),
          { multimask: true, stabilityOffset: o.stabilityScoreOffset },
        ),
      meta.meta.width,
      meta.meta.height,
      o,
    );
    const kept = grid.kept.map((k) => k.candidate).filter((c) => maskArea(c.mask) >= o.minMaskRegionArea);
    return {
      masks: kept,
      pointsEvaluated: grid.pointsEvaluated,
      candidatesConsidered: grid.candidatesConsidered,
    };
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
  return profileOf(model.profile.name).lowResPrior(mask, model.profile, magnitude);
}
