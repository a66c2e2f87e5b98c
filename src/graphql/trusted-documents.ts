// Trusted documents (persisted operations): with GRAPHQL_TRUSTED_DOCUMENTS_DIR set, the server runs
// only the documents in that folder, each in a file `<documentId>.graphql` (by convention the
// SHA-256 of its text, in hex), and a client names one by `documentId`. A free-form `query` is
// refused, so a stolen token cannot explore or run anything the clinic's own clients do not run.
// @grafserv/persisted does the work. The folder is read once, when the server starts (a missing
// folder stops the start): new documents need a restart (docs/operations.md). Reading it here,
// rather than through the package's folder option, keeps its logging out of the way: it writes
// the request's payload (variables included) to stderr for every refusal, and variables may hold
// patient data; refusals here are decided before it sees the request, or are a plain miss.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PersistedPlugin } from '@grafserv/persisted';
import { SafeError } from 'grafast';

export const TRUSTED_DOCUMENT_CODE = 'GRAPHQL_TRUSTED_DOCUMENT_REQUIRED';

const DOCUMENT_FILE = /^([A-Za-z0-9_-]{1,200})\.graphql$/;

/** The persisted operations of the folder, by id (the file's name without `.graphql`). */
export function readTrustedDocuments(directory: string): Record<string, string> {
  const documents: Record<string, string> = Object.create(null);
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch (error) {
    // Fail closed and say why: without its folder the server would run no document at all.
    throw new Error(`GRAPHQL_TRUSTED_DOCUMENTS_DIR: cannot read the folder ${directory} (${(error as { code?: string }).code ?? String(error)})`, {
      cause: error,
    });
  }
  for (const name of names) {
    const id = DOCUMENT_FILE.exec(name)?.[1];
    if (id) documents[id] = readFileSync(path.join(directory, name), 'utf8');
  }
  return documents;
}

const refusal = (message: string, cause?: unknown) => new SafeError(message, { statusCode: 400, code: TRUSTED_DOCUMENT_CODE }, { cause });

/** Refuses a request that names no document, and words the package's refusal of an unknown one. */
const refusals: GraphileConfig.Plugin = {
  name: 'ClinicbaseTrustedDocumentRefusalPlugin',
  version: '1.0.0',
  description: 'Says why a request without a known documentId is refused',
  before: ['PersistedPlugin'],
  grafserv: {
    middleware: {
      async processGraphQLRequestBody(next, event) {
        const { documentId, id, extensions } = event.body;
        const persistedQuery = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery;
        if (documentId === undefined && id === undefined && persistedQuery?.sha256Hash === undefined) {
          throw refusal('This server runs trusted documents only: send the documentId of a persisted operation, not a query.');
        }
        try {
          return await next();
        } catch (error) {
          if (!(error instanceof SafeError)) throw error;
          throw refusal('Unknown documentId: this server runs only the persisted operations it was deployed with.', error);
        }
      },
    },
  },
};

/** The preset part that turns trusted documents on, or nothing when no folder is configured. */
export function trustedDocumentsPreset(directory: string | undefined): GraphileConfig.Preset {
  if (directory === undefined) return {};
  return {
    plugins: [refusals, PersistedPlugin],
    grafserv: { persistedOperations: readTrustedDocuments(directory), allowUnpersistedOperation: false },
  };
}
