export * from './config.js';
export * from './system.js';
export * from './demo-data.js';
export * from './subgraph-definitions.js';
