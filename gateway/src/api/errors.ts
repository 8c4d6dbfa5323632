/**
 * The public error codes of the GraphQL API, carried in `extensions.code`, and the one place where errors
 * of the layers below (inference, imaging, sessions) are mapped onto them.
 */
import { realpathSync } from 'node:fs';
import { GraphQLError } from 'graphql';

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

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

/**
 * Maps any error thrown below the API onto a public code. Errors of the inference and imaging layers carry
 * a `code` property from their own tables; where it names a public code it passes through unchanged.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    // The state store's errors (store/state-store.ts StoreError) name their own small table.
    if (err.name === 'StoreError') {
      if (code === 'UNAVAILABLE') return new ApiError('STORE_UNAVAILABLE', err.message);
      if (code === 'CONFLICT') return new ApiError('CONFLICT', err.message);
    }
    switch (code) {
      // The inference layer's INVALID_INPUT means the gateway built a tensor the model rejects: a bug or an
      // incompatible model, not the client's fault, unless a prompt caused it; surface it as BAD_REQUEST.
      case 'INVALID_INPUT':
        return new ApiError('BAD_REQUEST', err.message);
      // Socket errors that escaped the inference client's mapping: the backend is not there.
      case 'ECONNREFUSED':
      case 'ECONNRESET':
      case 'EHOSTUNREACH':
        return new ApiError('BACKEND_UNAVAILABLE', err.message);
      default:
        if (isErrorCode(code) && code !== 'INTERNAL') {
          // Overload errors (backend queue, rate limit) say when to come back; keep that for the client.
          const retry = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
          return new ApiError(
            code,
            err.message,
            typeof retry === 'number' ? { retryAfterSeconds: retry } : {},
          );
        }
    }
  }
  return new ApiError('INTERNAL', 'internal error');
}

/** Converts an error into the GraphQLError a resolver throws. */
export function toGraphQLError(err: unknown, requestId?: string): GraphQLError {
  const api = toApiError(err);
  return new GraphQLError(api.message, {
    extensions: { code: api.code, ...(requestId ? { requestId } : {}), ...api.details },
    originalError: err instanceof Error ? err : undefined,
  });
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
