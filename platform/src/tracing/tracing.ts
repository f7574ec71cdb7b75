import { createRequire } from 'node:module';
import type { Logger } from 'pino';

/** What `startTracing` needs to know. */
export interface TracingOptions {
  /** The `service.name` of every span; `OTEL_SERVICE_NAME` wins if set. */
  readonly serviceName: string;
  /**
   * Where spans go: the OTLP/HTTP traces URL. Default from the environment
   * (see `tracesEndpoint`); with none, tracing stays off.
   */
  readonly endpoint?: string | undefined;
  readonly logger: Logger;
}

/** Tracing that was started; stop it to send the spans still queued. */
export interface Tracing {
  /** The OTLP/HTTP URL spans are posted to. */
  readonly endpoint: string;
  /** Sends what is queued and unregisters nothing: call it at exit. */
  shutdown(): Promise<void>;
}

let enabled = false;

/**
 * True once `startTracing` has registered a tracer provider in this
 * process. Our own spans check it first, so untraced processes skip even
 * the no-op span objects.
 */
export function tracingEnabled(): boolean {
  return enabled;
}

/**
 * The OTLP/HTTP traces URL the environment asks for, or null: the
 * signal-specific `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else
 * `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended (as the OTLP
 * specification says). `OTEL_SDK_DISABLED=true` turns tracing off.
 */
export function tracesEndpoint(env = process.env): string | null {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return null;
  const traces = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  if (traces) return traces;
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  if (!base) return null;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Starts OpenTelemetry tracing for this process when an OTLP endpoint is
 * configured, and does nothing at all when it is not: the SDK is imported
 * only here, dynamically, so an untraced process never loads it.
 *
 * Traced, it registers a tracer provider (batching, OTLP over HTTP with
 * JSON bodies), W3C trace-context propagation, and spans for every ioredis
 * command. `@apollo/gateway` then records its own request, plan and fetch
 * spans through the global API. The resource is the service name and the
 * SDK's own attributes only: no detector runs, so nothing probes cloud
 * metadata endpoints or phones home.
 *
 * Call it once, early in a process entry point. Returns null when off.
 */
export async function startTracing(
  options: TracingOptions,
): Promise<Tracing | null> {
  const endpoint = options.endpoint ?? tracesEndpoint();
  if (!endpoint) return null;
  if (enabled) throw new Error('startTracing was already called');

  const [sdk, base, resources, exporter, instrumentation, ioredis] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/instrumentation'),
      import('@opentelemetry/instrumentation-ioredis'),
    ]);

  const serviceName = process.env['OTEL_SERVICE_NAME'] || options.serviceName;
  const provider = new sdk.NodeTracerProvider({
    resource: resources
      .defaultResource()
      .merge(resources.resourceFromAttributes({ 'service.name': serviceName })),
    spanProcessors: [
      new base.BatchSpanProcessor(
        new exporter.OTLPTraceExporter({ url: endpoint }),
      ),
    ],
  });
  // Registers the async-local-storage context manager and the W3C
  // trace-context and baggage propagators.
  provider.register();

  instrumentation.registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new ioredis.IORedisInstrumentation({
        // Keys name realms and users; arguments stay out of spans.
        dbStatementSerializer: (command) => command,
      }),
    ],
  });
  // The instrumentation patches ioredis as it is required. Under ESM the
  // modules that import ioredis have already loaded it by the time an
  // entry point's body runs, so require it once more here: the hook sees
  // that call and patches the one shared `Redis.prototype`.
  createRequire(import.meta.url)('ioredis');

  enabled = true;
  options.logger.info({ endpoint, serviceName }, 'tracing to OTLP endpoint');
  return {
    endpoint,
    shutdown: async () => {
      await provider
        .shutdown()
        .catch((error: unknown) =>
          options.logger.warn(
            { err: (error as Error).message },
            'tracing did not flush',
          ),
        );
    },
  };
}
