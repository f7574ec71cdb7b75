import type { IncomingHttpHeaders } from 'node:http';
import Negotiator from 'negotiator';
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
 * the same `content-type` (negotiated as Apollo Server does) and
 * `cache-control: no-store` that Apollo Server sends.
 *
 * Anything unusual falls through to Apollo Server unchanged: GET requests
 * (CSRF rules and persisted queries live there), persisted queries, an
 * `accept` header that Apollo Server would answer otherwise, a
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
    const contentType = method === 'POST' ? mediaType(headers['accept']) : null;
    if (!contentType) return null;
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
        'content-type': contentType,
        'cache-control': 'no-store',
      },
      // Apollo Server's own serialisation ends with a newline.
      body: `${answer.json}\n`,
    };
  };
}

const JSON_MEDIA_TYPE = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE_MEDIA_TYPE =
  'application/graphql-response+json; charset=utf-8';
/** The media types Apollo Server offers a single result in, in its order. */
const RESULT_MEDIA_TYPES = [
  JSON_MEDIA_TYPE,
  GRAPHQL_RESPONSE_MEDIA_TYPE,
  'application/json; callbackSpec=1.0; charset=utf-8',
];

/**
 * The content type Apollo Server would answer with, chosen the way it
 * chooses (with the same negotiator); null when it would not answer with
 * a plain result (the callback type, or nothing acceptable): those go to
 * Apollo Server. Apollo Client sends
 * `application/graphql-response+json,application/json;q=0.9`.
 */
function mediaType(accept: string | undefined): string | null {
  if (!accept) return JSON_MEDIA_TYPE;
  const chosen = new Negotiator({ headers: { accept } }).mediaType(
    RESULT_MEDIA_TYPES,
  );
  return chosen === JSON_MEDIA_TYPE || chosen === GRAPHQL_RESPONSE_MEDIA_TYPE
    ? chosen
    : null;
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
