/**
 * Coalesces decoder requests from concurrent callers into batched ModelInfer calls. Requests that share the
 * original image size are stacked along the batch dimension (points padded with SAM's label -1) up to the
 * decoder's max_batch_size. Batches form naturally: while the backend has a free slot (fewer than
 * `maxInflight` calls running) a request goes out on the next turn of the event loop (or after `windowMs`),
 * so an idle gateway adds no waiting; while every slot is busy, requests queue and leave together as soon as
 * a call completes. Decoders without a batch dimension (max_batch_size 0, the official export) get one call
 * per request, issued concurrently (pipelined), unless they batch prompts inside the model: then prompt sets
 * on the same embedding with the same point count and prior kind leave together in one call that carries the
 * embedding once (`point_coords [B,N,2]`, `image_embeddings [1,C,H,W]`).
 */
import type { InferRequest, Tensor } from '../protocol/types.ts';
import type { EmbeddingTensor } from './profile.ts';

/** One prompt set, ready for the decoder (coordinates already in the model frame). */
export interface DecoderItem {
  /** Identity of the embedding (its cache id): prompt sets batched inside the model must share it. */
  embeddingKey: string;
  /** The embedding's tensors, each named by the decoder input it feeds (shapes without the batch). */
  embeddings: EmbeddingTensor[];
  /** x, y pairs in the model's input frame. */
  coords: Float32Array;
  /** SAM labels: 1, 0, 2, 3, or -1 for padding. */
  labels: Float32Array;
  /** Low-res logits fed back (maskInputSize²), or undefined. */
  maskInput: Float32Array | undefined;
  maskInputSize: number;
  /** [height, width] of the original image. */
  origSize: [number, number];
}

/** The decoder's raw outputs for one item. */
export interface DecoderOutput {
  /** Candidates C. */
  candidates: number;
  /** [C, H, W] logits at the original size; absent when only low-res outputs were requested. */
  masks: Float32Array | undefined;
  /** [C] predicted IoU. */
  iou: Float32Array;
  /** [C, S, S] low-res logits. */
  lowRes: Float32Array;
  lowResSize: number;
}

/** The inference call the batcher makes (a KServe client's `infer`). */
export type InferFn = (request: InferRequest) => Promise<{ outputs: Tensor[] }>;

/** Options of one decoder model's batcher. */
export interface DecodeBatcherOptions {
  model: string;
  /** The decoder's max_batch_size (0: no batch dimension). */
  maxBatch: number;
  /**
   * Prompt sets per call when the model batches prompts inside (leading dimension of point_coords dynamic,
   * one image embedding per call); 0 when it does not. Only used with `maxBatch` 0.
   */
  maxPromptBatch?: number;
  /** Wait for company while a backend slot is free, in milliseconds (0: the next event-loop turn). */
  windowMs: number;
  /** Decoder calls in flight at once before requests queue for the next batch (default 2). */
  maxInflight?: number;
  infer: InferFn;
  /**
   * Request the full-size `masks` output too (default false): the gateway can compute the same logits from
   * `low_res_masks` for the one candidate it keeps, instead of moving C x H x W floats for every prompt.
   */
  fullSizeMasks?: boolean;
  /** Called after each ModelInfer call with its duration (seconds), batch size and error (if any). */
  onCall?: (seconds: number, batchSize: number, error: unknown) => void;
}

interface Pending {
  item: DecoderItem;
  resolve: (out: DecoderOutput) => void;
  reject: (err: unknown) => void;
}

/** Counters for tests, benchmarks and metrics. */
export interface BatcherStats {
  /** Decoder requests (prompt sets) received. */
  requests: number;
  /** ModelInfer calls made. */
  calls: number;
}

/** Batches decoder requests for one decoder model. */
export class DecodeBatcher {
  private queue: Pending[] = [];
  private timer: { cancel(): void } | undefined;
  private inflight = 0;
  readonly stats: BatcherStats = { requests: 0, calls: 0 };

  constructor(private readonly options: DecodeBatcherOptions) {}

  /** Queues one item; resolves with its outputs once its batch has run. */
  decode(item: DecoderItem): Promise<DecoderOutput> {
    this.stats.requests += 1;
    return new Promise<DecoderOutput>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.capacity() > 1 && this.queue.length >= this.capacity()) {
        this.flush();
      } else {
        this.schedule();
      }
    });
  }

  /** Arms the next flush when a backend slot is free; a busy backend flushes when a call completes. */
  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    if (this.inflight >= (this.options.maxInflight ?? 2)) return;
    if (this.options.windowMs > 0) {
      const t = setTimeout(() => this.flush(), this.options.windowMs);
      this.timer = { cancel: () => clearTimeout(t) };
    } else {
      const t = setImmediate(() => this.flush());
      this.timer = { cancel: () => clearImmediate(t) };
    }
  }

  private promptBatched(): boolean {
    return this.options.maxBatch === 0 && (this.options.maxPromptBatch ?? 0) > 1;
  }

  /** Most prompt sets one call carries. */
  private capacity(): number {
    return this.promptBatched() ? this.options.maxPromptBatch! : Math.max(1, this.options.maxBatch);
  }

  private groupKey(item: DecoderItem): string {
    // Original size (the decoder sizes its output masks from it) and embedding shape always; inside-model
    // prompt batching also needs one embedding, one point count and one kind of prior per call.
    const shapes = item.embeddings.map((e) => `${e.name}:${e.shape.join('x')}`).join(',');
    const base = `${item.origSize.join('x')}/${shapes}/${item.maskInputSize}`;
    return this.promptBatched()
      ? `${base}/${item.embeddingKey}/${item.labels.length}/${item.maskInput ? 'prior' : 'none'}`
      : base;
  }

  private flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const pending = this.queue;
    this.queue = [];
    const max = this.capacity();
    const groups = new Map<string, Pending[]>();
    for (const p of pending) {
      const key = this.groupKey(p.item);
      const list = groups.get(key);
      if (list) list.push(p);
      else groups.set(key, [p]);
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += max) void this.run(group.slice(i, i + max));
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    const started = performance.now();
    this.inflight += 1;
    try {
      this.stats.calls += 1;
      const items = batch.map((p) => p.item);
      const request = this.promptBatched() ? this.buildPromptBatch(items) : this.buildRequest(items);
      const outputs = await this.options.infer(request);
      this.options.onCall?.((performance.now() - started) / 1000, batch.length, undefined);
      const split = splitOutputs(
        outputs.outputs,
        batch.length,
        this.options.maxBatch > 0 || this.promptBatched(),
      );
      batch.forEach((p, i) => p.resolve(split[i]));
    } catch (err: unknown) {
      this.options.onCall?.((performance.now() - started) / 1000, batch.length, err);
      for (const p of batch) p.reject(err);
    } finally {
      this.inflight -= 1;
      // Requests that queued while every slot was busy leave together now.
      this.schedule();
    }
  }

  private outputNames(): string[] {
    return this.options.fullSizeMasks
      ? ['masks', 'iou_predictions', 'low_res_masks']
      : ['iou_predictions', 'low_res_masks'];
  }

  /** One call for B prompt sets on one embedding: the embedding and the shared inputs travel once. */
  private buildPromptBatch(items: DecoderItem[]): InferRequest {
    const b = items.length;
    const first = items[0];
    const n = first.labels.length;
    const s = first.maskInputSize;
    const coords = new Float32Array(b * n * 2);
    const labels = new Float32Array(b * n);
    const withPrior = first.maskInput !== undefined;
    // Without priors one zero plane serves every prompt set (has_mask_input 0 ignores it).
    const maskInput = withPrior
      ? b === 1
        ? first.maskInput!
        : new Float32Array(b * s * s)
      : new Float32Array(s * s);
    items.forEach((it, i) => {
      coords.set(it.coords, i * n * 2);
      labels.set(it.labels, i * n);
      if (withPrior && b > 1) maskInput.set(it.maskInput!, i * s * s);
    });
    const t = (name: string, shape: number[], data: Float32Array): Tensor => ({
      name,
      datatype: 'FP32',
      shape,
      data,
    });
    return {
      modelName: this.options.model,
      inputs: [
        // The embedding travels once: the model repeats it per prompt set.
        ...first.embeddings.map((e) => t(e.name, [1, ...e.shape], e.data)),
        t('point_coords', [b, n, 2], coords),
        t('point_labels', [b, n], labels),
        t('mask_input', [withPrior ? b : 1, 1, s, s], maskInput),
        t('has_mask_input', [1], Float32Array.of(withPrior ? 1 : 0)),
        t('orig_im_size', [2], Float32Array.of(first.origSize[0], first.origSize[1])),
      ],
      outputs: this.outputNames(),
    };
  }

  private buildRequest(items: DecoderItem[]): InferRequest {
    const b = items.length;
    const n = Math.max(...items.map((it) => it.labels.length));
    const s = items[0].maskInputSize;
    // A batch of one sends the cached embedding and prior as they are: no 4 MiB copy per decoder call.
    const single = b === 1;
    const embeddings = items[0].embeddings.map((e, k) => {
      if (single) return { name: e.name, shape: [1, ...e.shape], data: e.data };
      const size = e.data.length;
      const stacked = new Float32Array(b * size);
      items.forEach((it, i) => stacked.set(it.embeddings[k].data, i * size));
      return { name: e.name, shape: [b, ...e.shape], data: stacked };
    });
    const coords = new Float32Array(b * n * 2);
    const labels = new Float32Array(b * n).fill(-1);
    const maskInput =
      single && items[0].maskInput?.length === s * s ? items[0].maskInput : new Float32Array(b * s * s);
    const hasMask = new Float32Array(b);
    const orig = new Float32Array(b * 2);
    items.forEach((it, i) => {
      coords.set(it.coords, i * n * 2);
      labels.set(it.labels, i * n);
      if (it.maskInput) {
        if (maskInput !== it.maskInput) maskInput.set(it.maskInput, i * s * s);
        hasMask[i] = 1;
      }
      orig[i * 2] = it.origSize[0];
      orig[i * 2 + 1] = it.origSize[1];
    });
    const batched = this.options.maxBatch > 0;
    const t = (name: string, shape: number[], data: Float32Array): Tensor => ({
      name,
      datatype: 'FP32',
      shape,
      data,
    });
    return {
      modelName: this.options.model,
      inputs: [
        ...embeddings.map((e) => t(e.name, e.shape, e.data)),
        t('point_coords', [b, n, 2], coords),
        t('point_labels', [b, n], labels),
        t('mask_input', [b, 1, s, s], maskInput),
        t('has_mask_input', batched ? [b, 1] : [1], hasMask),
        t('orig_im_size', batched ? [b, 2] : [2], orig),
      ],
      outputs: this.outputNames(),
    };
  }
}

function output(outputs: Tensor[], name: string): Tensor {
  const t = outputs.find((o) => o.name === name);
  if (!t || !(t.data instanceof Float32Array)) {
    throw Object.assign(new Error(`decoder answered without an FP32 '${name}' output`), { code: 'INTERNAL' });
  }
  return t;
}

/** Splits batched decoder outputs into per-item outputs (views, no copies). */
function splitOutputs(outputs: Tensor[], count: number, batched: boolean): DecoderOutput[] {
  const masks = outputs.some((o) => o.name === 'masks') ? output(outputs, 'masks') : undefined;
  const iou = output(outputs, 'iou_predictions');
  const low = output(outputs, 'low_res_masks');
  const c = low.shape[1];
  const lowSize = low.shape[low.shape.length - 1];
  if (batched && low.shape[0] !== count) {
    throw Object.assign(new Error(`decoder returned ${low.shape[0]} items for a batch of ${count}`), {
      code: 'INTERNAL',
    });
  }
  const per = (t: Tensor) => (t.data as Float32Array).length / count;
  return Array.from({ length: count }, (_, i) => ({
    candidates: c,
    masks: masks ? (masks.data as Float32Array).subarray(i * per(masks), (i + 1) * per(masks)) : undefined,
    iou: (iou.data as Float32Array).subarray(i * per(iou), (i + 1) * per(iou)),
    lowRes: (low.data as Float32Array).subarray(i * per(low), (i + 1) * per(low)),
    lowResSize: lowSize,
  }));
}
