import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** Headers that belong to one connection, not to the message. */
const HOP_BY_HOP = new Set([
  'connection',
  'content-length',
  'content-encoding',
  'host',
  'keep-alive',
  'transfer-encoding',
]);

/**
 * An HTTP proxy on loopback in front of one service, whose answers can be
 * held back: a slow subgraph without touching the subgraph. Each request
 * goes upstream at once (so a mutation is applied), and the answer waits
 * `delayMs` before it is sent, unless the client gives up first.
 */
export interface DelayingProxy {
  /** The proxy's base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** How long each answer is held back; 0 passes answers straight on. */
  delayMs: number;
  /** Requests whose upstream answer arrived, whether or not it was sent. */
  readonly answeredUpstream: number;
  /** Answers dropped because the client had gone by the end of the delay. */
  readonly abandoned: number;
  close(): Promise<void>;
}

function forwardable(headers: IncomingHttpHeaders): Headers {
  const result = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    result.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return result;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts a proxy to `upstream` (a base URL) on 127.0.0.1 and a free port. */
export async function startDelayingProxy(
  upstream: string,
): Promise<DelayingProxy> {
  let answeredUpstream = 0;
  let abandoned = 0;
  const state = { delayMs: 0 };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const payload = await body(req);
    const answer = await fetch(new URL(req.url ?? '/', upstream), {
      method: req.method ?? 'GET',
      headers: forwardable(req.headers),
      ...(payload.length > 0 ? { body: payload } : {}),
    });
    const answerBody = Buffer.from(await answer.arrayBuffer());
    answeredUpstream += 1;

    // The client (the gateway) aborts when its subgraph timeout passes;
    // 'close' then fires before the answer was written.
    if (state.delayMs > 0) {
      const sent = await new Promise<boolean>((resolve) => {
        if (res.destroyed) return resolve(false);
        const timer = setTimeout(() => resolve(true), state.delayMs);
        res.once('close', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (!sent || res.destroyed) {
        abandoned += 1;
        return;
      }
    }
    const headers: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!HOP_BY_HOP.has(name)) headers[name] = value;
    });
    res.writeHead(answer.status, headers).end(answerBody);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve()),
  );
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value: number) {
      state.delayMs = value;
    },
    get answeredUpstream() {
      return answeredUpstream;
    },
    get abandoned() {
      return abandoned;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
