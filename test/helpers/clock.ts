/**
 * Waits for the next whole second. Tokens carry their issue time in whole seconds, and ending
 * sessions refuses tokens issued in an earlier second: a test that ends sessions right after
 * issuing a token starts a fresh second first.
 */
export const nextSecond = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
