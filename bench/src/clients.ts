import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** A `ws` WebSocket that names its realm on the upgrade request. */
function realmWebSocket(realm: string) {
  return class RealmWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers: { 'x-client-id': realm } });
    }
  };
}

/**
 * Called for every result any subscriber receives: the change's version,
 * when it was stored (epoch ms, from the event), and when the result
 * arrived (performance.now() and epoch ms).
 */
export type OnResult = (
  version: number,
  storedAt: number,
  arrivedAt: number,
  arrivedAtEpoch: number,
) => void;

export interface PoolOptions {
  readonly url: string;
  readonly realm: string;
  readonly token: string;
  readonly query: string;
  readonly subscribers: number;
  readonly connections: number;
  readonly onResult: OnResult;
}

/**
 * `subscribers` graphql-ws subscriptions spread over `connections`
 * WebSocket connections (several subscriptions share a connection when
 * there are more subscribers than connections). No retries: a closed
 * connection is counted, not reopened.
 */
export class SubscriberPool {
  private readonly clients: Client[] = [];
  private readonly unsubscribes: (() => void)[] = [];
  /** Close codes of connections that closed while the pool was open. */
  readonly closes = new Map<number, number>();
  /** GraphQL or transport errors received. */
  errors = 0;
  lastError: string | null = null;
  private disposed = false;

  constructor(private readonly options: PoolOptions) {}

  /** Opens every connection and starts every subscription. */
  async open(onProgress: (opened: number) => void): Promise<void> {
    const { subscribers, connections } = this.options;
    const batch = 100;
    let subscribed = 0;
    for (let first = 0; first < connections; first += batch) {
      const opening: Promise<void>[] = [];
      for (let c = first; c < Math.min(connections, first + batch); c += 1) {
        // Subscriptions dealt round-robin over the connections.
        const count =
          Math.floor(subscribers / connections) +
          (c < subscribers % connections ? 1 : 0);
        opening.push(this.connect(count));
        subscribed += count;
      }
      await Promise.all(opening);
      onProgress(subscribed);
    }
  }

  private connect(subscriptions: number): Promise<void> {
    const { url, realm, token, query, onResult } = this.options;
    return new Promise<void>((resolve, reject) => {
      const client = createClient({
        url: url.replace(/^http/, 'ws'),
        webSocketImpl: realmWebSocket(realm),
        connectionParams: { authorization: `Bearer ${token}` },
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: (error) => reject(asError(error)),
        on: {
          connected: () => resolve(),
          closed: (event) => {
            if (this.disposed) return;
            const code = (event as { code?: number }).code ?? 0;
            this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
          },
        },
      });
      this.clients.push(client);
      for (let i = 0; i < subscriptions; i += 1) {
        this.unsubscribes.push(
          client.subscribe<{
            preferenceChanged: { version: number; at: string };
          }>(
            { query },
            {
              next: (result) => {
                const arrivedAt = performance.now();
                const arrivedAtEpoch = Date.now();
                const change = result.data?.preferenceChanged;
                if (change)
                  onResult(
                    change.version,
                    Date.parse(change.at),
                    arrivedAt,
                    arrivedAtEpoch,
                  );
                if (result.errors) this.error(result.errors[0]?.message);
              },
              error: (error) => this.error(asError(error).message),
              complete: () => undefined,
            },
          ),
        );
      }
    });
  }

  private error(message: string | undefined) {
    if (this.disposed) return;
    this.errors += 1;
    this.lastError = message ?? 'unknown error';
  }

  async close(): Promise<void> {
    this.disposed = true;
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    await Promise.allSettled(this.clients.map((client) => client.dispose()));
  }
}

function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  const close = error as { code?: unknown; reason?: unknown };
  if (close && typeof close.code === 'number')
    return new Error(`closed ${close.code} ${String(close.reason ?? '')}`);
  return new Error(String(error));
}
