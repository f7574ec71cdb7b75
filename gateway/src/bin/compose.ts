// `npm run compose`: writes schema/supergraph.graphql from the subgraph SDLs.
import '@realms/platform/telemetry';
import { writeSupergraph } from '../supergraph/compose.js';

try {
  const file = await writeSupergraph();
  console.log(`Wrote ${file}`);
} catch (error) {
  console.error((error as Error).message);
  process.exitCode = 1;
}
