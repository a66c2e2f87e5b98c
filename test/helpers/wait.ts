// Waiting for a state that comes about asynchronously and at no time a test can know (a backend's
// exit after its client hung up, a server noticing a closed socket), without asserting how long it takes.

/** Reads until `done` accepts what `read` gives, every 50 ms; after ten seconds returns the last reading, for the test's assertion to fail on. */
export async function eventually<T>(read: () => T | Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    const value = await read();
    if (done(value) || attempt === 200) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
