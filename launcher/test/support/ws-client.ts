import { createClient, type Client, type SubscribePayload } from 'graphql-ws';
import WebSocket from 'ws';

/** The longest any test waits for a WebSocket result. */
export const MAX_WAIT_MS = 10_000;
const DEFAULT_WAIT_MS = 5_000;

/** An error as the gateway sends it (JSON of a GraphQL error). */
export interface WsError {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly extensions?: Record<string, unknown>;
}

/** One `next` payload of a subscription. */
export interface WsResult<T> {
  readonly data?: T | null;
  readonly errors?: readonly WsError[];
}

/** How a socket closed, as graphql-ws reports it. */
export interface WsClose {
  readonly code: number;
  readonly reason: string;
}

export interface WsClientOptions {
  /** The gateway's HTTP URL (`http://…/graphql`); ws:// is derived. */
  readonly url: string;
  /** Sent as `x-client-id` (believed from loopback). */
  readonly realm?: string;
  /** Sent as the Host header instead, e.g. `parks.localhost`. */
  readonly host?: string;
  /** Sent as `connectionParams.authorization: Bearer <token>`. */
  readonly token?: string;
  /**
   * Connect at once and stay connected while no operation runs (graphql-ws
   * `lazy: false`); by default the socket opens with the first operation
   * and closes after the last.
   */
  readonly keepOpen?: boolean;
}

/** The ws:// URL of an http:// gateway URL. */
export function wsUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** What graphql-ws constructs its sockets with. */
export type WebSocketClass = new (
  address: string | URL,
  protocols?: string | string[],
) => WebSocket;

/** A `ws` WebSocket class that sends these headers on the upgrade request. */
export function webSocketWithHeaders(
  headers: Readonly<Record<string, string>>,
): WebSocketClass {
  return class RealmWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers: { ...headers } });
    }
  };
}

/** A graphql-ws client for tests: one connection, never retried. */
export interface WsClient {
  readonly client: Client;
  /** Every close of the socket, in order. */
  readonly closes: WsClose[];
  /** How many times a connection was acknowledged by the server. */
  readonly connections: () => number;
  /** Subscribes and collects what arrives. */
  subscribe<T = Record<string, unknown>>(
    payload: SubscribePayload,
  ): Collector<T>;
  /** Resolves with the first close of the socket (bounded). */
  closed(timeoutMs?: number): Promise<WsClose>;
  dispose(): Promise<void>;
}

/**
 * Opens a graphql-ws client with the realm in the upgrade request and the
 * token in `connectionParams`. Prefer {@link WsClients} so every client
 * is disposed after each test.
 */
export function openWsClient(options: WsClientOptions): WsClient {
  const headers: Record<string, string> = {};
  if (options.realm) headers['x-client-id'] = options.realm;
  if (options.host)
    headers['host'] = `${options.host}:${new URL(options.url).port}`;

  const closes: WsClose[] = [];
  const closeWaiters: ((close: WsClose) => void)[] = [];
  const collectors = new Set<Collector<unknown>>();
  let connections = 0;

  const client = createClient({
    url: wsUrl(options.url),
    webSocketImpl: webSocketWithHeaders(headers),
    connectionParams: options.token
      ? { authorization: `Bearer ${options.token}` }
      : {},
    lazy: !options.keepOpen,
    // A refused connection shows up in `closes`, not as a thrown error.
    onNonLazyError: () => undefined,
    retryAttempts: 0,
    shouldRetry: () => false,
    on: {
      connected: () => {
        connections += 1;
      },
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        const close = { code, reason: String(reason) };
        closes.push(close);
        for (const resolve of closeWaiters.splice(0)) resolve(close);
      },
    },
  });

  return {
    client,
    closes,
    connections: () => connections,
    subscribe: <T>(payload: SubscribePayload) => {
      const collector = new Collector<T>();
      const unsubscribe = client.subscribe<T>(payload, {
        next: (result) => collector.push(result as WsResult<T>),
        error: (error) => collector.fail(error),
        complete: () => collector.complete(),
      });
      collector.onDispose(unsubscribe);
      collectors.add(collector as Collector<unknown>);
      return collector;
    },
    closed: (timeoutMs = DEFAULT_WAIT_MS) => {
      const first = closes[0];
      if (first) return Promise.resolve(first);
      return bounded(
        new Promise<WsClose>((resolve) => closeWaiters.push(resolve)),
        timeoutMs,
        'the socket to close',
      );
    },
    dispose: async () => {
      for (const collector of collectors) collector.dispose();
      collectors.clear();
      await client.dispose();
    },
  };
}

/** Every client a test file opened, so `afterEach` can close them all. */
export class WsClients {
  private readonly open = new Set<WsClient>();

  constructor(private readonly url: () => string) {}

  connect(options: Omit<WsClientOptions, 'url'>): WsClient {
    const client = openWsClient({ ...options, url: this.url() });
    this.open.add(client);
    const dispose = client.dispose;
    return {
      ...client,
      dispose: async () => {
        this.open.delete(client);
        await dispose();
      },
    };
  }

  async disposeAll(): Promise<void> {
    const clients = [...this.open];
    this.open.clear();
    await Promise.allSettled(clients.map((c) => c.dispose()));
  }
}

/**
 * What one subscription delivered: results in arrival order, and how it
 * ended (an `error` message or a close event, or `complete`). Tests await
 * a number of results or the end, always with a bounded wait.
 */
export class Collector<T> {
  readonly results: WsResult<T>[] = [];
  /** The `error` of the sink: GraphQL errors, or the socket's close event. */
  failure: unknown = undefined;
  completed = false;
  private readonly waiters = new Set<() => void>();
  private disposers: (() => void)[] = [];

  push(result: WsResult<T>): void {
    this.results.push(result);
    this.wake();
  }

  fail(error: unknown): void {
    this.failure = error;
    this.wake();
  }

  complete(): void {
    this.completed = true;
    this.wake();
  }

  get ended(): boolean {
    return this.completed || this.failure !== undefined;
  }

  /** Resolves with the first `count` results; rejects if it ends first. */
  async take(
    count: number,
    timeoutMs = DEFAULT_WAIT_MS,
  ): Promise<WsResult<T>[]> {
    await this.until(
      () => this.results.length >= count || this.ended,
      timeoutMs,
      () => `${count} result(s), got ${this.describe()}`,
    );
    if (this.results.length < count) {
      throw new Error(
        `The subscription ended after ${this.describe()} before ${count} result(s).`,
      );
    }
    return this.results.slice(0, count);
  }

  /** Resolves once the subscription ended (error, close or complete). */
  async end(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.until(
      () => this.ended,
      timeoutMs,
      () => `the subscription to end, got ${this.describe()}`,
    );
  }

  /**
   * The GraphQL error codes this subscription was answered with: from an
   * `error` message, or from errors of its results.
   */
  errorCodes(): string[] {
    const errors: WsError[] = [
      ...(Array.isArray(this.failure) ? (this.failure as WsError[]) : []),
      ...this.results.flatMap((r) => r.errors ?? []),
    ];
    return errors.map((e) => String(e.extensions?.['code'] ?? ''));
  }

  /** The close code when the sink failed with a close event. */
  closeCode(): number | undefined {
    const failure = this.failure as { code?: unknown } | undefined;
    return typeof failure?.code === 'number' ? failure.code : undefined;
  }

  onDispose(dispose: () => void): void {
    this.disposers.push(dispose);
  }

  dispose(): void {
    const disposers = this.disposers;
    this.disposers = [];
    for (const dispose of disposers) dispose();
  }

  private describe(): string {
    return JSON.stringify({
      results: this.results,
      failure: describeFailure(this.failure),
      completed: this.completed,
    });
  }

  private async until(
    done: () => boolean,
    timeoutMs: number,
    what: () => string,
  ): Promise<void> {
    if (done()) return;
    let waiter: (() => void) | undefined;
    const reached = new Promise<void>((resolve) => {
      waiter = () => {
        if (done()) resolve();
      };
      this.waiters.add(waiter);
    });
    try {
      await bounded(reached, timeoutMs, what);
    } finally {
      if (waiter) this.waiters.delete(waiter);
    }
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Rejects when `promise` takes longer than `timeoutMs` (at most 10 s). */
export async function bounded<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string | (() => string),
): Promise<T> {
  const ms = Math.min(timeoutMs, MAX_WAIT_MS);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const text = typeof what === 'function' ? what() : what;
      reject(new Error(`Timed out after ${ms} ms waiting for ${text}`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeFailure(failure: unknown): unknown {
  if (failure === undefined) return undefined;
  if (Array.isArray(failure)) return failure;
  const close = failure as { code?: unknown; reason?: unknown };
  if (typeof close.code === 'number')
    return { code: close.code, reason: String(close.reason) };
  return String(failure);
}
