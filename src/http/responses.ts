// Success answers without a body. Declared like any other response (a 204 is not a 200 with nothing
// in it), so the OpenAPI document says exactly what a route answers: a status and no content. The
// handler sends nothing (`reply.code(204).send()`), and Fastify writes no body and no content type.
import { z } from 'zod';

/** 204: done, nothing to return. */
export const noContent = z.undefined().describe('Done; no body.');

/** 202: taken in; what follows goes out of band. */
export const accepted = z.undefined().describe('Accepted; no body. What follows goes to the e-mail address, if it has an account.');
