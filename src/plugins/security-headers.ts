// Headers for a JSON API that browsers can reach. Nothing it serves is a page to render or frame
// (the docs at /docs have a policy of their own, plugins/api-docs.ts), and nothing under /api/v1
// may be kept by a browser or a shared cache: those responses carry tokens or clinic data, and
// their errors say what a caller may do.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet from 'helmet';

const API_PREFIX = '/api/v1/';

// Built once, at start: @fastify/helmet built helmet's middleware again for every request (its
// options and the policy parsed anew each time), a twentieth of a request's CPU time.
const helmetHeaders = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] },
  },
  frameguard: { action: 'deny' },
  // The deployer's other hosts under the same domain are not ours to pin to HTTPS.
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
});

async function securityHeadersPlugin(app: FastifyInstance): Promise<void> {
  // onRequest and onSend run for every reply, errors and refusals before routing included.
  app.addHook('onRequest', (request, reply, done) => helmetHeaders(request.raw, reply.raw, () => done()));
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith(API_PREFIX)) reply.header('cache-control', 'no-store');
  });
}

export default fp(securityHeadersPlugin, { name: 'security-headers' });
