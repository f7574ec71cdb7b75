// `npm run migrate`: moves every stored preference through the migrations
// declared with configuration changes, and stores the result. Reads apply
// the same migrations lazily, so running it changes no effective value.
import '@realms/platform/telemetry';
import { createLogger, LiveCatalog, openState } from '@realms/platform';
import { migrateAllStoredValues, progressBar } from '../migrate.js';

const logger = createLogger('migrate');
const redisUrl = process.env['REDIS_URL'];
if (!redisUrl) {
  // In-memory state lives in the running process only: nothing to walk.
  console.error('npm run migrate needs REDIS_URL (the state to migrate).');
  process.exit(2);
}

const state = openState({
  redisUrl,
  keyPrefix: process.env['REDIS_KEY_PREFIX'],
  logger,
});
try {
  const catalog = await LiveCatalog.open({
    store: state.configVersions,
    bus: state.bus,
    logger,
    pollIntervalMs: 0,
  });
  try {
    const result = await migrateAllStoredValues({
      store: state.store,
      realms: catalog.get().realmIds,
      state: () => catalog.migrations,
      onProgress: progressBar(process.stderr),
    });
    console.log(
      JSON.stringify({ configVersion: catalog.version, ...result }, null, 2),
    );
  } finally {
    await catalog.close();
  }
} catch (error) {
  logger.fatal({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await state.close();
}
