import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inferenceService } from '../../../gateway/src/protocol/proto.ts';
import { decodeTensorData } from '../../../gateway/src/protocol/tensor-codec.ts';

/** What grpc-js does on receipt: a fresh buffer holding the 5-byte frame header, then the message. */
function receive(message: Buffer): Buffer {
  const framed = Buffer.alloc(message.length + 5);
  message.copy(framed, 5);
  return framed.subarray(5);
}

describe('aligned ModelInfer serializers', () => {
  const infer = inferenceService().service.ModelInfer;

  for (const idLength of [0, 1, 2, 3, 7, 8, 130]) {
    it(`aligns raw input contents to 8 bytes (id of ${idLength} chars) and stays a valid message`, () => {
      const x = Float64Array.from([1.5, -2, 3]);
      const req = {
        modelName: 'm',
        modelVersion: '',
        id: 'i'.repeat(idLength),
        parameters: {},
        inputs: [
          { name: 'a', datatype: 'FP64', shape: [3], parameters: {} },
          { name: 'b', datatype: 'UINT8', shape: [1], parameters: {} },
          { name: 'c', datatype: 'INT64', shape: [1], parameters: {} },
        ],
        outputs: [],
        rawInputContents: [
          Buffer.from(x.buffer),
          Buffer.from([9]),
          Buffer.from(BigInt64Array.from([-7n]).buffer),
        ],
      };
      const back = infer.requestDeserialize(receive(infer.requestSerialize(req))) as {
        id: string;
        inputs: unknown[];
        rawInputContents: Buffer[];
      };
      assert.equal(back.id, req.id);
      assert.equal(back.inputs.length, 3);
      for (const raw of [back.rawInputContents[0], back.rawInputContents[2]])
        assert.equal(raw.byteOffset % 8, 0);
      const a = decodeTensorData('a', 'FP64', [3], back.rawInputContents[0]);
      assert.equal((a as Float64Array).buffer, back.rawInputContents[0].buffer, 'decoded in place, no copy');
      assert.deepEqual([...(a as Float64Array)], [1.5, -2, 3]);
      assert.deepEqual([...back.rawInputContents[1]], [9]);
      assert.deepEqual(
        [...(decodeTensorData('c', 'INT64', [1], back.rawInputContents[2]) as BigInt64Array)],
        [-7n],
      );
    });
  }

  it('aligns raw output contents of responses', () => {
    const res = {
      modelName: 'model',
      modelVersion: '1',
      id: 'abc',
      parameters: {},
      outputs: [{ name: 'y', datatype: 'FP32', shape: [2], parameters: {} }],
      rawOutputContents: [Buffer.from(Float32Array.from([0.25, 4]).buffer)],
    };
    const back = infer.responseDeserialize(receive(infer.responseSerialize(res))) as {
      rawOutputContents: Buffer[];
    };
    assert.equal(back.rawOutputContents[0].byteOffset % 8, 0);
    assert.deepEqual(
      [...(decodeTensorData('y', 'FP32', [2], back.rawOutputContents[0]) as Float32Array)],
      [0.25, 4],
    );
  });

  it('serializes messages without raw contents exactly as before', () => {
    const req = {
      modelName: 'm',
      modelVersion: '',
      id: '',
      parameters: {},
      inputs: [],
      outputs: [],
      rawInputContents: [],
    };
    const back = infer.requestDeserialize(receive(infer.requestSerialize(req))) as { modelName: string };
    assert.equal(back.modelName, 'm');
  });
});
