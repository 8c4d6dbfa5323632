/**
 * Triton-style dynamic batcher for the embedded server: requests to a model with max_batch_size > 0 and
 * `dynamic_batching` queue up; requests whose inputs have the same datatypes and non-batch shapes are stacked
 * along dimension 0 into one execution of up to max_batch_size elements (cut at a preferred_batch_size when
 * one can be formed), waiting at most max_queue_delay_microseconds for more; each request gets its slice of
 * every output back. While all model instances are busy the queue keeps filling, so batches also form
 * under load with a zero delay.
 *
 * Extension (not in Triton, which ignores unknown config parameters): the model parameter
 * `batching.same_value_inputs`, a comma-separated list of input names (e.g. "orig_im_size"), makes the
 * batcher stack only requests whose values of those inputs are byte-identical. SAM decoders size their output
 * masks from orig_im_size, so requests for images of different sizes must not share an execution.
 *
 * Spec: Triton docs/user_guide/model_configuration.md#dynamic-batcher
 */
import { allocateTensorData, elementCount } from '../protocol/tensor-codec.ts';
import type { Tensor, TensorData } from '../protocol/types.ts';
import { nowNs, type ModelStatsRecorder } from './model-stats.ts';

/** The model parameter that names inputs whose values must match within a batch. */
export const SAME_VALUE_INPUTS_PARAMETER = 'batching.same_value_inputs';

/** Options of a {@link DynamicBatcher}. */
export interface DynamicBatcherOptions {
  maxBatchSize: number;
  preferredBatchSizes: number[];
  /** Longest wait for more requests, in microseconds. */
  maxQueueDelayMicroseconds: number;
  /** Inputs whose values must be byte-identical across a batch. */
  sameValueInputs: string[];
  /** How many executions may run at once (the model's instance count). */
  maxConcurrent: number;
  /** Every output of the model, in configuration order (what a request without an output list gets). */
  allOutputs: string[];
  /** Runs one (stacked) execution. */
  run: (inputs: Tensor[], outputs: string[]) => Promise<Tensor[]>;
  stats: ModelStatsRecorder;
}

interface Pending {
  inputs: Map<string, Tensor>;
  outputs: string[];
  batch: number;
  key: string;
  arrivedNs: number;
  resolve: (t: Tensor[]) => void;
  reject: (e: unknown) => void;
}

function bytesOf(t: Tensor): string {
  const d = t.data;
  if (Array.isArray(d))
    return d.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')).join('|');
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
}

/** Queues requests and executes them in stacked batches. */
export class DynamicBatcher {
  private readonly queue: Pending[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly sameValue: Set<string>;
  private readonly maxPreferred: number;

  constructor(private readonly opts: DynamicBatcherOptions) {
    this.sameValue = new Set(opts.sameValueInputs);
    this.maxPreferred = opts.preferredBatchSizes.length > 0 ? Math.max(...opts.preferredBatchSizes) : 0;
  }

  /** Compatibility key: datatypes and non-batch shapes of every input, plus the values of same-value inputs. */
  private keyOf(inputs: Tensor[]): string {
    return [...inputs]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(
        (t) =>
          `${t.name}:${t.datatype}:${t.shape.slice(1).join('x')}${this.sameValue.has(t.name) ? `=${bytesOf(t)}` : ''}`,
      )
      .join(';');
  }

  /** Queues one validated request (batch size `inputs[*].shape[0]`) and resolves to its outputs. */
  submit(inputs: Tensor[], outputs: string[]): Promise<Tensor[]> {
    return new Promise<Tensor[]>((resolve, reject) => {
      this.queue.push({
        inputs: new Map(inputs.map((t) => [t.name, t])),
        outputs: outputs.length > 0 ? outputs : this.opts.allOutputs,
        batch: inputs[0]?.shape[0] ?? 1,
        key: this.keyOf(inputs),
        arrivedNs: nowNs(),
        resolve,
        reject,
      });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.opts.maxConcurrent && this.queue.length > 0) {
      const head = this.queue[0];
      const members: number[] = [];
      let total = 0;
      for (let i = 0; i < this.queue.length && total < this.opts.maxBatchSize; i += 1) {
        const p = this.queue[i];
        if (p.key === head.key && total + p.batch <= this.opts.maxBatchSize) {
          members.push(i);
          total += p.batch;
        }
      }
      const waitedUs = (nowNs() - head.arrivedNs) / 1000;
      const full = total >= this.opts.maxBatchSize;
      const preferredReached = this.maxPreferred > 0 && total >= this.maxPreferred;
      if (!full && !preferredReached && waitedUs < this.opts.maxQueueDelayMicroseconds) {
        if (!this.timer) {
          // Node timers have a 1 ms resolution: delays under 1000 µs wait about 1 ms.
          const delayMs = Math.max(0, (this.opts.maxQueueDelayMicroseconds - waitedUs) / 1000);
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.pump();
          }, delayMs);
        }
        return;
      }
      let take = members;
      if (!full && this.opts.preferredBatchSizes.length > 0) {
        // Cut at the largest preferred size the queued requests can fill exactly, if any.
        const target = Math.max(0, ...this.opts.preferredBatchSizes.filter((p) => p <= total));
        let acc = 0;
        const cut: number[] = [];
        for (const i of members) {
          if (acc + this.queue[i].batch > target) break;
          cut.push(i);
          acc += this.queue[i].batch;
        }
        if (acc === target && cut.length > 0) take = cut;
      }
      const batch = take.map((i) => this.queue[i]);
      for (let k = take.length - 1; k >= 0; k -= 1) this.queue.splice(take[k], 1);
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      this.running += 1;
      void this.execute(batch).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private async execute(batch: Pending[]): Promise<void> {
    const start = nowNs();
    for (const p of batch) this.opts.stats.queued(start - p.arrivedNs);
    const outputs = [...new Set(batch.flatMap((p) => p.outputs))];
    const total = batch.reduce((n, p) => n + p.batch, 0);
    try {
      const stacked =
        batch.length === 1 ? [...batch[0].inputs.values()] : stackInputs(batch.map((p) => p.inputs));
      const t1 = nowNs();
      const results = await this.opts.run(stacked, outputs);
      const t2 = nowNs();
      const byName = new Map(results.map((t) => [t.name, t]));
      let offset = 0;
      const answers = batch.map((p) => {
        const mine = p.outputs.map((name) => sliceBatch(byName.get(name) as Tensor, offset, p.batch, total));
        offset += p.batch;
        return mine;
      });
      const t3 = nowNs();
      this.opts.stats.execution(total, batch.length, t1 - start, t2 - t1, t3 - t2);
      batch.forEach((p, i) => p.resolve(answers[i]));
    } catch (err: unknown) {
      for (const p of batch) p.reject(err);
    }
  }
}

/** Concatenates each input of several requests along dimension 0. */
export function stackInputs(requests: Array<Map<string, Tensor>>): Tensor[] {
  const first = requests[0];
  return [...first.keys()].map((name) => {
    const parts = requests.map((r) => r.get(name) as Tensor);
    const t0 = parts[0];
    const rows = parts.reduce((n, t) => n + t.shape[0], 0);
    const shape = [rows, ...t0.shape.slice(1)];
    let data: TensorData;
    if (Array.isArray(t0.data)) {
      data = parts.flatMap((t) => t.data as Uint8Array[]);
    } else {
      const out = allocateTensorData(t0.datatype, elementCount(shape)) as Exclude<TensorData, Uint8Array[]>;
      let at = 0;
      for (const t of parts) {
        (out as Uint8Array).set(t.data as Uint8Array, at);
        at += t.data.length;
      }
      data = out;
    }
    return { name, datatype: t0.datatype, shape, data };
  });
}

/** The rows [offset, offset+count) of a batched output, as a view (no copy). */
export function sliceBatch(t: Tensor, offset: number, count: number, total: number): Tensor {
  if (!t) throw new Error('the model did not produce a requested output');
  if (t.shape[0] !== total) {
    throw new Error(
      `output '${t.name}': expected batch dimension ${total}, got shape [${t.shape.join(',')}]`,
    );
  }
  if (offset === 0 && count === total) return t;
  const per = elementCount(t.shape.slice(1));
  const data = Array.isArray(t.data)
    ? t.data.slice(offset * per, (offset + count) * per)
    : (t.data.subarray(offset * per, (offset + count) * per) as TensorData);
  return { name: t.name, datatype: t.datatype, shape: [count, ...t.shape.slice(1)], data };
}
