import {
  execute,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import type { ChangeBus, ConfigChangeEvent } from '@realms/platform';
import type { FeedRequest } from './feed-request.js';

/** Pending changes per subscriber before it counts as slow. */
const MAX_QUEUED = 100;

/**
 * A realm's configuration changes as a subscription. The event carries
 * every field the type has, so the subscriber's selection (aliases,
 * fragments, directives) is applied by graphql-js's own executor with the
 * event as the root value, as a plain subscription would be.
 */
export async function configChangeFeed(options: {
  readonly bus: ChangeBus;
  readonly feed: FeedRequest;
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operationName: string | null | undefined;
  readonly variables: Record<string, unknown>;
  readonly onOverflow: () => void;
}): Promise<AsyncIterableIterator<ExecutionResult>> {
  const queue: ExecutionResult[] = [];
  let waiting: ((result: IteratorResult<ExecutionResult>) => void) | null =
    null;
  let done = false;

  const render = (event: ConfigChangeEvent): ExecutionResult =>
    execute({
      schema: options.schema,
      document: options.document,
      operationName: options.operationName ?? null,
      variableValues: options.variables,
      rootValue: {
        [options.feed.field.name.value]: changeOf(event, options.feed.realm),
      },
    }) as ExecutionResult;

  const unsubscribe = await options.bus.subscribeConfigChanges((event) => {
    if (done || !event.realms.includes(options.feed.realm)) return;
    const result = render(event);
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve({ value: result, done: false });
    } else if (queue.push(result) > MAX_QUEUED) {
      options.onOverflow();
      void finish();
    }
  });

  async function finish(): Promise<IteratorResult<ExecutionResult>> {
    if (!done) {
      done = true;
      queue.length = 0;
      waiting?.({ value: undefined, done: true });
      waiting = null;
      await unsubscribe();
    }
    return { value: undefined, done: true };
  }

  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next: () => {
      const head = queue.shift();
      if (head) return Promise.resolve({ value: head, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (waiting = resolve));
    },
    return: finish,
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/** The RealmConfigChange of one realm: only the changes that touch it. */
function changeOf(event: ConfigChangeEvent, realm: string) {
  return {
    __typename: 'RealmConfigChange',
    realmId: realm,
    version: event.version,
    previousVersion: event.previousVersion,
    changes: event.changes.filter(
      (path) =>
        !path.startsWith('realms/') || path.startsWith(`realms/${realm}:`),
    ),
    actor: event.actor,
    at: event.at,
    comment: event.comment,
  };
}
