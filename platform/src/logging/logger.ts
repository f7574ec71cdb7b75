import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Creates the root logger of a service: JSON lines on stdout, level from
 * `LOG_LEVEL` (default `info`). Pass it down; subsystems take a child with
 * their name and the ids that matter (`logger.child({ requestId })`).
 */
export function createLogger(service: string, level?: string): Logger {
  const chosen = (level ??
    process.env['LOG_LEVEL'] ??
    'info') as LevelWithSilent;
  return pino({
    name: service,
    level: chosen,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Tokens travel in these headers and connection params; never log them.
    redact: {
      paths: [
        'headers.authorization',
        'req.headers.authorization',
        'headers["x-realms-identity"]',
        'req.headers["x-realms-identity"]',
        'token',
        '*.token',
        'secret',
        '*.secret',
      ],
      censor: '[redacted]',
    },
  });
}
