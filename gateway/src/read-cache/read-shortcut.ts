import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayContext } from '../gateway-server.js';
import { readCacheKey } from './read-cache-plugin.js';
import type { ResponseCache } from './response-cache.js';

/** What the HTTP server hands a shortcut: the request, read and parsed. */
export interface ShortcutRequest<TContext> {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** The JSON body, parsed (anything a client sent). */
  readonly body: unknown;
  /** The request's context, built once and shared with Apollo. */
  readonly context: () => Promise<TContext>;
}

/** A complete HTTP answer. */
export interface ShortcutResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface ReadShortcutOptions {
  /** The configuration version in force (part of every key). */
  readonly version: () => number;
  /** Told of each answer given, for the request and cache metrics. */
  readonly onHit: (hit: {
    readonly context: GatewayContext;
    readonly operationName: string | null;
    readonly seconds: number;
  }) => void;
}

/**
 * Answers a repeated preference read from the read cache before Apollo
 * Server parses, validates or plans it: the hot path of every page view.
 *
 * An entry exists only for a request that went through the whole pipeline
 * once (limits, validation, root-field policy, execution) with the same
 * realm, user, roles, configuration version, query text, operation name
 * and variables, and was invalidated by every change since. So a hit has
 * already passed every check a second run would make, and the answer is
 * the one the cache plugin would give, byte for byte: the same JSON text,
 * the same `content-type` and `cache-control: no-store` that Apollo Server
 * sends.
 *
 * Anything unusual falls through to Apollo Server unchanged: GET requests
 * (CSRF rules and persisted queries live there), requests with
 * `extensions`, an `accept` header that asks for another media type, a
 * request without a realm or whose identity does not verify (the context
 * then throws, and Apollo reports it), and every miss.
 */
export function readShortcut(
  cache: ResponseCache,
  options: ReadShortcutOptions,
): (
  request: ShortcutRequest<GatewayContext>,
) => Promise<ShortcutResponse | null> {
  return async ({ method, headers, body, context }) => {
    const started = performance.now();
    if (method !== 'POST' || !plainJsonAccepted(headers['accept'])) {
      return null;
    }
    const request = shortcutBody(body);
    if (!request) return null;

    let gateway: GatewayContext;
    try {
      gateway = await context();
    } catch {
      return null;
    }
    if (!gateway.realm || gateway.realmError) return null;

    const answer = cache.getAnswer(
      readCacheKey(gateway, options.version(), request),
    );
    if (answer === null) return null;
    options.onHit({
      context: gateway,
      // As Apollo Server names it: the document's, not the request's.
      operationName: answer.operationName,
      seconds: (performance.now() - started) / 1000,
    });
    return {
      status: 200,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
      },
      // Apollo Server's own serialisation ends with a newline.
      body: `${answer.json}\n`,
    };
  };
}

/** Apollo answers `application/json` here; anything else is its to decide. */
function plainJsonAccepted(accept: string | undefined): boolean {
  if (accept === undefined || accept === '' || accept === '*/*') return true;
  return (
    /\bapplication\/json\b/i.test(accept) &&
    !/graphql-response|callbackSpec/i.test(accept)
  );
}

interface ShortcutBody {
  readonly query: string;
  readonly operationName?: string;
  readonly variables?: Record<string, unknown>;
}

/**
 * The body as a plain read, or null when anything in it is unusual. Null
 * fields count as absent, as Apollo Server reads them; `extensions` may
 * come along (clients add their name) unless it holds a persisted query.
 */
function shortcutBody(body: unknown): ShortcutBody | null {
  if (!isRecord(body)) return null;
  const { query, operationName, variables, extensions, ...rest } = body;
  if (typeof query !== 'string' || Object.keys(rest).length > 0) return null;
  if (operationName != null && typeof operationName !== 'string') return null;
  if (variables != null && !isRecord(variables)) return null;
  if (
    extensions != null &&
    (!isRecord(extensions) || 'persistedQuery' in extensions)
  ) {
    return null;
  }
  return {
    query,
    ...(typeof operationName === 'string' ? { operationName } : {}),
    ...(variables != null ? { variables } : {}),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
