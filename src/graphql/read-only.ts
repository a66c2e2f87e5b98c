// Support access reads and never writes (src/auth/guard.ts requirePermission, for REST). A support
// token's mutation is refused here, before anything of it is planned or reaches the database,
// with REST's code and message; the transaction_read_only setting stays the database's own guard.
import { getOperationAST, GraphQLError } from 'graphql';
import type { TenantContext } from '../db/tenant.ts';

export const READ_ONLY_MESSAGE = 'Support access is read-only.';

export function supportReadOnlyPlugin(tenantOf: (requestContext: Partial<Grafast.RequestContext>) => TenantContext | null): GraphileConfig.Plugin {
  return {
    name: 'ClinicbaseSupportReadOnlyPlugin',
    version: '1.0.0',
    description: 'A read-only caller (support access) runs no mutation',
    grafast: {
      middleware: {
        execute(next, event) {
          const { document, operationName, requestContext } = event.args;
          const readOnly = requestContext !== undefined && tenantOf(requestContext)?.readOnly === true;
          if (readOnly && getOperationAST(document, operationName)?.operation === 'mutation') {
            return { errors: [new GraphQLError(READ_ONLY_MESSAGE, { extensions: { code: 'FORBIDDEN' } })] };
          }
          return next();
        },
      },
    },
  };
}
