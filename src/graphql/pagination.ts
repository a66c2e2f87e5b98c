// Bounded pages: every collection field PostGraphile makes (connections, and lists if a table ever
// asks for them) reads at most `maxPageSize` rows, and `defaultPageSize` when the client gives
// neither `first` nor `last`. PostGraphile 5 has no such setting, and a validation rule cannot see
// a `first` given through a variable, so the page size is planned: this plugin takes `first` and
// `last` away from PostGraphile's argument plans (PgFirstLastBeforeAfterArgsPlugin) and applies
// both itself, from one step that refuses a value above the maximum, when the field is planned.
// A refused page size is a field error: that field is null, `errors[]` names the argument.
import { type FieldArgs, lambda, SafeError, type Step } from 'grafast';
import type { GraphqlConfig } from './config.ts';

export const PAGE_SIZE_CODE = 'GRAPHQL_PAGE_SIZE_LIMIT';

type PageSize = Pick<GraphqlConfig, 'maxPageSize' | 'defaultPageSize'>;

/** What PostGraphile's collection steps (ConnectionStep, PgSelectStep) offer for paging. */
interface Pageable {
  setFirst(first: Step): void;
  setLast(last: Step): void;
}

const isPageable = (step: unknown): step is Pageable =>
  typeof (step as Partial<Pageable> | null)?.setFirst === 'function' && typeof (step as Partial<Pageable>).setLast === 'function';

function checked(argument: 'first' | 'last', value: number | null | undefined, max: number): number | null {
  if (value == null) return null;
  if (value < 0 || value > max) {
    throw new SafeError(`${argument}: ${value} is not a page size this API serves; ${argument} must be between 0 and ${max}.`, {
      code: PAGE_SIZE_CODE,
      argument,
      limit: max,
    });
  }
  return value;
}

/** Sets the page of a collection step from the field's `first` and `last`, checked, or the default page. */
function applyPage($collection: Pageable, fieldArgs: FieldArgs, hasLast: boolean, limits: PageSize): void {
  const $first = fieldArgs.getRaw('first');
  const $last = hasLast ? fieldArgs.getRaw('last') : undefined;
  const $page = lambda([$first, $last ?? $first], ([first, last]: readonly (number | null | undefined)[]) => {
    const firstRows = checked('first', first, limits.maxPageSize);
    const lastRows = hasLast ? checked('last', last, limits.maxPageSize) : null;
    return { first: firstRows ?? (lastRows === null ? limits.defaultPageSize : null), last: lastRows };
  });
  $collection.setFirst(lambda($page, (page) => page.first, true));
  if (hasLast) $collection.setLast(lambda($page, (page) => page.last, true));
}

const isCollection = (scope: GraphileBuild.ScopeObjectFieldsField) => Boolean(scope.isPgFieldConnection || scope.isPgFieldSimpleCollection);

export function pageSizePlugin(limits: PageSize): GraphileConfig.Plugin {
  return {
    name: 'ClinicbasePageSizePlugin',
    version: '1.0.0',
    description: `first/last at most ${limits.maxPageSize}, ${limits.defaultPageSize} rows when neither is given`,
    after: ['PgFirstLastBeforeAfterArgsPlugin'],
    schema: {
      hooks: {
        GraphQLObjectType_fields_field(field, _build, context) {
          const plan = field.plan;
          if (!isCollection(context.scope) || !plan) return field;
          return {
            ...field,
            plan(...planArgs) {
              const $collection = plan(...planArgs);
              const [, fieldArgs, info] = planArgs;
              const argNames = new Set(info.field.args.map((arg) => arg.name));
              if (argNames.has('first') && isPageable($collection)) applyPage($collection, fieldArgs, argNames.has('last'), limits);
              return $collection;
            },
          };
        },
        GraphQLObjectType_fields_field_args(args, _build, context) {
          if (!isCollection(context.scope) || !args.first) return args;
          const { first, last } = args;
          // Applied by the field's plan above, checked (applyPage). The arguments' descriptions stay
          // PostGraphile's: the bounds are configuration, and the committed schema does not change with it.
          return { ...args, first: { ...first, applyPlan: undefined }, ...(last ? { last: { ...last, applyPlan: undefined } } : {}) };
        },
      },
    },
  };
}
