import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * A `ws` WebSocket that names its realm on the upgrade request, as a
 * browser behind the realm's proxy would.
 */
function realmWebSocket(realm: string) {
  return class RealmWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers: { 'x-client-id': realm } });
    }
  };
}

/** One graphql-ws subscription and everything it received. */
export interface Subscription<T> {
  readonly results: T[];
  readonly errors: unknown[];
  /** Resolves once `count` results arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<T[]>;
  /** Ends the subscription and closes its connection. */
  close(): Promise<void>;
}

/**
 * Subscribes over its own connection, without retries: a closed socket
 * ends the subscription (the caller resumes with a cursor, as a client
 * would after a gateway restart).
 */
export function subscribe<T>(options: {
  url: string;
  realm: string;
  token: string;
  query: string;
  variables?: Record<string, unknown>;
}): Subscription<T> {
  const client: Client = createClient({
    url: options.url.replace(/^http/, 'ws'),
    webSocketImpl: realmWebSocket(options.realm),
    connectionParams: { authorization: `Bearer ${options.token}` },
    retryAttempts: 0,
    lazy: false,
    // Surfaces connection errors instead of retrying silently.
    onNonLazyError: () => undefined,
  });
  const results: T[] = [];
  const errors: unknown[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const unsubscribe = client.subscribe<T>(
    { query: options.query, variables: options.variables ?? {} },
    {
      next: (result) => {
        if (result.errors) errors.push(...result.errors);
        if (result.data) results.push(result.data as T);
        notify();
      },
      error: (error) => {
        errors.push(error);
        notify();
      },
      complete: () => notify(),
    },
  );

  return {
    results,
    errors,
    waitFor: (count, timeoutMs = 10_000) =>
      new Promise<T[]>((resolve, reject) => {
        const check = () => {
          if (results.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(results.slice(0, count));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `expected ${count} results within ${timeoutMs} ms, got ` +
                `${results.length}: ${JSON.stringify(results)} ` +
                `errors: ${JSON.stringify(errors.map(describe))}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: async () => {
      unsubscribe();
      await client.dispose();
    },
  };
}

function describe(error: unknown): unknown {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'code' in error) {
    const { code, reason } = error as { code: unknown; reason?: unknown };
    return { code, reason };
  }
  return error;
}
