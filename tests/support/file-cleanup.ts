type Cleanup = () => Promise<unknown> | unknown;

const cleanups: Cleanup[] = [];

/**
 * Registers clean-up for the current test file. vitest runs no `afterAll`
 * registered from inside a `beforeAll`, so helpers that tests call there
 * (databases, daemons) register here; `setup-file.ts` runs these after the
 * file, newest first, so a daemon stops before its database is dropped.
 */
export function onFileCleanup(cleanup: Cleanup): void {
  cleanups.push(cleanup);
}

export async function runFileCleanups(): Promise<void> {
  const errors: unknown[] = [];
  for (let cleanup = cleanups.pop(); cleanup; cleanup = cleanups.pop()) {
    try {
      await cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length) throw new AggregateError(errors, "test clean-up failed");
}
