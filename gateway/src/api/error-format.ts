/**
 * The one error mask of the API, used by Apollo (HTTP) and by graphql-ws (WebSocket) alike: known public codes
 * pass through with their messages; anything else is answered as INTERNAL with the request id, and logged.
 */
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { ERROR_CODES } from './errors.ts';

/** Codes graphql-js and Apollo give their own refusals (parse, validation, operation resolution). */
function isPassThrough(code: string): boolean {
  return (
    code in ERROR_CODES ||
    code.startsWith('GRAPHQL_') ||
    code === 'BAD_USER_INPUT' ||
    code === 'PERSISTED_QUERY_NOT_FOUND' ||
    // Apollo's answer to an operationName that names no operation of the document (HTTP 400).
    code === 'OPERATION_RESOLUTION_FAILURE' ||
    code === 'BAD_REQUEST'
  );
}

/** A formatError function: masks every error without a known public code as INTERNAL, and logs it. */
export function errorFormatter(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && isPassThrough(code) && code !== 'INTERNAL')
      return { ...formatted, extensions: { ...formatted.extensions, stacktrace: undefined } };
    log.error({ err: error, path: formatted.path }, 'internal error');
    return {
      message: 'internal error',
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: 'INTERNAL', requestId: formatted.extensions?.requestId },
    };
  };
}

/** Formats GraphQLErrors (as graphql-js returns them) through `format`. */
export function formatErrors(
  errors: readonly GraphQLError[],
  format: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError,
): GraphQLFormattedError[] {
  return errors.map((e) => format(e.toJSON(), e.originalError ?? e));
}
