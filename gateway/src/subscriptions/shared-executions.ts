import { createHash } from 'node:crypto';
import type { PreferenceChangeEvent } from '@realms/platform';
import type {
  ChangeRenderer,
  FederatedQuery,
  RenderedChange,
} from './change-renderer.js';

/** How many rendered events a group remembers, for members that lag. */
const REMEMBERED_RENDERS = 256;

/**
 * Subscriptions that would get the same result for every event: same
 * operation, variables and scope (realm, user or admin reach, roles).
 * They share one renderer and one federated execution per event, so the
 * subgraph requests per event do not grow with the number of subscribers.
 */
export class ExecutionGroup {
  private members = 0;
  private readonly renders = new Map<string, Promise<RenderedChange>>();

  constructor(
    readonly key: string,
    private readonly renderer: ChangeRenderer,
    private readonly execute: FederatedQuery,
  ) {}

  /**
   * The result for an event, executed once however many members ask.
   * With `cursor`, the result carries that cursor instead of the event's
   * (a member's all-realms position); the execution is still shared.
   */
  render(
    event: PreferenceChangeEvent,
    cursor: string | null = null,
  ): Promise<RenderedChange> {
    const shared = this.sharedRender(event);
    if (cursor === null) return shared;
    return shared.then((result) => this.renderer.withCursor(result, cursor));
  }

  private sharedRender(event: PreferenceChangeEvent): Promise<RenderedChange> {
    let render = this.renders.get(event.cursor);
    if (!render) {
      render = this.renderer.render(event, this.execute);
      this.renders.set(event.cursor, render);
      if (this.renders.size > REMEMBERED_RENDERS) {
        const oldest = this.renders.keys().next().value;
        if (oldest !== undefined) this.renders.delete(oldest);
      }
    }
    return render;
  }

  join(): void {
    this.members += 1;
  }

  /** Returns true when this was the last member. */
  leave(): boolean {
    this.members -= 1;
    return this.members <= 0;
  }
}

/** The groups of this gateway, by key. */
export class ExecutionGroups {
  private readonly groups = new Map<string, ExecutionGroup>();

  /** The group for this key, made with `create` if there is none yet. */
  join(key: string, create: () => ExecutionGroup): ExecutionGroup {
    let group = this.groups.get(key);
    if (!group) {
      group = create();
      this.groups.set(key, group);
    }
    group.join();
    return group;
  }

  leave(group: ExecutionGroup): void {
    if (group.leave()) this.groups.delete(group.key);
  }

  get size(): number {
    return this.groups.size;
  }
}

/** The key of a group: whatever could make two results differ. */
export function groupKey(parts: {
  query: string;
  operationName: string | null | undefined;
  variables: Record<string, unknown>;
  scope: string;
}): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        parts.query,
        parts.operationName ?? null,
        parts.variables,
        parts.scope,
      ]),
    )
    .digest('base64url');
}
