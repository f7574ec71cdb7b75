import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * Lets the messages a WebSocket sends in one turn of the event loop leave
 * in one system call. A change reaches every subscription of a
 * connection in the same turn, and each message would otherwise be its
 * own `writev` (the most expensive step of a fan-out): a connection with
 * ten subscriptions of one user paid ten.
 *
 * The first message of a turn is written at once, so a connection with
 * one subscription waits for nothing; from the second on, the socket is
 * corked until the turn's promise callbacks have run (a `nextTick`
 * queued from them runs after them), then uncorked, which writes what
 * was queued together, in order.
 */
export function batchSends(ws: WebSocket, socket: Duplex): void {
  let sentThisTurn = false;
  let corked = false;
  const endOfTurn = () => {
    sentThisTurn = false;
    if (!corked) return;
    corked = false;
    socket.uncork();
  };

  const send = ws.send.bind(ws) as (...args: unknown[]) => void;
  ws.send = ((...args: unknown[]) => {
    if (!sentThisTurn) {
      sentThisTurn = true;
      process.nextTick(endOfTurn);
    } else if (!corked && socket.writable) {
      corked = true;
      socket.cork();
    }
    send(...args);
  }) as WebSocket['send'];
}
