/** What the benches' entry points share about their command lines. */

/** Bad command-line input: the message is one sentence for the user. */
export class UsageError extends Error {}

/**
 * This process's arguments through `parse`; a `UsageError` prints its message and exits with
 * status 2 (bad usage), anything else is thrown on.
 */
export function parseCommandLine<T>(parse: (argv: readonly string[]) => T): T {
  try {
    return parse(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}
