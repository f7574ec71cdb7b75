// `npm start`: the whole system in one process, on the embedded default
// (in-memory state, in-process pub/sub) unless REDIS_URL is set.
import '@realms/platform/telemetry';
import { createLogger, issueDevToken, startTracing } from '@realms/platform';
import { portsFromEnv } from '../config.js';
import { seedDemoData } from '../demo-data.js';
import { startSystem } from '../system.js';

const logger = createLogger('realms', process.env['LOG_LEVEL'] ?? 'warn');

try {
  const tracing = await startTracing({ serviceName: 'realms', logger });
  const system = await startSystem({
    ports: portsFromEnv(),
    host: process.env['HOST'] ?? '127.0.0.1',
    redisUrl: process.env['REDIS_URL'],
    production: process.env['NODE_ENV'] === 'production',
    logger,
  });
  await seedDemoData(system.preferences);

  const sports = system.catalog.realm('sports');
  const token = sports
    ? await issueDevToken({ realm: sports, userId: 'alice', roles: ['user'] })
    : '';
  const query =
    '{ myPreferences { id version values { key value source } sports { favoriteTeams gameAlerts { events } } } }';
  console.log(`
Realms is running (${system.state.kind} state).

  Gateway and Apollo Sandbox: ${system.gatewayUrl}
  Subgraphs: ${Object.entries(system.subgraphUrls)
    .map(([n, u]) => `${n} ${u}`)
    .join(', ')}

A token for alice in the sports realm (more: npm run token -- --realm parks --user bob):

  ${token}

Try it:

  curl -s ${system.gatewayUrl} -H 'content-type: application/json' \\
    -H 'x-client-id: sports' -H 'authorization: Bearer ${token}'  \\
    -d '{"query":"${query}"}'

(In Sandbox, add the header  Authorization: Bearer <token>.)  Ctrl-C stops.
`);

  const stop = async () => {
    await system.close();
    await tracing?.shutdown();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  logger.fatal({ err: error }, 'failed to start');
  console.error((error as Error).message);
  process.exit(1);
}
