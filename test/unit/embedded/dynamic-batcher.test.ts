import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamicBatcher, sliceBatch, stackInputs } from '../../../gateway/src/embedded/dynamic-batcher.ts';
import { ModelStatsRecorder } from '../../../gateway/src/embedded/model-stats.ts';
import type { Tensor } from '../../../gateway/src/protocol/types.ts';

const x = (rows: number[][], name = 'X'): Tensor => ({
  name,
  datatype: 'FP32',
  shape: [rows.length, rows[0].length],
  data: Float32Array.from(rows.flat()),
});
const size = (v: number): Tensor => ({
  name: 'SIZE',
  datatype: 'FP32',
  shape: [1, 1],
  data: Float32Array.from([v]),
});

/** A fake model: Y = X + 100 * row index within the execution, so tests can see how rows were stacked. */
function fakeBatcher(opts: Partial<ConstructorParameters<typeof DynamicBatcher>[0]> = {}) {
  const executions: number[] = [];
  const stats = new ModelStatsRecorder('fake', '1');
  const batcher = new DynamicBatcher({
    maxBatchSize: 4,
    preferredBatchSizes: [],
    maxQueueDelayMicroseconds: 5000,
    sameValueInputs: [],
    maxConcurrent: 1,
    allOutputs: ['Y'],
    stats,
    async run(inputs) {
      const t = inputs.find((i) => i.name === 'X') as Tensor;
      executions.push(t.shape[0]);
      await new Promise((r) => setTimeout(r, 5));
      const d = t.data as Float32Array;
      const per = t.shape[1];
      return [
        { name: 'Y', datatype: 'FP32', shape: t.shape, data: d.map((v, i) => v + 100 * Math.floor(i / per)) },
      ];
    },
    ...opts,
  });
  return { batcher, executions, stats };
}

describe('dynamic batcher', () => {
  // Requests submitted back to back stack only if the wall clock between them stays under the queue delay;
  // a busy machine can deschedule this process for milliseconds, so stacking tests use a delay of seconds.
  const STACKING_DELAY_US = 2_000_000;

  it('stacks compatible requests up to max_batch_size and splits outputs back per request', async () => {
    const { batcher, executions, stats } = fakeBatcher({ maxQueueDelayMicroseconds: STACKING_DELAY_US });
    const results = await Promise.all([
      batcher.submit([x([[1, 1]])], []),
      batcher.submit(
        [
          x([
            [2, 2],
            [3, 3],
          ]),
        ],
        [],
      ),
      batcher.submit([x([[4, 4]])], []),
      batcher.submit([x([[5, 5]])], []),
    ]);
    assert.deepEqual(executions, [4, 1]);
    assert.deepEqual(
      results.map((r) => r[0].shape),
      [
        [1, 2],
        [2, 2],
        [1, 2],
        [1, 2],
      ],
    );
    assert.deepEqual([...(results[1][0].data as Float32Array)], [102, 102, 203, 203]);
    assert.deepEqual([...(results[3][0].data as Float32Array)], [5, 5]);
    const s = stats.snapshot();
    assert.equal(s.executionCount, 2);
    assert.deepEqual(
      s.batchStats.map((b) => [b.batchSize, b.computeInfer.count]),
      [
        [1, 1],
        [4, 1],
      ],
    );
  });

  it('never stacks requests with different non-batch shapes', async () => {
    const { batcher, executions } = fakeBatcher();
    await Promise.all([batcher.submit([x([[1, 1]])], []), batcher.submit([x([[1, 1, 1]])], [])]);
    assert.deepEqual(executions, [1, 1]);
  });

  it('stacks only byte-identical values of batching.same_value_inputs', async () => {
    const { batcher, executions } = fakeBatcher({
      sameValueInputs: ['SIZE'],
      maxQueueDelayMicroseconds: STACKING_DELAY_US,
    });
    await Promise.all([
      batcher.submit([x([[1, 1]]), size(512)], []),
      batcher.submit([x([[2, 2]]), size(256)], []),
      batcher.submit([x([[3, 3]]), size(512)], []),
    ]);
    assert.deepEqual(executions.sort(), [1, 2]);
  });

  it('runs at once when a preferred batch size is reached, without waiting for the delay', async () => {
    const { batcher, executions } = fakeBatcher({
      preferredBatchSizes: [2],
      // Ten minutes: finishing at all (within the test timeout's margin) proves the delay was not waited.
      maxQueueDelayMicroseconds: 600_000_000,
    });
    const t0 = Date.now();
    await Promise.all([batcher.submit([x([[1, 1]])], []), batcher.submit([x([[2, 2]])], [])]);
    assert.deepEqual(executions, [2]);
    assert.ok(Date.now() - t0 < 120_000);
  });

  it('waits at most max_queue_delay for a lone request', async () => {
    const { batcher, executions } = fakeBatcher({ maxQueueDelayMicroseconds: 20_000 });
    const t0 = Date.now();
    await batcher.submit([x([[1, 1]])], []);
    const waited = Date.now() - t0;
    assert.deepEqual(executions, [1]);
    // The lower bound is what the delay promises; the upper bound only rules out waiting for a partner forever.
    assert.ok(waited >= 15 && waited < 120_000, `waited ${waited} ms`);
  });

  it('rejects every request of a failed execution', async () => {
    const { batcher } = fakeBatcher({
      run: async () => {
        throw new Error('kernel failed');
      },
    });
    const results = await Promise.allSettled([
      batcher.submit([x([[1, 1]])], []),
      batcher.submit([x([[2, 2]])], []),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
  });

  it('stacks BYTES and 64-bit tensors and slices them as views', () => {
    const a = new Map<string, Tensor>([
      ['S', { name: 'S', datatype: 'BYTES', shape: [1], data: [Uint8Array.from([1])] }],
    ]);
    const b = new Map<string, Tensor>([
      ['S', { name: 'S', datatype: 'BYTES', shape: [2], data: [Uint8Array.from([2]), Uint8Array.from([3])] }],
    ]);
    const [s] = stackInputs([a, b]);
    assert.deepEqual(s.shape, [3]);
    assert.deepEqual(
      (s.data as Uint8Array[]).map((d) => d[0]),
      [1, 2, 3],
    );
    const l = new Map<string, Tensor>([
      ['L', { name: 'L', datatype: 'INT64', shape: [1, 2], data: BigInt64Array.from([1n, 2n]) }],
    ]);
    const [stacked] = stackInputs([l, l]);
    assert.deepEqual([...(stacked.data as BigInt64Array)], [1n, 2n, 1n, 2n]);
    const part = sliceBatch(stacked, 1, 1, 2);
    assert.deepEqual(part.shape, [1, 2]);
    assert.equal((part.data as BigInt64Array).buffer, (stacked.data as BigInt64Array).buffer);
    assert.throws(() => sliceBatch(stacked, 0, 1, 3), /expected batch dimension 3/);
  });
});
