// CORS, off unless CORS_ORIGINS names the browser origins allowed to call the API. Tokens travel
// in the Authorization header, never in cookies, so no credentials mode is needed; a request from
// any other origin gets no CORS headers and the browser keeps the answer from the page.
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface CorsOptions {
  /** Exact origins (scheme, host, port); empty: CORS off. */
  origins: string[];
}

async function corsPlugin(app: FastifyInstance, options: CorsOptions): Promise<void> {
  if (options.origins.length === 0) return;
  await app.register(cors, {
    origin: options.origins,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposedHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate'],
    credentials: false,
    maxAge: 600,
  });
}

export default fp(corsPlugin, { name: 'cors' });
