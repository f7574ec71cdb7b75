import {
  getDirectiveValues,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  OperationTypeNode,
  print,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import { withSpan, type PreferenceChangeEvent } from '@realms/platform';

/** Runs a query through the federated graph, as the subscriber. */
export type FederatedQuery = (
  query: string,
  variables: Record<string, unknown>,
) => Promise<{
  data?: Record<string, unknown> | null;
  errors?: readonly GraphQLFormattedError[];
}>;

/** A delivered subscription result, as graphql-ws sends it. */
export interface RenderedChange {
  readonly data: Record<string, unknown> | null;
  readonly errors?: readonly GraphQLFormattedError[];
}

/** The PreferenceChange fields the event itself answers. */
const EVENT_FIELDS: Record<string, (event: PreferenceChangeEvent) => unknown> =
  {
    cursor: (e) => e.cursor,
    realmId: (e) => e.realm,
    userId: (e) => e.userId,
    changedKeys: (e) => e.changedKeys,
    version: (e) => e.version,
    actor: (e) => e.actor,
    originRealm: (e) => e.originRealm,
    at: (e) => e.at,
    __typename: () => 'PreferenceChange',
  };

/** The variable that carries the changed preference's id into the query. */
const ID_VARIABLE = 'realmsChangedPreferenceId';

type Step =
  | {
      readonly kind: 'event';
      readonly responseKey: string;
      readonly field: string;
    }
  | { readonly kind: 'preference'; readonly responseKey: string };

/**
 * Turns change events into the result a subscription asked for. Event
 * fields (cursor, version, …) come from the event; every `preference`
 * selection becomes one aliased `preference(id:)` field of a query that
 * the gateway plans and executes like any other, so a subscriber may
 * select any field of any subgraph and gets what that subgraph serves now.
 * Built once per subscription group; `render` runs once per event.
 */
export class ChangeRenderer {
  private readonly steps: Step[] = [];
  /** The federated query, or null when no `preference` is selected. */
  readonly query: string | null;

  constructor(
    document: DocumentNode,
    operation: OperationDefinitionNode,
    field: FieldNode,
    private readonly responseKey: string,
    private readonly variables: Record<string, unknown>,
  ) {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        fragments.set(definition.name.value, definition);
      }
    }
    const preferenceFields: FieldNode[] = [];
    for (const selected of this.collect(field.selectionSet, fragments)) {
      const responseKey = selected.alias?.value ?? selected.name.value;
      if (selected.name.value === 'preference') {
        this.steps.push({ kind: 'preference', responseKey });
        preferenceFields.push(selected);
      } else if (selected.name.value in EVENT_FIELDS) {
        this.steps.push({
          kind: 'event',
          responseKey,
          field: selected.name.value,
        });
      }
    }
    this.query =
      preferenceFields.length > 0
        ? buildQuery(operation, preferenceFields, fragments)
        : null;
  }

  /** The result for one event, fetching `preference` through the graph. */
  async render(
    event: PreferenceChangeEvent,
    execute: FederatedQuery,
  ): Promise<RenderedChange> {
    // A change reaches subscribers outside any request; its span starts a
    // trace of its own, with the federated fetch beneath it.
    const query = this.query;
    const fetched = query
      ? await withSpan(
          'subscription.render',
          { 'realms.realm': event.realm, 'realms.cursor': event.cursor },
          () =>
            execute(query, {
              ...this.variables,
              [ID_VARIABLE]: event.preferenceId,
            }),
        )
      : { data: {} };

    const change: Record<string, unknown> = {};
    let complete = true;
    for (const step of this.steps) {
      if (step.kind === 'event') {
        const answer = EVENT_FIELDS[step.field];
        change[step.responseKey] = answer ? answer(event) : null;
      } else {
        const value = fetched.data?.[step.responseKey] ?? null;
        // `preference` is non-null: without it the whole change is null.
        if (value === null) complete = false;
        change[step.responseKey] = value;
      }
    }
    const errors = fetched.errors?.map((error) => ({
      ...error,
      path: [this.responseKey, ...(error.path ?? [])],
    }));
    const data = complete ? { [this.responseKey]: change } : null;
    return errors && errors.length > 0 ? { data, errors } : { data };
  }

  /**
   * A copy of `result` whose `cursor` fields (however aliased) say
   * `cursor`; the rest is shared with `result`, which stays as it was.
   */
  withCursor(result: RenderedChange, cursor: string): RenderedChange {
    const change = result.data?.[this.responseKey];
    if (!result.data || typeof change !== 'object' || change === null)
      return result;
    const copy: Record<string, unknown> = { ...change };
    for (const step of this.steps) {
      if (step.kind === 'event' && step.field === 'cursor')
        copy[step.responseKey] = cursor;
    }
    return { ...result, data: { ...result.data, [this.responseKey]: copy } };
  }

  /** The fields selected on PreferenceChange, through fragments and @skip/@include. */
  private collect(
    selectionSet: SelectionSetNode | undefined,
    fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  ): FieldNode[] {
    const fields: FieldNode[] = [];
    for (const selection of selectionSet?.selections ?? []) {
      if (!this.included(selection)) continue;
      if (selection.kind === Kind.FIELD) {
        fields.push(selection);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        fields.push(...this.collect(selection.selectionSet, fragments));
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment)
          fields.push(...this.collect(fragment.selectionSet, fragments));
      }
    }
    return fields;
  }

  private included(node: Parameters<typeof getDirectiveValues>[1]): boolean {
    const skip = getDirectiveValues(GraphQLSkipDirective, node, this.variables);
    if (skip?.['if'] === true) return false;
    const include = getDirectiveValues(
      GraphQLIncludeDirective,
      node,
      this.variables,
    );
    return include?.['if'] !== false;
  }
}

/**
 * `query ($realmsChangedPreferenceId: ID!, …) { <key>: preference(id: …) { … } }`
 * with only the variables and fragments those selections use, since
 * GraphQL refuses unused ones.
 */
function buildQuery(
  operation: OperationDefinitionNode,
  preferenceFields: readonly FieldNode[],
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
): string {
  const selections: FieldNode[] = preferenceFields.map((field) => ({
    ...field,
    alias: { kind: Kind.NAME, value: field.alias?.value ?? field.name.value },
    arguments: [
      {
        kind: Kind.ARGUMENT,
        name: { kind: Kind.NAME, value: 'id' },
        value: {
          kind: Kind.VARIABLE,
          name: { kind: Kind.NAME, value: ID_VARIABLE },
        },
      },
    ],
  }));
  const usedFragments = new Set<string>();
  const usedVariables = new Set<string>();
  const pending: (FieldNode | FragmentDefinitionNode)[] = [...selections];
  while (pending.length > 0) {
    const node = pending.pop() as FieldNode | FragmentDefinitionNode;
    visit(node, {
      Variable: (variable) => void usedVariables.add(variable.name.value),
      FragmentSpread: (spread) => {
        const fragment = fragments.get(spread.name.value);
        if (fragment && !usedFragments.has(spread.name.value)) {
          usedFragments.add(spread.name.value);
          pending.push(fragment);
        }
      },
    });
  }

  const variableDefinitions: VariableDefinitionNode[] = [
    {
      kind: Kind.VARIABLE_DEFINITION,
      variable: {
        kind: Kind.VARIABLE,
        name: { kind: Kind.NAME, value: ID_VARIABLE },
      },
      type: {
        kind: Kind.NON_NULL_TYPE,
        type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'ID' } },
      },
    },
    ...(operation.variableDefinitions ?? []).filter(
      (d) =>
        usedVariables.has(d.variable.name.value) &&
        d.variable.name.value !== ID_VARIABLE,
    ),
  ];
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: OperationTypeNode.QUERY,
        name: { kind: Kind.NAME, value: 'RealmsPreferenceChange' },
        variableDefinitions,
        selectionSet: { kind: Kind.SELECTION_SET, selections },
      },
      ...[...usedFragments].flatMap((name) => {
        const fragment = fragments.get(name);
        return fragment ? [fragment] : [];
      }),
    ],
  };
  return print(document);
}
