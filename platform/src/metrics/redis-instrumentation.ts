import type { Command, Redis } from 'ioredis';
import type { RedisMetrics } from './service-metrics.js';

/**
 * Times every command of one ioredis client and follows its connection.
 *
 * Commands are timed by wrapping the client's own `sendCommand`, which
 * every command, pipeline entry and pub/sub call goes through, from the
 * first time a command passes to its reply. A command passes more than
 * once when it waited in the offline queue or was resent after a
 * reconnect; it is timed once, so that wait counts in its latency (that
 * is what the caller waited). The wrapper sits on the instance, so
 * prototype-level instrumentation (OpenTelemetry's) still sees each call.
 */
export function instrumentRedis(
  client: Redis,
  role: string,
  metrics: RedisMetrics,
): void {
  const timed = new WeakSet<Command>();
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: Command, ...rest: unknown[]) => {
    if (!timed.has(command)) {
      timed.add(command);
      const started = performance.now();
      const labels = { role, command: metrics.commandNames.of(command.name) };
      const observe = (outcome: 'success' | 'error') =>
        metrics.commandSeconds.observe(
          { ...labels, outcome },
          (performance.now() - started) / 1000,
        );
      command.promise.then(
        () => observe('success'),
        () => observe('error'),
      );
    }
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as Redis['sendCommand'];

  metrics.connected.set({ role }, client.status === 'ready' ? 1 : 0);
  client.on('ready', () => metrics.connected.set({ role }, 1));
  client.on('close', () => metrics.connected.set({ role }, 0));
  client.on('reconnecting', () => metrics.reconnects.inc({ role }));
}
