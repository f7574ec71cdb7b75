/**
 * Turns off everything that would phone home. Import this module before
 * `@apollo/gateway` (ESM runs imports in order): the gateway starts an
 * OpenTelemetry exporter at construction unless this variable is set.
 * An operator may still set it explicitly; we only provide the default.
 */
process.env['APOLLO_TELEMETRY_DISABLED'] ??= 'true';
process.env['TURBO_TELEMETRY_DISABLED'] ??= '1';
process.env['DO_NOT_TRACK'] ??= '1';

// Usage reporting to Apollo's cloud starts when a graph key is present.
// Realms never reports usage; drop a key inherited from the environment.
delete process.env['APOLLO_KEY'];
delete process.env['APOLLO_GRAPH_REF'];

export {};
