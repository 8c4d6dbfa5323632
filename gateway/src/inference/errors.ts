/**
 * The one table of inference error codes the gateway exposes, and the one place that maps gRPC statuses
 * (as Triton and the embedded server send them) and socket errors onto it.
 * gRPC status codes: https://grpc.github.io/grpc/core/md_doc_statuscodes.html
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

/** Public inference error codes (carried up to GraphQL `extensions.code`). */
export const INFERENCE_ERROR_CODES = [
  'BACKEND_UNAVAILABLE',
  'MODEL_NOT_FOUND',
  'MODEL_NOT_READY',
  'INVALID_INPUT',
  'DEADLINE_EXCEEDED',
  'RESOURCE_EXHAUSTED',
  'INTERNAL',
] as const;

/** One inference error code. */
export type InferenceErrorCode = (typeof INFERENCE_ERROR_CODES)[number];

/** A failed inference call: a public code, the gRPC status when one came back, and the server's own words. */
export class InferenceError extends Error {
  constructor(
    readonly code: InferenceErrorCode,
    message: string,
    /** The gRPC status code received, absent for errors raised before sending (validation, socket). */
    readonly grpcStatus?: number,
    /** The backend's raw message (gRPC `details`, or the socket error), for logs. */
    readonly details: string = '',
  ) {
    super(message);
    this.name = 'InferenceError';
  }
}

/** Where a failure happened, to make messages actionable. */
export interface ErrorContext {
  address: string;
  rpc: string;
  model?: string;
}

const UNKNOWN_MODEL = /unknown model|not found|no such model/i;
// Texts that say the model exists but cannot serve now (Triton: "has no available versions", "is not at ready
// state"; the embedded server: "is not ready"); checked before UNKNOWN_MODEL because Triton prefixes them
// with "Request for unknown model".
const NOT_READY = /no available versions|not at ready state|not ready/i;
const NOT_READY_LOOSE = /unavailable|not loaded|loading|failed to load/i;

/** A socket-level errno string (ECONNREFUSED ...) found on an error or its cause, if any. */
function socketErrno(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Maps any failure of a call (a grpc-js ServiceError, a socket error, an InferenceError) to an InferenceError.
 * The switch below is the single mapping table.
 */
export function toInferenceError(err: unknown, ctx: ErrorContext): InferenceError {
  if (err instanceof InferenceError) return err;
  const where = `${ctx.rpc}${ctx.model ? ` '${ctx.model}'` : ''} at ${ctx.address}`;
  const errObj = (err ?? {}) as { code?: unknown; details?: unknown; message?: unknown };
  const details = typeof errObj.details === 'string' ? errObj.details : String(errObj.message ?? err);
  const status = typeof errObj.code === 'number' ? errObj.code : undefined;
  if (status === undefined) {
    const errno = socketErrno(err);
    switch (errno) {
      // The server is down, unreachable or dropped the connection: retrying later may succeed.
      case 'ECONNREFUSED':
      case 'ECONNRESET':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
      case 'ETIMEDOUT':
      case 'EPIPE':
        return new InferenceError(
          'BACKEND_UNAVAILABLE',
          `inference backend unreachable (${errno}): ${where}`,
          undefined,
          details,
        );
      // Anything else thrown locally is a bug or an unexpected condition.
      default:
        return new InferenceError('INTERNAL', `${where} failed: ${details}`, undefined, details);
    }
  }
  const make = (code: InferenceErrorCode, what: string) =>
    new InferenceError(code, `${what}: ${where}: ${details}`, status, details);
  switch (status) {
    // Triton (>= 2.x cores) answers an unknown model with INVALID_ARGUMENT "Request for unknown model";
    // any other INVALID_ARGUMENT is a tensor the model cannot take.
    case GrpcStatus.INVALID_ARGUMENT:
      if (NOT_READY.test(details) && /model/i.test(details))
        return make('MODEL_NOT_READY', 'model not ready');
      return UNKNOWN_MODEL.test(details) && /model/i.test(details)
        ? make('MODEL_NOT_FOUND', 'model not found')
        : make('INVALID_INPUT', 'invalid inference input');
    // Some servers (and Triton for unknown versions) use NOT_FOUND.
    case GrpcStatus.NOT_FOUND:
      if (NOT_READY.test(details)) return make('MODEL_NOT_READY', 'model not ready');
      return make('MODEL_NOT_FOUND', 'model not found');
    // UNAVAILABLE is overloaded: older Triton releases report unknown models with it, a model that is not
    // ready comes with a text saying so, and grpc-js uses it for a connection that cannot be made.
    case GrpcStatus.UNAVAILABLE:
      if (NOT_READY.test(details) && /model/i.test(details))
        return make('MODEL_NOT_READY', 'model not ready');
      if (/unknown model/i.test(details)) return make('MODEL_NOT_FOUND', 'model not found');
      if (/model/i.test(details) && NOT_READY_LOOSE.test(details))
        return make('MODEL_NOT_READY', 'model not ready');
      return make('BACKEND_UNAVAILABLE', 'inference backend unavailable');
    // The call was cancelled, typically because the channel was closed under it.
    case GrpcStatus.CANCELLED:
      return make('BACKEND_UNAVAILABLE', 'inference call cancelled');
    // The per-call deadline passed before the answer arrived.
    case GrpcStatus.DEADLINE_EXCEEDED:
      return make('DEADLINE_EXCEEDED', 'inference deadline exceeded');
    // Message over a size limit, or the server's queue is full.
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return make('RESOURCE_EXHAUSTED', 'inference resources exhausted');
    // A request that names values outside what the model accepts.
    case GrpcStatus.OUT_OF_RANGE:
      return make('INVALID_INPUT', 'invalid inference input');
    // A precondition on the model's state: treat as not ready when the text says so, else as bad input.
    case GrpcStatus.FAILED_PRECONDITION:
      return NOT_READY.test(details) || NOT_READY_LOOSE.test(details)
        ? make('MODEL_NOT_READY', 'model not ready')
        : make('INVALID_INPUT', 'invalid inference input');
    // The RPC does not exist on this server: it does not speak the protocol (or this subset of it).
    case GrpcStatus.UNIMPLEMENTED:
      return make('INTERNAL', 'RPC not implemented by the backend');
    // Authentication and permission failures are deployment errors, not the caller's.
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.PERMISSION_DENIED:
      return make('INTERNAL', 'inference backend refused the call');
    // Server-side failures and statuses a KServe server never sends on a unary call.
    case GrpcStatus.OK:
    case GrpcStatus.UNKNOWN:
    case GrpcStatus.ALREADY_EXISTS:
    case GrpcStatus.ABORTED:
    case GrpcStatus.INTERNAL:
    case GrpcStatus.DATA_LOSS:
      return make('INTERNAL', 'inference backend failed');
    default:
      return make('INTERNAL', `inference backend failed with gRPC status ${status}`);
  }
}
