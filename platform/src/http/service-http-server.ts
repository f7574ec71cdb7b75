import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { Logger } from 'pino';
import { REQUEST_ID_HEADER } from '../identity/forwarded-identity.js';
import { withIncomingRequestSpan } from '../tracing/spans.js';

/** The state of one dependency, as `/health/ready` reports it. */
export interface DependencyState {
  readonly ok: boolean;
  /** Why not, when not ok: a short reason, never a message from inside. */
  readonly detail?: string;
}

/**
 * Runs a readiness check: ok when it answers true; otherwise why not
 * ("no answer", or the error's code or name, e.g. ECONNREFUSED).
 */
export async function dependencyState(
  check: () => Promise<boolean>,
): Promise<DependencyState> {
  try {
    return (await check()) ? { ok: true } : { ok: false, detail: 'no answer' };
  } catch (error) {
    return { ok: false, detail: unreachable(error) };
  }
}

/** A failed call, named by its code or error name (a timeout says so). */
export function unreachable(error: unknown): string {
  const err = error as { code?: unknown; name?: unknown; cause?: unknown };
  const cause = err.cause as { code?: unknown } | undefined;
  if (err.name === 'TimeoutError') return 'timeout';
  const code = typeof err.code === 'string' ? err.code : cause?.code;
  if (typeof code === 'string') return `unreachable: ${code}`;
  return typeof err.name === 'string' ? `failed: ${err.name}` : 'failed';
}

export interface ServiceHttpServerOptions<TContext extends BaseContext> {
  readonly apollo: ApolloServer<TContext>;
  /** Builds the GraphQL context of a request (may throw a GraphQL error). */
  readonly context: (request: IncomingRequest) => Promise<TContext>;
  /** Checks each dependency for `/health/ready`. */
  readonly readiness: () => Promise<Record<string, DependencyState>>;
  readonly logger: Logger;
  /** Largest request body accepted; larger ones get 413. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** The GraphQL path. Default `/graphql`. */
  readonly path?: string;
  /** Names the service on its request spans (several share a process). */
  readonly serviceName?: string;
  /** Extra routes tried before the GraphQL path (e.g. a metrics page). */
  readonly routes?: Record<
    string,
    (req: IncomingMessage, res: ServerResponse) => void
  >;
  /**
   * Tried on every GraphQL request after its body is read and before
   * Apollo Server sees it; an answer it returns is sent as it is, null
   * hands the request to Apollo Server. The context it may build is the
   * one Apollo Server then gets (built once). The gateway answers
   * repeated reads from its read cache this way.
   */
  readonly shortcut?: (request: {
    readonly method: string;
    readonly headers: IncomingHttpHeaders;
    readonly body: unknown;
    readonly context: () => Promise<TContext>;
  }) => Promise<{
    readonly status: number;
    readonly headers: Readonly<Record<string, string>>;
    readonly body: string;
  } | null>;
}

/** What the context builder sees of an HTTP request. */
export interface IncomingRequest {
  readonly raw: IncomingMessage;
  readonly requestId: string;
}

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/**
 * Deepest JSON a request may hold. Real inputs are a few levels deep; a
 * value thousands of levels deep would overflow the stack wherever it is
 * later serialised (forwarding to a subgraph, say).
 */
export const MAX_JSON_NESTING = 32;
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Serves a GraphQL service on plain `node:http`: the Apollo server at
 * `/graphql`, plus `/health/live` and `/health/ready`. No web framework:
 * the routes are few and this path is hot.
 */
export async function startServiceHttpServer<TContext extends BaseContext>(
  options: ServiceHttpServerOptions<TContext>,
  port: number,
  host = '127.0.0.1',
): Promise<RunningServer> {
  const handler = createRequestHandler(options);
  const server = createServer((req, res) => {
    withIncomingRequestSpan(req, options.serviceName, () =>
      handler(req, res),
    ).catch((error: unknown) => {
      options.logger.error({ err: error }, 'request handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // Keep-alive sockets from the gateway outlive a request; cap idle time.
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    port: address.port,
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${address.port}${options.path ?? '/graphql'}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function createRequestHandler<TContext extends BaseContext>(
  options: ServiceHttpServerOptions<TContext>,
) {
  const graphqlPath = options.path ?? '/graphql';
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const offered = headerValue(req, REQUEST_ID_HEADER);
    const requestId =
      offered && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    res.setHeader(REQUEST_ID_HEADER, requestId);

    if (url.pathname === '/health/live') {
      return sendJson(res, 200, { status: 'ok' });
    }
    if (url.pathname === '/health/ready') {
      const dependencies = await options.readiness();
      const ok = Object.values(dependencies).every((d) => d.ok);
      return sendJson(res, ok ? 200 : 503, {
        status: ok ? 'ok' : 'unavailable',
        dependencies,
      });
    }
    const route = options.routes?.[url.pathname];
    if (route) return route(req, res);
    if (url.pathname !== graphqlPath) {
      return sendJson(res, 404, { error: 'not found' });
    }

    const body = await readBody(req, maxBodyBytes);
    if (body.kind === 'too-large') {
      return sendGraphQLError(
        res,
        413,
        `Request body is larger than ${maxBodyBytes} bytes.`,
      );
    }
    let parsedBody: unknown = body.text;
    if (isJson(req) && body.text.length > 0) {
      try {
        parsedBody = JSON.parse(body.text);
      } catch {
        return sendGraphQLError(res, 400, 'Request body is not valid JSON.');
      }
    }

    if (nestingExceeds(parsedBody, MAX_JSON_NESTING)) {
      return sendGraphQLError(
        res,
        400,
        `Request body is nested deeper than ${MAX_JSON_NESTING} levels.`,
      );
    }

    let context: Promise<TContext> | undefined;
    const requestContext = () =>
      (context ??= options.context({ raw: req, requestId }));
    const method = (req.method ?? 'GET').toUpperCase();
    const shortcut = await options.shortcut?.({
      method,
      headers: req.headers,
      body: parsedBody,
      context: requestContext,
    });
    if (shortcut) {
      res.statusCode = shortcut.status;
      for (const [name, value] of Object.entries(shortcut.headers)) {
        res.setHeader(name, value);
      }
      res.end(shortcut.body);
      return;
    }

    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined)
        headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const result = await options.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: {
        method,
        headers,
        search: url.search,
        body: parsedBody,
      },
      context: requestContext,
    });

    res.statusCode = result.status ?? 200;
    for (const [name, value] of result.headers) res.setHeader(name, value);
    if (result.body.kind === 'complete') {
      res.end(result.body.string);
      return;
    }
    for await (const chunk of result.body.asyncIterator) res.write(chunk);
    res.end();
  };
}

type BodyResult = { kind: 'ok'; text: string } | { kind: 'too-large' };

function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    req.resume();
    return Promise.resolve({ kind: 'too-large' });
  }
  // Events rather than `for await`: the stream's async iterator costs a
  // few promises and objects per request, measurable on the read cache's
  // hit path (bench/README.md), and a body is nearly always one chunk.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      // The rest is read and dropped, so the connection stays usable for
      // the 413 answer.
      req.off('data', onData);
      req.resume();
      settle();
      resolve({ kind: 'too-large' });
    };
    const onEnd = () => {
      settle();
      const [only] = chunks;
      const text =
        chunks.length === 1 && only
          ? only.toString('utf8')
          : Buffer.concat(chunks).toString('utf8');
      resolve({ kind: 'ok', text });
    };
    const onError = (error: Error) => {
      settle();
      reject(error);
    };
    const onClose = () => {
      if (req.complete) return;
      settle();
      reject(new Error('The request ended before its body did.'));
    };
    const settle = () => {
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

function isJson(req: IncomingMessage): boolean {
  const type = req.headers['content-type'] ?? '';
  return /^application\/(.+\+)?json\b/i.test(type);
}

export function headerValue(
  req: IncomingMessage,
  name: string,
): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

function sendGraphQLError(
  res: ServerResponse,
  status: number,
  message: string,
): void {
  sendJson(res, status, {
    errors: [{ message, extensions: { code: 'BAD_REQUEST' } }],
  });
}

/** True when `value` has arrays or objects nested deeper than `maxDepth`. */
export function nestingExceeds(value: unknown, maxDepth: number): boolean {
  // Iterative, so the check itself cannot overflow the stack.
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop() as [unknown, number];
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= maxDepth) return true;
    for (const child of Object.values(current))
      pending.push([child, depth + 1]);
  }
  return false;
}
