import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import {
  INFERENCE_ERROR_CODES,
  InferenceError,
  toInferenceError,
  type InferenceErrorCode,
} from '../../../gateway/src/inference/errors.ts';

const ctx = { address: '10.0.0.5:8001', rpc: 'ModelInfer', model: 'sam_vit_b_encoder' };
const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${details}`), { code, details });

const table: Array<[string, unknown, InferenceErrorCode]> = [
  [
    'Triton unknown model',
    grpcError(status.INVALID_ARGUMENT, "Request for unknown model: 'x' is not found"),
    'MODEL_NOT_FOUND',
  ],
  [
    'older Triton unknown model',
    grpcError(status.UNAVAILABLE, "Request for unknown model: 'x' is not found"),
    'MODEL_NOT_FOUND',
  ],
  ['NOT_FOUND', grpcError(status.NOT_FOUND, "model 'x' not found"), 'MODEL_NOT_FOUND'],
  [
    'no ready version',
    grpcError(status.UNAVAILABLE, "Request for unknown model: 'x' has no available versions"),
    'MODEL_NOT_READY',
  ],
  [
    'version not ready',
    grpcError(status.INVALID_ARGUMENT, "Request for unknown model: 'x' version 2 is not at ready state"),
    'MODEL_NOT_READY',
  ],
  [
    'embedded not ready',
    grpcError(status.UNAVAILABLE, "Request for model 'x' which is not ready: missing file"),
    'MODEL_NOT_READY',
  ],
  ['bad tensor', grpcError(status.INVALID_ARGUMENT, "unexpected shape for input 'image'"), 'INVALID_INPUT'],
  ['out of range', grpcError(status.OUT_OF_RANGE, 'index'), 'INVALID_INPUT'],
  [
    'connection refused',
    grpcError(status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED'),
    'BACKEND_UNAVAILABLE',
  ],
  ['cancelled', grpcError(status.CANCELLED, 'Call cancelled'), 'BACKEND_UNAVAILABLE'],
  ['deadline', grpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), 'DEADLINE_EXCEEDED'],
  [
    'too large',
    grpcError(status.RESOURCE_EXHAUSTED, 'Received message larger than max'),
    'RESOURCE_EXHAUSTED',
  ],
  ['server bug', grpcError(status.INTERNAL, 'onnxruntime failed'), 'INTERNAL'],
  ['unknown status', grpcError(status.UNKNOWN, '?'), 'INTERNAL'],
  ['unimplemented', grpcError(status.UNIMPLEMENTED, 'no such method'), 'INTERNAL'],
  ['auth', grpcError(status.UNAUTHENTICATED, 'no token'), 'INTERNAL'],
  [
    'socket refused',
    Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    'BACKEND_UNAVAILABLE',
  ],
  [
    'socket reset in cause',
    new Error('wrapped', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }),
    'BACKEND_UNAVAILABLE',
  ],
  [
    'dns',
    Object.assign(new Error('getaddrinfo ENOTFOUND triton'), { code: 'ENOTFOUND' }),
    'BACKEND_UNAVAILABLE',
  ],
  ['plain error', new Error('boom'), 'INTERNAL'],
  ['non-error value', 'boom', 'INTERNAL'],
];

describe('inference error mapping', () => {
  for (const [label, err, code] of table) {
    it(`${label} -> ${code}`, () => {
      const mapped = toInferenceError(err, ctx);
      assert.ok(mapped instanceof InferenceError);
      assert.equal(mapped.code, code);
      assert.match(mapped.message, /10\.0\.0\.5:8001/);
      assert.ok(INFERENCE_ERROR_CODES.includes(mapped.code));
    });
  }

  it('keeps the gRPC status and the server text', () => {
    const mapped = toInferenceError(grpcError(status.INVALID_ARGUMENT, "input 'x' bad"), ctx);
    assert.equal(mapped.grpcStatus, status.INVALID_ARGUMENT);
    assert.equal(mapped.details, "input 'x' bad");
    assert.match(mapped.message, /ModelInfer 'sam_vit_b_encoder'/);
  });

  it('passes an InferenceError through unchanged', () => {
    const e = new InferenceError('INVALID_INPUT', 'x');
    assert.equal(toInferenceError(e, ctx), e);
  });

  it('covers every code of the table', () => {
    assert.deepEqual(new Set(table.map(([, , c]) => c)), new Set(INFERENCE_ERROR_CODES));
  });
});
