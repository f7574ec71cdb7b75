import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';

/**
 * The JSON scalar: any JSON value in and out. Literals in an operation are
 * turned into plain values; variables arrive already parsed. Object keys
 * are copied onto null-prototype objects so that a `__proto__` key stays
 * data and can never reach an object's prototype.
 */
export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => toPlainJson(value),
  parseLiteral: (node, variables) => literalToJson(node, variables ?? {}),
});

function toPlainJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toPlainJson);
  if (value !== null && typeof value === 'object') {
    const copy = Object.create(null) as Record<string, unknown>;
    for (const [key, item] of Object.entries(value))
      copy[key] = toPlainJson(item);
    return copy;
  }
  return value;
}

function literalToJson(
  node: ValueNode,
  variables: Record<string, unknown>,
): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
    case Kind.ENUM:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((item) => literalToJson(item, variables));
    case Kind.OBJECT: {
      const object = Object.create(null) as Record<string, unknown>;
      for (const field of node.fields) {
        object[field.name.value] = literalToJson(field.value, variables);
      }
      return object;
    }
    case Kind.VARIABLE:
      return toPlainJson(variables[node.name.value]);
  }
}
