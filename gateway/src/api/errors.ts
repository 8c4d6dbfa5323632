/**
 * The public error codes of the GraphQL API, carried in `extensions.code`, and the one table that maps the
 * error classes of every layer (inference, imaging, sessions, benchmark, fine-tuning, store) onto them. The
 * error formatter (error-format.ts) applies it once, for HTTP and WebSocket alike.
 */
import { realpathSync } from 'node:fs';
import { DatasetError } from '../bench/datasets/dataset.ts';
import { ReportError } from '../bench/report/build-report.ts';
import { BenchmarkLimitError } from '../bench/benchmark-service.ts';
import { BenchmarkError } from '../bench/runner.ts';
import { RleError } from '../core/rle.ts';
import { SemaphoreFullError } from '../core/semaphore.ts';
import { FineTuneError } from '../finetune/finetune-service.ts';
import { PublishError } from '../finetune/publish.ts';
import { SplitError } from '../finetune/split.ts';
import { ConfinedFileError } from '../imaging/confined-file.ts';
import { DicomWebError } from '../imaging/dicomweb-client.ts';
import { ImageError, ImageRequestError } from '../imaging/image-error.ts';
import { InferenceError, type InferenceErrorCode } from '../inference/errors.ts';
import { ProfileError } from '../sam/contract.ts';
import { SessionError } from '../sam/session.ts';
import { StoreError } from '../store/state-store.ts';

/** Every public error code with what it means for a client. */
export const ERROR_CODES = {
  BAD_IMAGE: 'the image bytes could not be decoded',
  UNSUPPORTED_FORMAT: 'the image format or media type is not supported',
  UNSUPPORTED_TRANSFER_SYNTAX: 'the DICOM transfer syntax is not supported',
  IMAGE_TOO_LARGE: 'the image exceeds the configured pixel or byte limit',
  BAD_PROMPT: 'a prompt is missing, malformed or outside the image',
  BAD_REQUEST: 'an argument is malformed or out of range',
  PATH_NOT_ALLOWED: 'a path input lies outside the configured data roots',
  EMBEDDING_NOT_FOUND: 'the embedding id is unknown or expired',
  SESSION_NOT_FOUND: 'the annotation session is unknown or expired',
  LIMIT_EXCEEDED: 'a configured limit (prompt sets, points, sessions) was exceeded',
  MODEL_NOT_FOUND: 'the backend serves no model of that name',
  MODEL_NOT_READY: 'the model exists but is not ready',
  BACKEND_UNAVAILABLE: 'the inference backend cannot be reached',
  DEADLINE_EXCEEDED: 'the backend did not answer in time, or the request ran past its own deadline',
  RESOURCE_EXHAUSTED: 'the backend or gateway is overloaded; retry later',
  PACS_UNAVAILABLE: 'the configured PACS cannot be reached or did not answer in time',
  PACS_ERROR: 'the PACS answered a DICOMweb request with an error',
  NOT_FOUND: 'the PACS (or the gateway) has no such study, series, instance or job',
  ALREADY_EXISTS:
    'the id or name is already taken (a dataset id registered for another folder, a model that exists or is being trained)',
  UNAUTHENTICATED: 'no credential, or one that is unknown, revoked, expired or malformed',
  FORBIDDEN: "the credential's roles do not allow this operation",
  EMPTY_DATASET: 'the dataset, or the training part of its split, has no images',
  NO_OBJECTS: 'the training images have no objects to prompt',
  BAD_SPLIT: 'the split names an unknown group, or a group twice',
  STORE_UNAVAILABLE: 'the shared state store (database) cannot be reached; retry later',
  CONFLICT: 'another replica changed the same object at the same time; retry',
  INTERNAL: 'an unexpected error; logged with the request id',
} as const;

/** One public error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error meant for the client: its message is shown as is, with `code` in extensions. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A class of error thrown below the API (or by it), as `instanceof` sees it. */
type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** One row of the table: which errors it takes, and the public error each becomes. */
interface ErrorRule {
  matches(err: Error): boolean;
  toApi(err: Error): ApiError;
}

/** A row for a class: `toApi` sees only errors of that class. */
function rule<E extends Error>(type: ErrorClass<E>, toApi: (err: E) => ApiError): ErrorRule {
  return { matches: (err) => err instanceof type, toApi: (err) => toApi(err as E) };
}

/**
 * A row for a class with its own `code` table: every code it can carry must be mapped (the compiler checks),
 * and the message is shown as is unless `message` rewrites it.
 */
function byCode<K extends string, E extends Error & { readonly code: K }>(
  type: ErrorClass<E>,
  codes: Record<K, ErrorCode>,
  message: (err: E) => string = (err) => err.message,
): ErrorRule {
  return rule(type, (err) => new ApiError(codes[err.code] ?? 'INTERNAL', message(err)));
}

/** Overload errors say when to come back; the client gets that as `extensions.retryAfterSeconds`. */
function retryDetails(err: Error): Record<string, unknown> {
  const retry = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return typeof retry === 'number' ? { retryAfterSeconds: retry } : {};
}

/** Socket errors (Node's `code`) that mean the inference backend is not there. */
const SOCKET_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH']);

/**
 * The one table of error class to public code, read top to bottom; an error no row takes is INTERNAL.
 * Layers below the API throw their own classes with their own codes; only this table names the public ones.
 */
const ERROR_TABLE: readonly ErrorRule[] = [
  // The API's own refusals (argument checks in resolvers) already carry a public code.
  rule(ApiError, (err) => err),
  rule(
    InferenceError,
    (err) =>
      new ApiError(
        (
          {
            BACKEND_UNAVAILABLE: 'BACKEND_UNAVAILABLE',
            MODEL_NOT_FOUND: 'MODEL_NOT_FOUND',
            MODEL_NOT_READY: 'MODEL_NOT_READY',
            // The gateway built a tensor the model rejects: an incompatible model or a prompt it cannot take,
            // answered as the request's fault so the client sees the backend's words.
            INVALID_INPUT: 'BAD_REQUEST',
            DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
            RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
            INTERNAL: 'INTERNAL',
          } satisfies Record<InferenceErrorCode, ErrorCode>
        )[err.code],
        err.message,
        retryDetails(err),
      ),
  ),
  byCode(SessionError, {
    MODEL_NOT_FOUND: 'MODEL_NOT_FOUND',
    MODEL_NOT_READY: 'MODEL_NOT_READY',
    EMBEDDING_NOT_FOUND: 'EMBEDDING_NOT_FOUND',
    BAD_PROMPT: 'BAD_PROMPT',
    INTERNAL: 'INTERNAL',
  }),
  // A served model whose config lacks the SAM parameters cannot be used until it is fixed.
  rule(ProfileError, (err) => new ApiError('MODEL_NOT_READY', err.message)),
  // Too many requests already wait for a bounded resource (decode slots): come back in a second.
  rule(
    SemaphoreFullError,
    (err) =>
      new ApiError('RESOURCE_EXHAUSTED', `too many images are being decoded (${err.message}); retry later`, {
        retryAfterSeconds: 1,
      }),
  ),
  // A frame, slice, axis or window the image cannot satisfy is the request's fault, not the file's.
  rule(ImageRequestError, (err) => new ApiError('BAD_REQUEST', err.message)),
  byCode(ImageError, {
    BAD_IMAGE: 'BAD_IMAGE',
    UNSUPPORTED_FORMAT: 'UNSUPPORTED_FORMAT',
    IMAGE_TOO_LARGE: 'IMAGE_TOO_LARGE',
    UNSUPPORTED_TRANSFER_SYNTAX: 'UNSUPPORTED_TRANSFER_SYNTAX',
  }),
  byCode(ConfinedFileError, { PATH_NOT_ALLOWED: 'PATH_NOT_ALLOWED', FILE_TOO_LARGE: 'IMAGE_TOO_LARGE' }),
  byCode(DicomWebError, {
    PACS_UNAVAILABLE: 'PACS_UNAVAILABLE',
    PACS_ERROR: 'PACS_ERROR',
    NOT_FOUND: 'NOT_FOUND',
    BAD_ARGUMENT: 'BAD_REQUEST',
  }),
  // A malformed RLE is a malformed argument wherever it is sent (a segment prior, a mask to export).
  rule(RleError, (err) => new ApiError('BAD_REQUEST', err.message)),
  // Before its parent class: MAX_BENCHMARK_JOBS running is a limit, not a bad request.
  rule(BenchmarkLimitError, (err) => new ApiError('LIMIT_EXCEEDED', err.message)),
  rule(BenchmarkError, (err) => new ApiError('BAD_REQUEST', err.message)),
  rule(ReportError, (err) => new ApiError('BAD_REQUEST', err.message)),
  byCode(
    DatasetError,
    { NOT_FOUND: 'BAD_REQUEST', BAD_DATASET: 'BAD_REQUEST', EXISTS: 'ALREADY_EXISTS' },
    (err) => `dataset: ${err.message}`,
  ),
  byCode(FineTuneError, {
    RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
    NOT_FOUND: 'NOT_FOUND',
    BAD_REQUEST: 'BAD_REQUEST',
    ALREADY_EXISTS: 'ALREADY_EXISTS',
    NO_OBJECTS: 'NO_OBJECTS',
    EMPTY_DATASET: 'EMPTY_DATASET',
    BAD_DATASET: 'BAD_REQUEST',
    BAD_SPLIT: 'BAD_SPLIT',
    MODEL_NOT_FOUND: 'MODEL_NOT_FOUND',
    LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
    // Raised inside a running job and stored with it, never thrown to a request; a bug if it ever is.
    CANCELLED: 'INTERNAL',
    EXPORT_MISMATCH: 'INTERNAL',
    INTERNAL: 'INTERNAL',
  }),
  byCode(SplitError, { BAD_SPLIT: 'BAD_SPLIT', EMPTY_DATASET: 'EMPTY_DATASET' }),
  byCode(PublishError, { ALREADY_EXISTS: 'ALREADY_EXISTS', BAD_MODEL: 'BAD_REQUEST' }),
  byCode(StoreError, {
    NOT_FOUND: 'NOT_FOUND',
    CONFLICT: 'CONFLICT',
    BAD_REQUEST: 'BAD_REQUEST',
    LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
    UNAVAILABLE: 'STORE_UNAVAILABLE',
  }),
  // Socket errors that escaped the inference client's own mapping: the backend is not there.
  {
    matches: (err) => SOCKET_DOWN.has(String((err as { code?: unknown }).code)),
    toApi: (err) => new ApiError('BACKEND_UNAVAILABLE', err.message),
  },
];

/**
 * Maps any thrown value onto a public error through {@link ERROR_TABLE}; what no row takes is INTERNAL, with
 * a message that tells the client nothing about the server.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof Error) for (const row of ERROR_TABLE) if (row.matches(err)) return row.toApi(err);
  return new ApiError('INTERNAL', 'internal error');
}

/**
 * Removes absolute server paths from a message meant for a client: every configured root (as given and as
 * its real path) becomes `<data root>`, so a caller learns the relative path it sent and nothing about the
 * server's folders.
 */
export function scrubServerPaths(text: string, roots: readonly string[]): string {
  const forms = new Set<string>();
  for (const root of roots) {
    forms.add(root);
    try {
      forms.add(realpathSync(root));
    } catch {
      // A root that does not exist appears in no message.
    }
  }
  let out = text;
  for (const form of [...forms].filter((f) => f.length > 1).sort((a, b) => b.length - a.length))
    out = out.split(form).join('<data root>');
  return out;
}
