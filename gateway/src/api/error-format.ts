/**
 * The one error boundary of the API, used by Apollo (HTTP) and by graphql-ws (WebSocket) alike. Resolvers and
 * the layers below throw their own typed errors; here each is mapped once, through the table of
 * api/errors.ts, onto a public code. Refusals of graphql-js and Apollo (parse, validation, variables) and the
 * gateway's own GraphQLErrors (authentication, limits) keep their codes; anything else is answered as
 * INTERNAL with the request id, and logged.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { ERROR_CODES, scrubServerPaths, toApiError } from './errors.ts';

/** Codes graphql-js and Apollo give their own refusals (parse, validation, variables, operation resolution). */
function isFrameworkCode(code: string): boolean {
  return (
    code.startsWith('GRAPHQL_') ||
    code === 'BAD_USER_INPUT' ||
    code === 'PERSISTED_QUERY_NOT_FOUND' ||
    // Apollo's answer to an operationName that names no operation of the document (HTTP 400).
    code === 'OPERATION_RESOLUTION_FAILURE'
  );
}

/** A public code other than INTERNAL, which is never passed on as given. */
function isPublicCode(code: unknown): code is string {
  return typeof code === 'string' && code !== 'INTERNAL' && Object.hasOwn(ERROR_CODES, code);
}

/** The error a resolver (or the code under it) threw: graphql-js wraps it, with its path, in GraphQLErrors. */
function thrownBy(error: unknown): unknown {
  let e = error;
  while (e instanceof GraphQLError && e.originalError !== undefined) e = e.originalError;
  return e;
}

const requestIds = new AsyncLocalStorage<string>();

/** Runs `fn` (one HTTP request's execution) so that errors formatted inside it carry `requestId`. */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return requestIds.run(requestId, fn);
}

/** Formats one error for the client: `formatted` as graphql-js or Apollo serialised it, `error` as thrown. */
export type ErrorFormat = (
  formatted: GraphQLFormattedError,
  error: unknown,
  requestId?: string,
) => GraphQLFormattedError;

/**
 * A formatError function (Apollo's signature, plus the request id where the caller knows it): maps every
 * thrown error through the error table, keeps framework and gateway refusals, masks the rest as INTERNAL
 * and logs it. Messages lose the server's data-root paths. It never throws.
 */
export function errorFormatter(log: Logger, dataRoots: readonly string[] = []): ErrorFormat {
  return (formatted, error, requestId = requestIds.getStore()) => {
    const ids = requestId ? { requestId } : {};
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && isFrameworkCode(code))
      return { ...formatted, extensions: { ...formatted.extensions, stacktrace: undefined } };
    const thrown = thrownBy(error);
    if (thrown instanceof GraphQLError) {
      // The gateway's own refusals (authentication, roles, rate and query limits) are built with their code.
      if (isPublicCode(code))
        return { ...formatted, extensions: { ...formatted.extensions, stacktrace: undefined, ...ids } };
    } else {
      const api = toApiError(thrown);
      if (api.code !== 'INTERNAL')
        return {
          message: scrubServerPaths(api.message, dataRoots),
          ...(formatted.locations ? { locations: formatted.locations } : {}),
          ...(formatted.path ? { path: formatted.path } : {}),
          extensions: { code: api.code, ...ids, ...api.details },
        };
    }
    log.error({ err: thrown, path: formatted.path, ...ids }, 'internal error');
    return {
      message: 'internal error',
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: 'INTERNAL', ...ids },
    };
  };
}

/** Formats GraphQLErrors (as graphql-js returns them, e.g. to graphql-ws) through `format`. */
export function formatErrors(
  errors: readonly GraphQLError[],
  format: ErrorFormat,
  requestId?: string,
): GraphQLFormattedError[] {
  return errors.map((e) => format(e.toJSON(), e, requestId));
}
