// Trusted documents (persisted operations): with GRAPHQL_TRUSTED_DOCUMENTS_DIR set, the server runs
// only the documents in that folder, each in a file `<documentId>.graphql` (by convention the
// SHA-256 of its text, in hex), and a client names one by `documentId`. A free-form `query` is
// refused, so a stolen token cannot explore or run anything the clinic's own clients do not run.
// @grafserv/persisted does the work; the plugin here only words its refusals and gives them a code.
// The folder is read when the server starts: new documents need a restart (docs/operations.md).
import { PersistedPlugin } from '@grafserv/persisted';
import { SafeError } from 'grafast';

export const TRUSTED_DOCUMENT_CODE = 'GRAPHQL_TRUSTED_DOCUMENT_REQUIRED';

/** Wraps @grafserv/persisted's refusal (a SafeError, answered 400) in a message that says what to send. */
const refusalWording: GraphileConfig.Plugin = {
  name: 'ClinicbaseTrustedDocumentRefusalPlugin',
  version: '1.0.0',
  description: 'Says why a request without a known documentId is refused',
  before: ['PersistedPlugin'],
  grafserv: {
    middleware: {
      async processGraphQLRequestBody(next, event) {
        try {
          return await next();
        } catch (error) {
          if (!(error instanceof SafeError)) throw error;
          const { documentId, id } = event.body;
          const message =
            documentId === undefined && id === undefined
              ? 'This server runs trusted documents only: send the documentId of a persisted operation, not a query.'
              : 'Unknown documentId: this server runs only the persisted operations it was deployed with.';
          throw new SafeError(message, { statusCode: 400, code: TRUSTED_DOCUMENT_CODE }, { cause: error });
        }
      },
    },
  },
};

/** The preset part that turns trusted documents on, or nothing when no folder is configured. */
export function trustedDocumentsPreset(directory: string | undefined): GraphileConfig.Preset {
  if (directory === undefined) return {};
  return {
    plugins: [refusalWording, PersistedPlugin],
    grafserv: { persistedOperationsDirectory: directory, allowUnpersistedOperation: false },
  };
}
