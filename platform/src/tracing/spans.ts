import type { IncomingMessage } from 'node:http';
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
} from '@opentelemetry/api';
import { tracingEnabled } from './tracing.js';

const tracer = trace.getTracer('@realms/platform');

/**
 * Runs `work` inside a span named `name`, a child of the active span,
 * ending it when `work` settles; a thrown error marks the span failed.
 * Without tracing it runs `work` and nothing else.
 */
export function withSpan<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span | null) => Promise<T>,
): Promise<T> {
  if (!tracingEnabled()) return work(null);
  return tracer.startActiveSpan(name, { attributes }, (span) =>
    settle(span, work(span)),
  );
}

/**
 * Runs an HTTP request's handling inside a server span that continues the
 * trace named in the request's `traceparent` header, if any: how a
 * subgraph joins the gateway's trace, and the gateway its edge's.
 */
export function withIncomingRequestSpan(
  req: IncomingMessage,
  serviceName: string | undefined,
  handle: () => Promise<void>,
): Promise<void> {
  if (!tracingEnabled()) return handle();
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  // Probes come every few seconds and say nothing about a request.
  if (path.startsWith('/health/')) return handle();
  const parent = propagation.extract(context.active(), req.headers);
  return tracer.startActiveSpan(
    `${req.method ?? 'GET'} ${path}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': req.method ?? 'GET',
        'url.path': path,
        // Several services share a process when embedded; say which.
        ...(serviceName ? { 'realms.service': serviceName } : {}),
      },
    },
    parent,
    (span) => settle(span, handle()),
  );
}

/**
 * Writes the active trace context (`traceparent`, `tracestate`) into
 * outgoing request headers, so the receiver continues this trace. A no-op
 * without tracing.
 */
export function injectTraceContext(headers: {
  set(name: string, value: string): unknown;
}): void {
  if (!tracingEnabled()) return;
  propagation.inject(context.active(), headers, {
    set: (carrier, key, value) => carrier.set(key, value),
  });
}

async function settle<T>(span: Span, pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}
