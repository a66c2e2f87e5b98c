// Server-Sent Events for routes: `reply.eventStream(options?)` answers the request with an event
// stream (src/http/sse.ts) and returns it; the handler then returns `reply`. Every open stream is
// ended before the server stops (preClose): Fastify's close waits for open responses, and a
// display never hangs up by itself, so a shutdown would otherwise wait for ever.
import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { EventStream, type EventStreamOptions } from '../http/sse.ts';

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Answers with an event stream: 200 `text/event-stream`, heartbeats, a bound on what a slow
     * client may hold, cleanup (`stream.onClose`) however it ends, ended when the app closes.
     * Call it once the request has been checked and what the stream starts with has been read.
     */
    eventStream(options?: EventStreamOptions): EventStream;
  }
  interface FastifyInstance {
    /** The event streams open now (the tests count them). */
    readonly openEventStreams: number;
  }
}

async function eventStreamsPlugin(app: FastifyInstance): Promise<void> {
  const open = new Set<EventStream>();
  app.decorateReply('eventStream', function (this: FastifyReply, options?: EventStreamOptions) {
    const stream = new EventStream(this, options);
    open.add(stream);
    stream.onClose(() => open.delete(stream));
    return stream;
  });
  app.decorate('openEventStreams', {
    getter: () => open.size,
  });
  app.addHook('preClose', async () => {
    await Promise.all([...open].map((stream) => stream.close()));
  });
}

export default fp(eventStreamsPlugin, { name: 'event-streams' });
