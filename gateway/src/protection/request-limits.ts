import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { ValidationRule } from 'graphql';

/**
 * Limits on what one operation may ask for. Preference reads are shallow
 * and small; these leave room for real clients (and Sandbox's
 * introspection, which is exempt) while refusing the amplification tricks:
 * deep nesting, alias floods, directive overloading, huge documents.
 */
export const REQUEST_LIMITS = {
  /** Nesting of selections (introspection is exempt). */
  maxDepth: 12,
  /** Aliased fields in one document. */
  maxAliases: 15,
  /** Directives in one document. */
  maxDirectives: 20,
  /** Lexical tokens in one document. */
  maxTokens: 2_000,
  /** Estimated cost (objects and scalars, weighted by depth). */
  maxCost: 5_000,
} as const;

/** Apollo plugins and validation rules that enforce REQUEST_LIMITS. */
export function requestLimits<TContext extends BaseContext>(
  production: boolean,
): {
  plugins: ApolloServerPlugin<TContext>[];
  validationRules: ValidationRule[];
} {
  const armor = new ApolloArmor({
    maxDepth: { n: REQUEST_LIMITS.maxDepth, ignoreIntrospection: true },
    maxAliases: { n: REQUEST_LIMITS.maxAliases },
    maxDirectives: { n: REQUEST_LIMITS.maxDirectives },
    // The token limit is the parser's own (`parseOptions.maxTokens`): armor's
    // version throws from a hook Apollo treats as a crash (HTTP 500).
    maxTokens: { enabled: false },
    costLimit: { maxCost: REQUEST_LIMITS.maxCost, ignoreIntrospection: true },
    // Suggestions ("Did you mean …?") map the schema for an attacker; in
    // development they help whoever writes the query.
    blockFieldSuggestion: { enabled: production },
  });
  const { plugins, validationRules } = armor.protect();
  return {
    plugins: plugins as ApolloServerPlugin<TContext>[],
    validationRules,
  };
}
