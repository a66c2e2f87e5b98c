// The limits every GraphQL document is held to before anything of it runs: validation rules that
// grafserv adds to graphql's own (specifiedRules), through the graphile-config plugin at the end.
// Each refusal names the limit, the document's figure and the maximum, and carries a stable
// `extensions.code`; the limits' values come from GraphqlConfig (GRAPHQL_* variables, see
// docs/architecture.md "GraphQL: limits").
//
// Every figure is per operation (the one a request runs) with its fragments expanded where they are
// spread, so a fragment spread five times counts five times: what the server would execute, not
// what the text looks like. A fragment cycle counts once (NoFragmentCyclesRule refuses the document).
import {
  type ASTVisitor,
  type FieldNode,
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import type { GraphqlConfig } from './config.ts';

/** The `extensions.code` of each refusal: what a client branches on. */
export const LIMIT_CODES = Object.freeze({
  depth: 'GRAPHQL_DEPTH_LIMIT',
  aliases: 'GRAPHQL_ALIAS_LIMIT',
  rootFields: 'GRAPHQL_ROOT_FIELD_LIMIT',
  introspection: 'GRAPHQL_INTROSPECTION_DISABLED',
});

/** How one figure of an operation is measured: a field's own share, and how siblings combine. */
interface Measure {
  field(node: FieldNode, inside: () => number): number;
  siblings: 'max' | 'sum';
}

/**
 * Depth: levels of nested fields, `{ a { b } }` is 2. Introspection's own fields (`__schema`,
 * `__type`) count as one level and are not followed: they are the introspection switch's matter,
 * and GraphiQL's introspection query is deeper than any data query needs to be.
 */
const depth: Measure = {
  field: (node, inside) => (node.name.value.startsWith('__') ? 1 : 1 + inside()),
  siblings: 'max',
};

/** Aliases: every aliased field, at any depth (`a1: field a2: field` asks for the same work twice). */
const aliases: Measure = { field: (node, inside) => (node.alias ? 1 : 0) + inside(), siblings: 'sum' };

/** Root fields: the fields at the top of the operation (aliases included), not followed further. */
const rootFields: Measure = { field: () => 1, siblings: 'sum' };

function measureOperation(context: ValidationContext, operation: OperationDefinitionNode, measure: Measure): number {
  const fragments = new Map<string, number>();
  const expanding = new Set<string>();
  const ofSet = (set: SelectionSetNode | undefined): number => {
    let figure = 0;
    for (const selection of set?.selections ?? []) {
      const share = ofSelection(selection);
      figure = measure.siblings === 'max' ? Math.max(figure, share) : figure + share;
    }
    return figure;
  };
  const ofSelection = (selection: SelectionNode): number => {
    switch (selection.kind) {
      case Kind.FIELD:
        return measure.field(selection, () => ofSet(selection.selectionSet));
      case Kind.INLINE_FRAGMENT:
        return ofSet(selection.selectionSet);
      case Kind.FRAGMENT_SPREAD:
        return ofFragment(selection.name.value);
    }
  };
  const ofFragment = (name: string): number => {
    const known = fragments.get(name);
    if (known !== undefined) return known;
    const fragment = context.getFragment(name);
    // An unknown fragment and a cycle are refused by graphql's own rules; they add nothing here.
    if (!fragment || expanding.has(name)) return 0;
    expanding.add(name);
    const figure = ofSet(fragment.selectionSet);
    expanding.delete(name);
    fragments.set(name, figure);
    return figure;
  };
  return ofSet(operation.selectionSet);
}

function limitRule(measure: Measure, max: number, code: string, refusal: (figure: number) => string): ValidationRule {
  return (context): ASTVisitor => ({
    OperationDefinition(operation) {
      const figure = measureOperation(context, operation, measure);
      if (figure > max) context.reportError(new GraphQLError(refusal(figure), { nodes: operation, extensions: { code, limit: max } }));
      // The measure has seen the whole operation already.
      return false;
    },
  });
}

export const maxDepthRule = (max: number): ValidationRule =>
  limitRule(depth, max, LIMIT_CODES.depth, (figure) => `The operation is nested ${figure} levels deep; the maximum depth is ${max}.`);

export const maxAliasesRule = (max: number): ValidationRule =>
  limitRule(aliases, max, LIMIT_CODES.aliases, (figure) => `The operation has ${figure} aliases; the maximum is ${max}.`);

export const maxRootFieldsRule = (max: number): ValidationRule =>
  limitRule(rootFields, max, LIMIT_CODES.rootFields, (figure) => `The operation asks for ${figure} root fields; the maximum is ${max}.`);

/**
 * graphql's NoSchemaIntrospectionCustomRule (refuses `__schema` and `__type`, allows `__typename`,
 * which clients need to tell union members apart), its refusals given our code.
 */
export const noIntrospectionRule: ValidationRule = (context) => {
  const coded = Object.create(context, {
    reportError: {
      value: (error: GraphQLError) =>
        context.reportError(new GraphQLError(error.message, { nodes: error.nodes, extensions: { code: LIMIT_CODES.introspection } })),
    },
  }) as ValidationContext;
  return NoSchemaIntrospectionCustomRule(coded);
};

/** The rules the configuration asks for, in the order their refusals are listed. */
export function limitRules(config: Pick<GraphqlConfig, 'introspection' | 'maxDepth' | 'maxAliases' | 'maxRootFields'>): ValidationRule[] {
  return [
    ...(config.introspection ? [] : [noIntrospectionRule]),
    maxRootFieldsRule(config.maxRootFields),
    maxAliasesRule(config.maxAliases),
    maxDepthRule(config.maxDepth),
  ];
}

/**
 * The rule, its "Did you mean …?" taken out of what it reports: with introspection off, graphql-js'
 * suggestions would spell out the schema, field by field, to whoever guesses.
 */
function withoutSuggestions(rule: ValidationRule): ValidationRule {
  return (context) =>
    rule(
      new Proxy(context, {
        get(target, key) {
          if (key === 'reportError') {
            return (error: GraphQLError) => target.reportError(error.message.includes(' Did you mean ') ? withoutSuggestion(error) : error);
          }
          const value = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
    );
}

function withoutSuggestion(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message.replace(/ Did you mean .*$/s, ''), { nodes: error.nodes, extensions: error.extensions });
}

/** The graphile-config plugin that adds the rules to every document grafserv validates. */
export function limitsPlugin(config: GraphqlConfig): GraphileConfig.Plugin {
  const rules = limitRules(config);
  return {
    name: 'ClinicbaseDocumentLimitsPlugin',
    version: '1.0.0',
    description: 'Depth, alias and root-field limits, and introspection off when configured',
    grafserv: {
      middleware: {
        setPreset(next, event) {
          const all = [...event.validationRules, ...rules];
          event.validationRules.splice(0, event.validationRules.length, ...(config.introspection ? all : all.map(withoutSuggestions)));
          return next();
        },
      },
    },
  };
}
