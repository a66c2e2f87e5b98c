// Headers for a JSON API that browsers can reach. Nothing it serves is a page to render or frame
// (the docs at /docs have a policy of their own, plugins/api-docs.ts), and nothing under /api/v1
// may be kept by a browser or a shared cache: those responses carry tokens or clinic data, and
// their errors say what a caller may do.
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

const API_PREFIX = '/api/v1/';

async function securityHeadersPlugin(app: FastifyInstance): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] },
    },
    frameguard: { action: 'deny' },
    // The deployer's other hosts under the same domain are not ours to pin to HTTPS.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
  });
  // onSend runs for every reply, errors and refusals before routing included.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith(API_PREFIX)) reply.header('cache-control', 'no-store');
  });
}

export default fp(securityHeadersPlugin, { name: 'security-headers' });
