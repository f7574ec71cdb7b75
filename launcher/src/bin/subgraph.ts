// One subgraph as its own process: `npm run start:subgraph -- <name>`.
import '@realms/platform/telemetry';
import { SUBGRAPHS, type SubgraphName } from '@realms/gateway';
import { ServiceMetrics, createLogger, startTracing } from '@realms/platform';
import { portsFromEnv } from '../config.js';
import { openSubgraphRuntime, serveSubgraph } from '../system.js';

const name = process.argv[2] as SubgraphName | undefined;
const known = SUBGRAPHS.map((s) => s.name);
if (!name || !known.includes(name)) {
  console.error(`Usage: npm run start:subgraph -- <${known.join('|')}>`);
  process.exit(2);
}

const logger = createLogger(`${name}-subgraph`);
const redisUrl = process.env['REDIS_URL'];
if (!redisUrl) {
  // Separate processes cannot share memory; only Redis keeps them consistent.
  console.error(
    'A subgraph in its own process needs REDIS_URL. For everything in one ' +
      'process on in-memory state, run `npm start`.',
  );
  process.exit(2);
}

try {
  const tracing = await startTracing({
    serviceName: `${name}-subgraph`,
    logger,
  });
  const metrics = new ServiceMetrics(`${name}-subgraph`);
  const runtime = await openSubgraphRuntime({ redisUrl, logger, metrics });
  const server = await serveSubgraph(
    name,
    runtime,
    portsFromEnv().subgraphs[name],
    process.env['HOST'] ?? '127.0.0.1',
    logger,
    metrics,
  );
  logger.info({ url: server.url }, 'subgraph listening');
  const stop = async () => {
    await server.close();
    await runtime.access.close();
    await runtime.catalog.close();
    await runtime.state.close();
    await tracing?.shutdown();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  logger.fatal({ err: error }, 'subgraph failed to start');
  console.error((error as Error).message);
  process.exit(1);
}
