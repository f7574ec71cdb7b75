import { request, type IncomingHttpHeaders } from 'node:http';

/** One GraphQL error as a client reads it. */
export interface WireError {
  readonly message: string;
  readonly path?: (string | number)[];
  readonly extensions?: Record<string, unknown>;
}

/** An HTTP answer of the gateway, raw and (when it is JSON) parsed. */
export interface HostileResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The parsed body, or undefined when it is not JSON. */
  readonly body: { data?: unknown; errors?: WireError[] } | undefined;
  /** The first error's `extensions.code`, if any. */
  readonly code: unknown;
}

export interface HostileRequest {
  readonly method?: 'GET' | 'POST';
  /** The query string, with its `?`, for GET requests. */
  readonly search?: string;
  readonly headers?: Record<string, string>;
  /** The exact bytes to send (a string is sent as UTF-8). */
  readonly body?: string | Buffer;
  /**
   * Send the body in 64 KiB chunks with no Content-Length, so the server
   * cannot refuse it by its declared size and has to count.
   */
  readonly chunked?: boolean;
}

/**
 * Every answer of the gateway this process has received through `send`,
 * so one test at the end can look through all of them for leaks.
 */
export const answers: {
  readonly label: string;
  readonly status: number;
  readonly text: string;
}[] = [];

/**
 * Sends one request exactly as given (body, content type, method), with
 * node:http so nothing is normalised on the way, and records the answer.
 */
export async function send(
  url: string,
  options: HostileRequest = {},
): Promise<HostileResponse> {
  const target = new URL(url);
  if (options.search !== undefined) target.search = options.search;
  const method = options.method ?? 'POST';
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined && !options.chunked) {
    headers['content-length'] = String(Buffer.byteLength(options.body));
  }
  const answer = await new Promise<{
    status: number;
    headers: IncomingHttpHeaders;
    text: string;
  }>((resolve, reject) => {
    const req = request(target, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.chunked && options.body !== undefined) {
      const bytes = Buffer.from(options.body);
      for (let at = 0; at < bytes.length; at += 64 * 1024) {
        req.write(bytes.subarray(at, at + 64 * 1024));
      }
      req.end();
    } else {
      req.end(options.body);
    }
  });
  answers.push({
    label: `${method} ${target.pathname}${target.search.slice(0, 80)}`,
    status: answer.status,
    // Headers too: a leak may hide in one (a server banner, an address).
    text: `${JSON.stringify(answer.headers)}\n${answer.text}`,
  });
  let body: HostileResponse['body'];
  try {
    body = JSON.parse(answer.text) as HostileResponse['body'];
  } catch {
    body = undefined;
  }
  return { ...answer, body, code: body?.errors?.[0]?.extensions?.['code'] };
}

/** Options of a GraphQL request sent as an ordinary JSON POST. */
export interface OperationOptions {
  readonly realm?: string;
  readonly token?: string;
  readonly variables?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
}

/** Realm and token headers for a request. */
export function callerHeaders(
  options: Pick<OperationOptions, 'realm' | 'token'>,
): Record<string, string> {
  return {
    ...(options.realm ? { 'x-client-id': options.realm } : {}),
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };
}

/** Posts one operation as JSON, the way a well-behaved client would. */
export function operation(
  url: string,
  query: string,
  options: OperationOptions = {},
): Promise<HostileResponse> {
  return send(url, {
    headers: {
      'content-type': 'application/json',
      ...callerHeaders(options),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables: options.variables }),
  });
}

/**
 * What must never reach a client: a stack trace, a path on the server's
 * disk, or the address of an internal service.
 */
export const LEAK_PATTERNS: readonly RegExp[] = [
  /stacktrace/i,
  /(^|\n|\\n|")\s{2,}at \S/m,
  /\/work\//,
  /node_modules/,
  /127\.0\.0\.1:/,
];

/** The leak patterns a response text matches. */
export function leaksIn(text: string): string[] {
  return LEAK_PATTERNS.filter((p) => p.test(text)).map(String);
}
