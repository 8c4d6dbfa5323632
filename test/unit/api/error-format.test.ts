/**
 * The one error boundary: every error class of the table becomes its public code in the formatter, framework
 * refusals keep theirs, and anything else is INTERNAL, masked and logged with the request id.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphQLError, locatedError } from 'graphql';
import pino from 'pino';
import { errorFormatter, formatErrors, withRequestId } from '../../../gateway/src/api/error-format.ts';
import { ApiError, ERROR_CODES, toApiError } from '../../../gateway/src/api/errors.ts';
import { BenchmarkError } from '../../../gateway/src/bench/runner.ts';
import { DatasetError } from '../../../gateway/src/bench/datasets/dataset.ts';
import { RleError } from '../../../gateway/src/core/rle.ts';
import { SemaphoreFullError } from '../../../gateway/src/core/semaphore.ts';
import { FineTuneError } from '../../../gateway/src/finetune/finetune-service.ts';
import { ConfinedFileError } from '../../../gateway/src/imaging/confined-file.ts';
import { DicomWebError } from '../../../gateway/src/imaging/dicomweb-client.ts';
import { decoding, ImageError } from '../../../gateway/src/imaging/image-error.ts';
import { InferenceError } from '../../../gateway/src/inference/errors.ts';
import { ProfileError } from '../../../gateway/src/sam/contract.ts';
import { SessionError } from '../../../gateway/src/sam/session.ts';
import { StoreError } from '../../../gateway/src/store/state-store.ts';

/** A formatter whose log lines are kept. */
function formatter(roots: string[] = []) {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: 'error' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { format: errorFormatter(log, roots), lines };
}

/** What a resolver throwing `err` at field `segment` looks like to the formatter (graphql-js locates it). */
function thrownAtField(err: unknown): GraphQLError {
  return locatedError(err, undefined, ['segment']);
}

const table: Array<[string, Error, string]> = [
  ['ApiError', new ApiError('SESSION_NOT_FOUND', 'gone'), 'SESSION_NOT_FOUND'],
  ['inference: invalid input', new InferenceError('INVALID_INPUT', 'bad tensor'), 'BAD_REQUEST'],
  ['inference: unavailable', new InferenceError('BACKEND_UNAVAILABLE', 'down'), 'BACKEND_UNAVAILABLE'],
  ['inference: internal', new InferenceError('INTERNAL', 'onnxruntime failed at /opt/x'), 'INTERNAL'],
  ['session', new SessionError('EMBEDDING_NOT_FOUND', 'expired'), 'EMBEDDING_NOT_FOUND'],
  ['profile', new ProfileError('no sam.profile'), 'MODEL_NOT_READY'],
  ['semaphore', new SemaphoreFullError('8 running, 0 waiting'), 'RESOURCE_EXHAUSTED'],
  ['image', new ImageError('UNSUPPORTED_TRANSFER_SYNTAX', 'MPEG2'), 'UNSUPPORTED_TRANSFER_SYNTAX'],
  ['confined file: too large', new ConfinedFileError('FILE_TOO_LARGE', 'big'), 'IMAGE_TOO_LARGE'],
  ['confined file: outside', new ConfinedFileError('PATH_NOT_ALLOWED', 'out'), 'PATH_NOT_ALLOWED'],
  ['dicomweb: argument', new DicomWebError('BAD_ARGUMENT', 'not a UID'), 'BAD_REQUEST'],
  ['dicomweb: 404', new DicomWebError('NOT_FOUND', 'no instance', 404), 'NOT_FOUND'],
  ['rle', new RleError('counts overrun'), 'BAD_REQUEST'],
  ['benchmark', new BenchmarkError('bad strategy'), 'BAD_REQUEST'],
  ['dataset exists', new DatasetError('EXISTS', 'taken'), 'ALREADY_EXISTS'],
  ['fine-tune: bad dataset', new FineTuneError('BAD_DATASET', 'no labels'), 'BAD_REQUEST'],
  ['fine-tune: no objects', new FineTuneError('NO_OBJECTS', 'none'), 'NO_OBJECTS'],
  ['store unavailable', new StoreError('down', 'UNAVAILABLE'), 'STORE_UNAVAILABLE'],
  ['store conflict', new StoreError('raced', 'CONFLICT'), 'CONFLICT'],
  [
    'socket',
    Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    'BACKEND_UNAVAILABLE',
  ],
  ['plain error', new Error('cannot read /srv/db'), 'INTERNAL'],
  [
    'plain error with a public-looking code',
    Object.assign(new Error('x'), { code: 'NOT_FOUND' }),
    'INTERNAL',
  ],
];

test('each error class maps through the table to its public code', () => {
  for (const [what, err, code] of table) {
    const { format } = formatter();
    const out = format(thrownAtField(err).toJSON(), thrownAtField(err), 'req-1');
    assert.equal(out.extensions?.code, code, what);
    assert.ok(Object.hasOwn(ERROR_CODES, String(out.extensions?.code)), what);
    assert.equal(out.extensions?.requestId, 'req-1', what);
    assert.deepEqual(out.path, ['segment'], what);
    if (code === 'INTERNAL') assert.equal(out.message, 'internal error', what);
  }
});

test('a lower layer code that is also a public code name does not pass through on its own', () => {
  // Only the table names public codes: an untyped error with a `code` property is INTERNAL.
  assert.equal(toApiError(Object.assign(new Error('x'), { code: 'BAD_PROMPT' })).code, 'INTERNAL');
  assert.equal(toApiError('a string').code, 'INTERNAL');
  assert.equal(toApiError(undefined).code, 'INTERNAL');
});

test('overload keeps retryAfterSeconds; unknown errors are logged with the request id and leak nothing', () => {
  const { format, lines } = formatter();
  const busy = Object.assign(new InferenceError('RESOURCE_EXHAUSTED', 'queue full'), {
    retryAfterSeconds: 3,
  });
  const out = format(thrownAtField(busy).toJSON(), thrownAtField(busy));
  assert.equal(out.extensions?.retryAfterSeconds, 3);
  const secret = new Error('password=hunter2 at /srv/secret');
  const masked = withRequestId('req-42', () => format(thrownAtField(secret).toJSON(), thrownAtField(secret)));
  assert.deepEqual(masked, {
    message: 'internal error',
    path: ['segment'],
    extensions: { code: 'INTERNAL', requestId: 'req-42' },
  });
  assert.equal(lines.length, 1);
  assert.equal(lines[0].requestId, 'req-42');
  assert.match(JSON.stringify(lines[0]), /hunter2/, 'the log keeps what the client does not see');
});

test('framework and gateway refusals keep their codes; an unknown code is masked', () => {
  const { format } = formatter();
  const parse = new GraphQLError('Syntax Error', { extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
  assert.equal(format(parse.toJSON(), parse).extensions?.code, 'GRAPHQL_PARSE_FAILED');
  const input = new GraphQLError('bad variable', {
    originalError: new TypeError('not a number'),
    extensions: { code: 'BAD_USER_INPUT' },
  });
  assert.equal(format(input.toJSON(), input).extensions?.code, 'BAD_USER_INPUT');
  const forbidden = new GraphQLError('no role', { extensions: { code: 'FORBIDDEN' } });
  const kept = format(forbidden.toJSON(), thrownAtField(forbidden));
  assert.equal(kept.extensions?.code, 'FORBIDDEN');
  assert.equal(kept.message, 'no role');
  const odd = new GraphQLError('engine detail', { extensions: { code: 'SOMETHING_ELSE' } });
  assert.equal(format(odd.toJSON(), odd).extensions?.code, 'INTERNAL');
  const claimsInternal = new GraphQLError('detail', { extensions: { code: 'INTERNAL' } });
  assert.equal(format(claimsInternal.toJSON(), claimsInternal).message, 'internal error');
});

test('messages lose the data roots; formatErrors passes the request id', () => {
  const { format } = formatter(['/data/root']);
  const err = thrownAtField(new DatasetError('BAD_DATASET', 'no images under /data/root/ds'));
  const [out] = formatErrors([err], format, 'ws-1');
  assert.equal(out.message, 'dataset: no images under <data root>/ds');
  assert.equal(out.extensions?.requestId, 'ws-1');
});

test('decoding() lets only ImageErrors out, named by what was decoded', () => {
  assert.throws(
    () =>
      decoding('NIfTI', () => {
        throw new RangeError('Offset is outside the bounds of the DataView');
      }),
    (e: unknown) =>
      e instanceof ImageError && e.code === 'BAD_IMAGE' && /^NIfTI could not be decoded/.test(e.message),
  );
  assert.throws(
    () =>
      decoding('DICOM', () => {
        throw new ImageError('IMAGE_TOO_LARGE', 'too many pixels');
      }),
    (e: unknown) =>
      e instanceof ImageError && e.code === 'IMAGE_TOO_LARGE' && e.message === 'DICOM: too many pixels',
  );
  assert.equal(
    decoding(undefined, () => 7),
    7,
  );
});
