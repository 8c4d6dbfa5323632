/**
 * Limits on what one GraphQL operation may ask for, as graphql-js validation rules (run by Apollo before
 * anything executes): selection depth and cost (field selections counted with fragments expanded, so a few
 * fragments cannot multiply into millions of fields), and the parser's token limit. Other limits live where
 * their data is: body bytes (http-server), pixels (imaging), prompt sets and points (resolvers), sessions
 * (annotation-sessions), concurrent benchmark jobs (benchmark-resolvers, MAX_BENCHMARK_JOBS), requests per
 * caller (rate-limit), backend calls per model (inference/backpressure).
 */
import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import type { SecurityConfig } from '../security/security-config.ts';

/** Depth and cost of one operation's selection set. */
export interface OperationSize {
  /** Deepest field nesting (a top-level field is depth 1). */
  depth: number;
  /** Field selections, every fragment spread expanded where it is used. */
  cost: number;
}

/**
 * Measures a selection set. Fragment cycles (rejected by graphql's own rule in the same pass) and runaway
 * expansion are cut off: the walk stops as soon as `stopAt` cost is passed.
 */
export function measureSelection(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  stopAt = Number.POSITIVE_INFINITY,
): OperationSize {
  let cost = 0;
  let depth = 0;
  const walk = (set: SelectionSetNode, level: number, visiting: ReadonlySet<string>): void => {
    for (const sel of set.selections) {
      if (cost > stopAt) return;
      switch (sel.kind) {
        case Kind.FIELD:
          cost += 1;
          depth = Math.max(depth, level);
          if (sel.selectionSet) walk(sel.selectionSet, level + 1, visiting);
          break;
        case Kind.INLINE_FRAGMENT:
          walk(sel.selectionSet, level, visiting);
          break;
        case Kind.FRAGMENT_SPREAD: {
          const name = sel.name.value;
          const fragment = fragments.get(name);
          if (!fragment || visiting.has(name)) break;
          walk(fragment.selectionSet, level, new Set([...visiting, name]));
          break;
        }
        default: {
          const never: never = sel;
          throw new Error(`unexpected selection ${String(never)}`);
        }
      }
    }
  };
  walk(selectionSet, 1, new Set());
  return { depth, cost };
}

/** A validation rule that rejects operations deeper than `maxDepth` or costlier than `maxCost`. */
export function operationLimitRule(limits: { maxDepth: number; maxCost: number }): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions)
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    return {
      OperationDefinition(node) {
        const size = measureSelection(node.selectionSet, fragments, limits.maxCost);
        const name = node.name?.value ?? 'anonymous';
        if (size.depth > limits.maxDepth) {
          context.reportError(
            new GraphQLError(
              `operation '${name}' is nested ${size.depth} levels deep; the limit is ${limits.maxDepth}`,
              { nodes: [node], extensions: { limit: 'depth', max: limits.maxDepth } },
            ),
          );
        }
        if (size.cost > limits.maxCost) {
          context.reportError(
            new GraphQLError(
              `operation '${name}' selects more than ${limits.maxCost} fields (fragments expanded); ask for less`,
              { nodes: [node], extensions: { limit: 'cost', max: limits.maxCost } },
            ),
          );
        }
      },
    };
  };
}

/** Most aliases in one operation, fragments expanded (graphql-armor's rule). */
export const MAX_ALIASES = 50;
/** Most directives in one operation, fragments expanded (graphql-armor's rule). */
export const MAX_DIRECTIVES = 50;

/**
 * graphql-armor rules throw by default, which graphql-js's validate does not catch; reported errors are
 * validation errors like any other (GRAPHQL_VALIDATION_FAILED on both transports).
 */
const reportNotThrow = {
  exposeLimits: true,
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
};

/**
 * The validation rules and parser options of the gateway, from the configuration: the one list both
 * transports use (Apollo over HTTP, graphql-ws over WebSocket), so their limits cannot drift apart.
 */
export function graphqlLimits(
  security: Pick<SecurityConfig, 'maxQueryDepth' | 'maxQueryCost' | 'maxQueryTokens'>,
): {
  validationRules: ValidationRule[];
  parseOptions: { maxTokens: number };
} {
  return {
    validationRules: [
      operationLimitRule({ maxDepth: security.maxQueryDepth, maxCost: security.maxQueryCost }),
      // Aliases multiply one expensive field inside the cost limit's reach (1,400 aliased fields in one
      // request); directives are the same trick one level down. Limits stated, not hidden.
      maxAliasesRule({ n: MAX_ALIASES, ...reportNotThrow }) as ValidationRule,
      maxDirectivesRule({ n: MAX_DIRECTIVES, ...reportNotThrow }) as ValidationRule,
    ],
    parseOptions: { maxTokens: security.maxQueryTokens },
  };
}
