/**
 * Limits on what one GraphQL operation may ask for: graphql-armor's validation rules (depth, cost, aliases,
 * directives; run before anything executes) and graphql-js's own token limit of the parser. Other limits live
 * where their data is: body bytes (http-server), pixels (imaging), prompt sets and points (resolvers),
 * sessions (annotation-sessions), concurrent benchmark jobs (benchmark-resolvers, MAX_BENCHMARK_JOBS),
 * requests per caller (rate-limit), backend calls per model (inference/backpressure).
 */
import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import type { SecurityConfig } from '../security/security-config.ts';

/** Most aliases in one operation, fragments expanded (graphql-armor's rule). */
export const MAX_ALIASES = 50;
/** Most directives in one operation, fragments expanded (graphql-armor's rule). */
export const MAX_DIRECTIVES = 50;

/** Which limit refused an operation: `extensions.limit` of the validation error. */
export type LimitName = 'depth' | 'cost' | 'aliases' | 'directives';

/**
 * Options every armor rule shares. Armor rules throw by default, which graphql-js's validate does not catch;
 * a reported error is a validation error like any other (GRAPHQL_VALIDATION_FAILED on both transports), with
 * the limit it broke and its value in `extensions`. Armor words its errors "Syntax Error: ...", although the
 * document parsed: that prefix is dropped.
 */
function reportNotThrow(limit: LimitName, max: number) {
  return {
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) =>
        context?.reportError(
          new GraphQLError(error.message.replace(/^Syntax Error: /, ''), {
            extensions: { limit, max },
          }),
        ),
    ],
  };
}

/**
 * The validation rules and parser options of the gateway, from the configuration: the one list both
 * transports use (Apollo over HTTP, graphql-ws over WebSocket), so their limits cannot drift apart.
 *
 * Depth counts field nesting (a top-level field is 1); cost counts field selections with every fragment
 * expanded where it is used (armor memoises each fragment's cost, so a fragment that uses another one twice,
 * ten levels down, is priced at its full expansion without walking it). Both count introspection too: a
 * `__schema` query nested through `ofType` is as deep as any other. Tokens: graphql-js's parser counts
 * lexical tokens itself (`maxTokens`), the count armor's max-tokens re-implements by proxying the lexer;
 * armor's Apollo integration of it parses every document a second time in a plugin hook, where a refusal
 * becomes an internal error (HTTP 500) instead of a parse failure, so the parser's own option is used.
 */
export function graphqlLimits(
  security: Pick<SecurityConfig, 'maxQueryDepth' | 'maxQueryCost' | 'maxQueryTokens'>,
): {
  validationRules: ValidationRule[];
  parseOptions: { maxTokens: number };
} {
  return {
    validationRules: [
      maxDepthRule({
        n: security.maxQueryDepth,
        flattenFragments: true,
        ignoreIntrospection: false,
        ...reportNotThrow('depth', security.maxQueryDepth),
      }) as ValidationRule,
      // Every selection costs 1 at any depth: the cost is the number of fields the executor will resolve
      // (plus two per fragment spread and one per inline fragment), not armor's default weighting that
      // grows 1.5x per level.
      costLimitRule({
        maxCost: security.maxQueryCost,
        objectCost: 1,
        scalarCost: 1,
        depthCostFactor: 1,
        flattenFragments: true,
        ignoreIntrospection: false,
        ...reportNotThrow('cost', security.maxQueryCost),
      }) as ValidationRule,
      // Aliases multiply one expensive field inside the cost limit's reach (1,400 aliased fields in one
      // request); directives are the same trick one level down. Limits stated, not hidden.
      maxAliasesRule({ n: MAX_ALIASES, ...reportNotThrow('aliases', MAX_ALIASES) }) as ValidationRule,
      maxDirectivesRule({
        n: MAX_DIRECTIVES,
        ...reportNotThrow('directives', MAX_DIRECTIVES),
      }) as ValidationRule,
    ],
    parseOptions: { maxTokens: security.maxQueryTokens },
  };
}
