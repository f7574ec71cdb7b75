import type { SubgraphName } from '@realms/gateway';
import { DEFAULT_AUDIT_RETENTION_DAYS } from '@realms/platform';

/** Ports of the local services; `0` asks the OS for a free one. */
export interface ServicePorts {
  readonly gateway: number;
  readonly subgraphs: Readonly<Record<SubgraphName, number>>;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) {
    throw new Error(`${name} must be a port number, got "${value}"`);
  }
  return parsed;
}

/** `PORT` (gateway, 4000) and `CORE_PORT` … `PARKS_PORT` (4001–4004). */
export function portsFromEnv(env = process.env): ServicePorts {
  return {
    gateway: port(env, 'PORT', 4000),
    subgraphs: {
      core: port(env, 'CORE_PORT', 4001),
      sports: port(env, 'SPORTS_PORT', 4002),
      entertainment: port(env, 'ENTERTAINMENT_PORT', 4003),
      parks: port(env, 'PARKS_PORT', 4004),
    },
  };
}

/**
 * `AUDIT_RETENTION_DAYS`: how many days each realm's audit log keeps its
 * records (default 90). Every subgraph process appends to the log and the
 * core subgraph reads it, so all of them must get the same value; a
 * fraction of a day is allowed (tests, short-lived environments).
 */
export function auditRetentionDaysFromEnv(env = process.env): number {
  const value = env['AUDIT_RETENTION_DAYS'];
  if (value === undefined || value.trim() === '') {
    return DEFAULT_AUDIT_RETENTION_DAYS;
  }
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    throw new Error(
      `AUDIT_RETENTION_DAYS must be a positive number of days, got "${value}"`,
    );
  }
  return parsed;
}
